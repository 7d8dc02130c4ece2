use super::*;

/// What a test looks at: length, `HEAD`, target, host, request ID.
type Seen = (usize, bool, String, Option<String>, Option<String>);

fn plain(raw: &[u8]) -> Option<Seen> {
    let mut headers = header_room();
    match parse(raw, &mut headers) {
        Parsed::Plain(h) => Some((
            h.len,
            h.head_only,
            h.target.to_string(),
            h.host.map(str::to_string),
            h.request_id.map(|v| String::from_utf8_lossy(v).into_owned()),
        )),
        _ => None,
    }
}

#[test]
fn a_plain_get_is_read_with_its_target_and_host() {
    let raw = b"GET /products?page=2 HTTP/1.1\r\nHost: shop.example\r\nAccept: */*\r\n\r\nGET /next";
    let (len, head_only, target, host, id) = plain(raw).expect("plain");
    assert_eq!(len, raw.len() - "GET /next".len());
    assert!(!head_only);
    assert_eq!(target, "/products?page=2");
    assert_eq!(host.as_deref(), Some("shop.example"));
    assert_eq!(id, None);
}

#[test]
fn a_head_and_a_sane_request_id_are_kept() {
    let raw = b"HEAD / HTTP/1.1\r\nhost: a\r\nconnection: Keep-Alive\r\nX-Request-Id: abc-1\r\n\r\n";
    let (_, head_only, _, _, id) = plain(raw).expect("plain");
    assert!(head_only);
    assert_eq!(id.as_deref(), Some("abc-1"));
    let raw = b"GET / HTTP/1.1\r\nhost: a\r\nX-Request-Id: has space\r\n\r\n";
    assert_eq!(plain(raw).expect("plain").4, None);
}

#[test]
fn only_whole_heads_are_read() {
    let mut headers = header_room();
    assert!(matches!(parse(b"GET / HTTP/1.1\r\nHost: a\r\n", &mut headers), Parsed::Partial));
}

#[test]
fn everything_else_is_left_to_hyper() {
    let others: &[&[u8]] = &[
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi",
        b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"GET / HTTP/1.0\r\nHost: a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, x-foo\r\n\r\n",
        b"GET /chat HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nTE: trailers\r\n\r\n",
        b"GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET /a\"b HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n",
        b"get / HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nX-Folded: a\r\n b\r\n\r\n",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    ];
    for raw in others {
        assert!(plain(raw).is_none(), "{}", String::from_utf8_lossy(raw));
    }
}

#[test]
fn host_is_known_only_when_sent_once() {
    let raw = b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n";
    let mut headers = header_room();
    let Parsed::Plain(head) = parse(raw, &mut headers) else { panic!("plain") };
    assert_eq!((head.hosts, head.host), (2, None));
}

#[test]
fn the_first_forwarded_for_is_the_chain_to_extend() {
    let raw = b"GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 10.0.0.1 \r\nX-Forwarded-For: 10.0.0.2\r\n\r\n";
    let mut headers = header_room();
    let Parsed::Plain(head) = parse(raw, &mut headers) else { panic!("plain") };
    assert_eq!(head.forwarded_for, Some("10.0.0.1"));
}
