use super::*;

#[test]
fn services_skip_consul_and_tolerate_null_tags() {
    let s = decode_services(br#"{"consul":[],"web":["portico.route=/web"],"db":null}"#).expect("decodes");
    assert_eq!(s.len(), 2);
    assert_eq!(s["web"], vec!["portico.route=/web"]);
    assert!(s["db"].is_empty());
}

#[test]
fn health_entries_get_defaults() {
    let body = br#"[
      {"Node":{"Node":"n1","Address":"10.0.0.9"},
       "Service":{"ID":"web-2","Service":"web","Address":"","Port":0},
       "Checks":[]},
      {"Node":{"Address":"10.0.0.9"},
       "Service":{"ID":"web-1","Address":"127.0.0.1","Port":8081,
                  "Weights":{"Passing":10,"Warning":1},"Meta":{"v":"1"},"Extra":true}}
    ]"#;
    let i = decode_health(body).expect("decodes");
    assert_eq!(i.len(), 2);
    assert_eq!(i[0].id, "web-1", "sorted by ID");
    assert_eq!(i[0].authority(), "127.0.0.1:8081");
    assert_eq!(i[0].weight, 10);
    assert_eq!(i[0].meta["v"], "1");
    assert_eq!(i[1].address, "10.0.0.9", "node address when the service has none");
    assert_eq!(i[1].port, 80);
    assert_eq!(i[1].weight, 1);
}

#[test]
fn unusable_entries_are_skipped() {
    let i = decode_health(br#"[{"Service":{"ID":"","Port":1}},{"Service":{"ID":"x","Port":1}},{}]"#).expect("decodes");
    assert!(i.is_empty());
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    for body in [&b"not json"[..], b"{}", b"[1,2]", b"", b"\xff\xfe"] {
        assert!(decode_health(body).is_err(), "{body:?}");
    }
    assert!(decode_services(b"[]").is_err());
}

#[test]
fn ipv6_addresses_are_bracketed() {
    let i = Instance { id: "a".into(), address: "::1".into(), port: 80, weight: 1, meta: Default::default() };
    assert_eq!(i.authority(), "[::1]:80");
}
