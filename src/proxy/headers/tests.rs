use super::*;

fn map(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(*k, HeaderValue::from_static(v));
    }
    h
}

#[test]
fn hop_by_hop_headers_are_removed() {
    let mut h = map(&[
        ("connection", "keep-alive, x-secret"),
        ("keep-alive", "timeout=5"),
        ("x-secret", "s"),
        ("te", "trailers"),
        ("transfer-encoding", "chunked"),
        ("accept", "*/*"),
        ("trailer", "x-checksum"),
    ]);
    strip_hop_by_hop(&mut h, false);
    assert_eq!(h.len(), 2, "{h:?}");
    assert!(h.contains_key("accept"));
    assert_eq!(h["trailer"], "x-checksum", "end to end: it names the trailers an HTTP/1.1 client gets");
}

#[test]
fn an_upgrade_handshake_survives_when_asked() {
    let mut h = map(&[("connection", "Upgrade"), ("upgrade", "websocket"), ("sec-websocket-key", "k")]);
    assert!(wants_upgrade(&h));
    strip_hop_by_hop(&mut h, true);
    assert_eq!(h["upgrade"], "websocket");
    assert_eq!(h["connection"], "upgrade");
    assert_eq!(h["sec-websocket-key"], "k");
}

#[test]
fn upgrade_without_connection_token_is_not_an_upgrade() {
    assert!(!wants_upgrade(&map(&[("upgrade", "websocket")])));
}

#[test]
fn forwarded_for_is_appended() {
    let mut h = map(&[("x-forwarded-for", "203.0.113.7")]);
    set_forwarded(&mut h, "10.1.2.3".parse().expect("ip"), "http", Some(&HeaderValue::from_static("shop.example")));
    assert_eq!(h["x-forwarded-for"], "203.0.113.7, 10.1.2.3");
    assert_eq!(h["x-forwarded-proto"], "http");
    assert_eq!(h["x-forwarded-host"], "shop.example");
}

#[test]
fn a_forwarded_for_chain_that_is_blank_or_not_text_is_replaced() {
    let ip = "10.1.2.3".parse().expect("ip");
    let mut blank = map(&[("x-forwarded-for", "  ")]);
    set_forwarded(&mut blank, ip, "http", None);
    assert_eq!(blank["x-forwarded-for"], "10.1.2.3");
    let mut garbled = HeaderMap::new();
    garbled.insert("x-forwarded-for", HeaderValue::from_bytes(b"1.2.3.4\xff").expect("obs-text is a valid value"));
    set_forwarded(&mut garbled, ip, "http", None);
    assert_eq!(garbled["x-forwarded-for"], "10.1.2.3");
}

#[test]
fn request_ids_are_kept_or_made() {
    let ids = RequestIds::default();
    let mut given = map(&[("x-request-id", "abc-123")]);
    assert_eq!(ids.ensure(&mut given), "abc-123");
    let mut none = HeaderMap::new();
    let a = ids.ensure(&mut none);
    let b = ids.ensure(&mut HeaderMap::new());
    assert_ne!(a, b);
    assert_eq!(none["x-request-id"], a);
    let mut bad = HeaderMap::new();
    bad.insert("x-request-id", HeaderValue::from_static(""));
    assert_ne!(ids.ensure(&mut bad), "");
}

#[test]
fn the_https_redirect_keeps_the_host_and_refuses_one_the_gateway_would_refuse() {
    let request = |host: &str| http::Request::get("/shop?x=1").header("host", host).body(()).expect("request");
    let moved = redirect_to_https(&request("shop.example:8080"), 8443);
    assert_eq!(moved.status(), http::StatusCode::PERMANENT_REDIRECT);
    assert_eq!(moved.headers()["location"], "https://shop.example:8443/shop?x=1");
    for bad in ["user@evil.example", "evil.example/x", "a b"] {
        let refused = redirect_to_https(&request(bad), 8443);
        assert_eq!(refused.status(), http::StatusCode::BAD_REQUEST, "{bad}");
        assert!(!refused.headers().contains_key("location"), "{bad}");
    }
}

#[test]
fn addresses_are_written_as_std_writes_them() {
    for text in ["0.0.0.0", "10.1.2.3", "127.0.0.1", "192.168.100.9", "255.255.255.255", "::1", "::ffff:10.0.0.1"] {
        let mut out = BytesMut::new();
        push_ip(&mut out, text.parse().expect("ip"));
        assert_eq!(&out[..], text.as_bytes());
    }
}

#[test]
fn generated_request_ids_are_the_prefix_and_the_counter_in_hex() {
    let ids = RequestIds { prefix: 0xab, counter: AtomicU64::new(0x1f) };
    assert_eq!(ids.ensure(&mut HeaderMap::new()), "000000ab-00000000001f");
    let big = RequestIds { prefix: u32::MAX, counter: AtomicU64::new(1 << 60) };
    assert_eq!(big.ensure(&mut HeaderMap::new()), "ffffffff-1000000000000000");
}

#[test]
fn connection_names_only_what_is_removed() {
    let mut h =
        map(&[("connection", "close, X-Trace, keep-alive"), ("x-trace", "1"), ("accept", "*/*"), ("close", "c")]);
    strip_hop_by_hop(&mut h, false);
    assert_eq!(h.len(), 1, "{h:?}");
    assert!(h.contains_key("accept"));
    let mut only = map(&[("connection", "keep-alive"), ("content-length", "2")]);
    strip_hop_by_hop(&mut only, false);
    assert_eq!(only.len(), 1, "{only:?}");
}

#[test]
fn every_hop_by_hop_name_is_found_by_its_length() {
    for (i, name) in HOP_BY_HOP.iter().enumerate() {
        assert_eq!(hop_by_hop_index(name.as_str()), Some(i), "{name}");
    }
    assert_eq!(hop_by_hop_index("content-length"), None);
    assert_eq!(hop_by_hop_index("keep-alivf"), None);
}
