use super::*;

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(http::HeaderName::from_bytes(k.as_bytes()).expect("name"), v.parse().expect("value"));
    }
    h
}

fn instant() -> Exchanged {
    Exchanged { took: Duration::ZERO, received: SystemTime::now() }
}

fn fresh_for(status: StatusCode, pairs: &[(&str, &str)], route: RoutePolicy) -> Option<u64> {
    let f = freshness(status, &headers(pairs), false, route, instant())?;
    Some(f.lifetime.saturating_sub(f.initial_age).as_secs())
}

fn ttl(pairs: &[(&str, &str)]) -> Option<u64> {
    fresh_for(StatusCode::OK, pairs, RoutePolicy::default())
}

#[test]
fn max_age_s_maxage_and_expires_set_the_lifetime_in_that_order() {
    assert_eq!(ttl(&[("cache-control", "max-age=60")]), Some(60));
    assert_eq!(ttl(&[("cache-control", "max-age=60, s-maxage=10")]), Some(10));
    let date = httpdate::fmt_http_date(SystemTime::now());
    let later = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(300));
    assert!(matches!(ttl(&[("date", &date), ("expires", &later)]), Some(299..=300)));
    assert_eq!(ttl(&[("date", &date), ("expires", "0")]), None, "an invalid Expires means stale");
    assert_eq!(ttl(&[]), None, "no freshness and no route default: not stored");
}

#[test]
fn the_age_the_instance_sent_and_the_time_in_transit_count() {
    assert_eq!(ttl(&[("cache-control", "max-age=60"), ("age", "50")]), Some(10));
    let slow = Exchanged { took: Duration::from_secs(5), received: SystemTime::now() };
    let f = freshness(
        StatusCode::OK,
        &headers(&[("cache-control", "max-age=60"), ("age", "10")]),
        false,
        RoutePolicy::default(),
        slow,
    );
    assert_eq!(f.map(|f| f.initial_age), Some(Duration::from_secs(15)), "Age plus the response delay");
    let dated = httpdate::fmt_http_date(SystemTime::now() - Duration::from_secs(40));
    let f = freshness(
        StatusCode::OK,
        &headers(&[("cache-control", "max-age=60"), ("date", &dated)]),
        false,
        RoutePolicy::default(),
        instant(),
    );
    assert!(f.is_some_and(|f| (39..=41).contains(&f.initial_age.as_secs())), "the apparent age from Date: {f:?}");
}

#[test]
fn a_malformed_age_makes_the_response_stale_from_the_start() {
    let h = headers(&[("cache-control", "max-age=60"), ("age", "old, 0")]);
    assert_eq!(freshness(StatusCode::OK, &h, false, RoutePolicy::default(), instant()), None, "stale, no validator");
    let h = headers(&[("cache-control", "max-age=60"), ("age", "old, 0"), ("etag", "\"v1\"")]);
    let f = freshness(StatusCode::OK, &h, false, RoutePolicy::default(), instant()).expect("kept for revalidation");
    assert_eq!(f.initial_age, Duration::MAX);
}

#[test]
fn no_store_private_set_cookie_and_vary_star_are_never_stored() {
    for h in [
        [("cache-control", "no-store, max-age=60")],
        [("cache-control", "private, max-age=60")],
        [("vary", "*")],
        [("set-cookie", "session=1")],
    ] {
        let mut list = h.to_vec();
        list.push(("cache-control", "max-age=60"));
        assert_eq!(ttl(&list), None, "{h:?}");
    }
}

#[test]
fn no_cache_is_stored_only_with_a_validator_and_always_revalidated() {
    assert_eq!(ttl(&[("cache-control", "no-cache, max-age=60")]), None);
    let f = freshness(
        StatusCode::OK,
        &headers(&[("cache-control", "no-cache"), ("etag", "\"a\"")]),
        false,
        RoutePolicy::default(),
        instant(),
    );
    assert_eq!(f.map(|f| f.lifetime), Some(Duration::ZERO));
}

