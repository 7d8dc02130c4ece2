use super::*;

#[test]
fn patterns_parse_to_one_lower_case_form() {
    assert_eq!(HostPattern::parse(""), Ok(HostPattern::Any));
    assert_eq!(HostPattern::parse("Shop.Example.COM."), Ok(HostPattern::Exact("shop.example.com".into())));
    assert_eq!(HostPattern::parse("*.example.com"), Ok(HostPattern::Wildcard("example.com".into())));
    for bad in ["shop.example.com:8080", "http://x", "*", "a..b", "*.*.b", "sp ace", "x/y"] {
        assert!(HostPattern::parse(bad).is_err(), "{bad} should be refused");
    }
}

#[test]
fn wildcards_need_one_more_label() {
    let wild = HostPattern::parse("*.example.com").unwrap();
    assert!(wild.matches(Some("a.example.com")));
    assert!(wild.matches(Some("a.b.example.com")));
    assert!(!wild.matches(Some("example.com")));
    assert!(!wild.matches(Some("badexample.com")));
    assert!(!wild.matches(None));
    assert!(HostPattern::Any.matches(None));
}

#[test]
fn request_hosts_lose_port_case_and_trailing_dot() {
    assert_eq!(request_host("Shop.Example.com:8080"), "shop.example.com");
    assert_eq!(request_host("shop.example.com."), "shop.example.com");
    assert_eq!(request_host("[::1]:8080"), "[::1]");
    assert_eq!(request_host("[::1]"), "[::1]");
    assert!(matches!(request_host("plain.host"), Cow::Borrowed(_)));
}

#[test]
fn parents_are_tried_most_specific_first() {
    let all: Vec<&str> = parent_domains("a.b.example.com").collect();
    assert_eq!(all, ["b.example.com", "example.com", "com"]);
    assert_eq!(parent_domains("localhost").count(), 0);
}
