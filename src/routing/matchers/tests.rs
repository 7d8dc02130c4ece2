use super::*;

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    pairs
        .iter()
        .map(|(k, v)| (HeaderName::from_bytes(k.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap()))
        .collect()
}

#[test]
fn methods_and_headers_must_all_hold() {
    let mut m = Matchers::default();
    m.add("method:get,POST").unwrap();
    m.add("header:X-Canary=1").unwrap();
    assert!(m.accept(&Method::GET, &headers(&[("x-canary", "1")])));
    assert!(!m.accept(&Method::PUT, &headers(&[("x-canary", "1")])));
    assert!(!m.accept(&Method::GET, &headers(&[("x-canary", "2")])));
    assert_eq!(m.mismatch(&Method::GET, &headers(&[])), Some(Mismatch::HeaderMissing("x-canary".into())));
    assert_eq!(m.to_string(), "method:GET,POST header:x-canary=1");
    assert_eq!(m.count(), 2);
}

#[test]
fn presence_accepts_any_value() {
    let mut m = Matchers::default();
    m.add("header:X-Debug").unwrap();
    assert!(m.accept(&Method::GET, &headers(&[("x-debug", "")])));
    assert!(!m.accept(&Method::GET, &headers(&[])));
}

#[test]
fn bad_specs_are_refused() {
    let mut m = Matchers::default();
    for bad in ["method:", "method:G E T", "header:", "header:bad name=1", "cookie:x", "GET"] {
        assert!(m.add(bad).is_err(), "{bad}");
    }
    assert!(m.is_empty());
}
