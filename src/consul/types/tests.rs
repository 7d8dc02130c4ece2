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
    let i = Instance {
        id: "a".into(),
        node: "n1".into(),
        address: "::1".into(),
        port: 80,
        weight: 1,
        meta: Default::default(),
        tags: Vec::new(),
    };
    assert_eq!(i.authority(), "[::1]:80");
}

mod fuzz {
    //! Property tests standing in for cargo-fuzz: whatever Consul (or a proxy
    //! in front of it) sends, decoding returns a value or an error, never panics.
    use super::*;
    use proptest::prelude::*;

    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<f64>().prop_map(|f| serde_json::json!(f)),
            ".{0,12}".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
                proptest::collection::btree_map(
                    "(ID|Address|Port|Weights|Passing|Meta|Service|Node|[a-z]{1,6})",
                    inner,
                    0..6
                )
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode_health(&bytes);
            let _ = decode_services(&bytes);
        }

        #[test]
        fn arbitrary_json_never_panics(value in json_value()) {
            let bytes = serde_json::to_vec(&value).expect("serializable");
            let _ = decode_services(&bytes);
            if let Ok(instances) = decode_health(&bytes) {
                for i in instances {
                    prop_assert!(!i.id.is_empty() && !i.address.is_empty() && i.port > 0 && i.weight > 0);
                }
            }
            let wrapped = serde_json::to_vec(&serde_json::json!([{"Service": value.clone(), "Node": value}])).expect("json");
            let _ = decode_health(&wrapped);
        }
    }
}

#[test]
fn one_service_id_on_two_nodes_is_two_instances() {
    let body = br#"[
        {"Node": {"Node": "node-b", "Address": "10.0.0.2"}, "Service": {"ID": "web", "Port": 8080}},
        {"Node": {"Node": "node-a", "Address": "10.0.0.1"}, "Service": {"ID": "web", "Port": 8080}},
        {"Node": {"Node": "node-a", "Address": "10.0.0.1"}, "Service": {"ID": "web", "Port": 8080}}
    ]"#;
    let instances = decode_health(body).expect("valid");
    let keys: Vec<String> = instances.iter().map(Instance::key).collect();
    assert_eq!(keys, ["node-a/web", "node-b/web"], "kept apart by node, duplicates within a node folded");
    assert_eq!(split_instance_key("node-a/web/v2"), ("node-a", "web/v2"));
}
