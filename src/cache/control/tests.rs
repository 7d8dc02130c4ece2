use super::*;

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(http::HeaderName::from_bytes(k.as_bytes()).expect("name"), v.parse().expect("value"));
    }
    h
}

fn ttl(pairs: &[(&str, &str)]) -> Option<u64> {
    freshness(StatusCode::OK, &headers(pairs), false, Duration::ZERO).map(|f| f.ttl.as_secs())
}

#[test]
fn max_age_s_maxage_and_expires_set_the_ttl_in_that_order() {
    assert_eq!(ttl(&[("cache-control", "max-age=60")]), Some(60));
    assert_eq!(ttl(&[("cache-control", "max-age=60, s-maxage=10")]), Some(10));
    let date = "Thu, 26 Nov 2026 10:00:00 GMT";
    assert_eq!(ttl(&[("date", date), ("expires", "Thu, 26 Nov 2026 10:05:00 GMT")]), Some(300));
    assert_eq!(ttl(&[("date", date), ("expires", "0")]), None, "an invalid Expires means stale");
    assert_eq!(ttl(&[("cache-control", "max-age=60"), ("age", "50")]), Some(10), "upstream Age is subtracted");
    assert_eq!(ttl(&[]), None, "no freshness and no route default: not stored");
}

#[test]
fn no_store_private_no_cache_set_cookie_and_vary_star_are_never_stored() {
    for h in [
        [("cache-control", "no-store, max-age=60")],
        [("cache-control", "private, max-age=60")],
        [("cache-control", "no-cache")],
        [("vary", "*")],
        [("set-cookie", "session=1")],
    ] {
        let mut list = h.to_vec();
        list.push(("cache-control", "max-age=60"));
        assert_eq!(ttl(&list), None, "{h:?}");
    }
}

#[test]
fn the_route_default_applies_only_when_the_response_names_no_freshness() {
    let default = Duration::from_secs(30);
    let none = freshness(StatusCode::OK, &HeaderMap::new(), false, default).map(|f| f.ttl.as_secs());
    assert_eq!(none, Some(30));
    let stated = freshness(StatusCode::OK, &headers(&[("cache-control", "max-age=5")]), false, default);
    assert_eq!(stated.map(|f| f.ttl.as_secs()), Some(5));
    let error = freshness(StatusCode::INTERNAL_SERVER_ERROR, &HeaderMap::new(), false, default);
    assert_eq!(error, None, "a 500 is never stored");
}

#[test]
fn answers_to_requests_with_credentials_are_stored_only_when_public() {
    let private = freshness(StatusCode::OK, &headers(&[("cache-control", "max-age=60")]), true, Duration::ZERO);
    assert_eq!(private, None);
    let public = freshness(StatusCode::OK, &headers(&[("cache-control", "public, max-age=60")]), true, Duration::ZERO);
    assert_eq!(public, Some(Freshness { ttl: Duration::from_secs(60), public: true }));
}

#[test]
fn request_directives_bypass_or_revalidate() {
    assert!(request_rules(&headers(&[("cache-control", "no-store")])).bypass);
    assert!(request_rules(&headers(&[("cache-control", "no-cache")])).revalidate);
    assert!(request_rules(&headers(&[("cache-control", "max-age=0")])).revalidate);
    assert!(request_rules(&headers(&[("pragma", "no-cache")])).revalidate);
    assert_eq!(request_rules(&HeaderMap::new()), RequestRules::default());
}