#[test]
fn heuristic_freshness_only_for_the_statuses_that_allow_it() {
    let route = RoutePolicy { default_ttl: Duration::from_secs(30), ..RoutePolicy::default() };
    assert_eq!(fresh_for(StatusCode::OK, &[], route), Some(30));
    assert_eq!(fresh_for(StatusCode::NOT_FOUND, &[], route), Some(30));
    assert_eq!(fresh_for(StatusCode::FOUND, &[], route), None, "302 is not heuristically cacheable");
    assert_eq!(
        fresh_for(StatusCode::FOUND, &[("cache-control", "max-age=5")], route),
        Some(5),
        "but explicit freshness stores it"
    );
    assert_eq!(fresh_for(StatusCode::INTERNAL_SERVER_ERROR, &[], route), None);
    assert_eq!(fresh_for(StatusCode::PARTIAL_CONTENT, &[("cache-control", "max-age=5")], route), None);
    assert_eq!(fresh_for(StatusCode::OK, &[("cache-control", "max-age=5")], route), Some(5));
}

#[test]
fn portico_cache_control_then_cdn_cache_control_take_precedence() {
    let both = [("cache-control", "no-store"), ("cdn-cache-control", "max-age=20")];
    assert_eq!(ttl(&both), Some(20), "CDN-Cache-Control speaks to a shared cache");
    let three =
        [("cache-control", "max-age=5"), ("cdn-cache-control", "no-store"), ("portico-cache-control", "max-age=90")];
    assert_eq!(ttl(&three), Some(90));
    let mut h = headers(&three);
    strip_targeted(&mut h);
    assert!(!h.contains_key("cdn-cache-control") && !h.contains_key("portico-cache-control"));
    assert_eq!(h["cache-control"], "max-age=5", "the client still gets Cache-Control");
}

#[test]
fn stale_directives_and_must_revalidate() {
    let h = headers(&[("cache-control", "max-age=1, stale-while-revalidate=30, stale-if-error=600")]);
    let f = freshness(StatusCode::OK, &h, false, RoutePolicy::default(), instant()).expect("stored");
    assert_eq!(f.stale.while_revalidate, Duration::from_secs(30));
    assert_eq!(f.stale.if_error, Duration::from_secs(600));
    let route = RoutePolicy { stale_if_error: Duration::from_secs(60), ..RoutePolicy::default() };
    let f = freshness(StatusCode::OK, &headers(&[("cache-control", "max-age=1")]), false, route, instant());
    assert_eq!(f.map(|f| f.stale.if_error), Some(Duration::from_secs(60)), "the route's default");
    let strict = headers(&[("cache-control", "max-age=1, must-revalidate, stale-if-error=600")]);
    let f = freshness(StatusCode::OK, &strict, false, route, instant()).expect("stored");
    assert!(f.stale.must_revalidate && f.stale.if_error.is_zero(), "never served stale");
    let proxy = headers(&[("cache-control", "max-age=1, proxy-revalidate, stale-while-revalidate=9")]);
    let f = freshness(StatusCode::OK, &proxy, false, route, instant()).expect("stored");
    assert!(f.stale.while_revalidate.is_zero());
}

#[test]
fn answers_to_requests_with_credentials_are_stored_only_when_public() {
    let h = headers(&[("cache-control", "max-age=60")]);
    assert_eq!(freshness(StatusCode::OK, &h, true, RoutePolicy::default(), instant()), None);
    let h = headers(&[("cache-control", "public, max-age=60")]);
    assert!(freshness(StatusCode::OK, &h, true, RoutePolicy::default(), instant()).is_some_and(|f| f.public));
}

#[test]
fn request_directives_bypass_or_revalidate() {
    assert!(request_rules(&headers(&[("cache-control", "no-store")])).bypass);
    assert!(request_rules(&headers(&[("cache-control", "no-cache")])).revalidate);
    assert!(request_rules(&headers(&[("cache-control", "max-age=0")])).revalidate);
    assert!(request_rules(&headers(&[("pragma", "no-cache")])).revalidate);
    assert_eq!(request_rules(&HeaderMap::new()), RequestRules::default());
}
