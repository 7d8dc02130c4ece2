use super::*;

fn map(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    pairs.iter().map(|(k, v)| (HeaderName::from_static(k), HeaderValue::from_static(v))).collect()
}

#[test]
fn removes_then_sets_then_adds_whatever_the_order() {
    let mut rules = HeaderRules::default();
    rules.add("add:X-Tag=b").unwrap();
    rules.add("set:X-Tag=a").unwrap();
    rules.add("remove:Server").unwrap();
    let mut headers = map(&[("x-tag", "old"), ("x-tag", "older"), ("server", "leaky/1.0")]);
    rules.apply(&mut headers);
    let tags: Vec<&str> = headers.get_all("x-tag").iter().map(|v| v.to_str().unwrap()).collect();
    assert_eq!(tags, ["a", "b"]);
    assert!(!headers.contains_key("server"));
    assert_eq!(rules.describe(), ["remove:server", "set:x-tag=a", "add:x-tag=b"]);
}

#[test]
fn framing_headers_and_bad_specs_are_refused() {
    let mut rules = HeaderRules::default();
    for bad in ["set:Content-Length=1", "remove:Transfer-Encoding", "set:Host=x", "set:X", "drop:X", "add:bad name=1"] {
        assert!(rules.add(bad).is_err(), "{bad}");
    }
    assert!(rules.is_empty());
}
