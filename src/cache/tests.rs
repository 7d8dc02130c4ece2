use std::time::Duration;

use super::*;

fn key(route: &str, target: &str) -> CacheKey {
    CacheKey { route: route.into(), host: "shop".into(), target: target.into() }
}

fn stored(body: &str, ttl: u64, vary: &[(&str, Option<&str>)]) -> Arc<Stored> {
    stored_with(body, ttl, HeaderMap::new(), control::StaleRules::default(), vary)
}

fn stored_with(
    body: &str,
    ttl: u64,
    headers: HeaderMap,
    stale: control::StaleRules,
    vary: &[(&str, Option<&str>)],
) -> Arc<Stored> {
    Arc::new(Stored {
        targeted: false,
        status: StatusCode::OK,
        headers,
        body: Bytes::from(body.to_string()),
        stored_at: Instant::now(),
        freshness: Freshness { lifetime: Duration::from_secs(ttl), initial_age: Duration::ZERO, public: false, stale },
        vary: vary
            .iter()
            .map(|(n, v)| (HeaderName::from_bytes(n.as_bytes()).expect("n"), v.map(|v| v.parse().expect("v"))))
            .collect(),
    })
}

fn request(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.insert(HeaderName::from_bytes(k.as_bytes()).expect("n"), v.parse().expect("v"));
    }
    h
}

#[tokio::test(start_paused = true)]
async fn an_entry_is_fresh_until_its_lifetime_passes_on_the_paused_clock() {
    let cache = ResponseCache::new(CacheSettings::default());
    cache.insert(key("/p", "/p"), stored("list", 30, &[])).await;
    let fresh = |s: Option<Arc<Stored>>| s.is_some_and(|s| s.fresh(Instant::now()));
    assert!(fresh(cache.lookup(&key("/p", "/p"), &HeaderMap::new(), false).await));
    tokio::time::advance(Duration::from_secs(29)).await;
    assert!(fresh(cache.lookup(&key("/p", "/p"), &HeaderMap::new(), false).await));
    tokio::time::advance(Duration::from_secs(1)).await;
    assert!(!fresh(cache.lookup(&key("/p", "/p"), &HeaderMap::new(), false).await), "stale at 30 s");
}

#[tokio::test(start_paused = true)]
async fn age_grows_from_the_age_it_arrived_with() {
    let mut entry = Arc::try_unwrap(stored("x", 100, &[])).expect("sole owner");
    entry.freshness.initial_age = Duration::from_secs(40);
    tokio::time::advance(Duration::from_secs(25)).await;
    assert_eq!(entry.age_secs(), 65);
    assert!(entry.fresh(Instant::now()));
    tokio::time::advance(Duration::from_secs(35)).await;
    assert!(!entry.fresh(Instant::now()), "100 s of lifetime used: 40 before, 60 here");
}

#[tokio::test(start_paused = true)]
async fn stale_windows_are_measured_from_the_end_of_freshness() {
    let stale = control::StaleRules {
        must_revalidate: false,
        while_revalidate: Duration::from_secs(10),
        if_error: Duration::from_secs(60),
    };
    let entry = stored_with("x", 30, HeaderMap::new(), stale, &[]);
    tokio::time::advance(Duration::from_secs(35)).await;
    let now = Instant::now();
    assert!(!entry.fresh(now) && entry.stale_while_revalidate(now) && entry.stale_if_error(now));
    tokio::time::advance(Duration::from_secs(10)).await;
    let now = Instant::now();
    assert!(!entry.stale_while_revalidate(now) && entry.stale_if_error(now));
    tokio::time::advance(Duration::from_secs(50)).await;
    assert!(!entry.stale_if_error(Instant::now()));
}

#[tokio::test(start_paused = true)]
async fn a_stale_entry_is_kept_while_it_can_be_revalidated() {
    let cache = ResponseCache::new(CacheSettings::default());
    let mut etag = HeaderMap::new();
    etag.insert(header::ETAG, HeaderValue::from_static("\"v1\""));
    cache.insert(key("/p", "/tagged"), stored_with("x", 1, etag, control::StaleRules::default(), &[])).await;
    cache.insert(key("/p", "/plain"), stored("x", 1, &[])).await;
    tokio::time::advance(Duration::from_secs(5)).await;
    let tagged = cache.lookup(&key("/p", "/tagged"), &HeaderMap::new(), false).await;
    assert!(tagged.is_some_and(|s| !s.fresh(Instant::now()) && s.revalidatable()));
    cache.invalidate(&key("/p", "/tagged")).await;
    assert!(cache.lookup(&key("/p", "/tagged"), &HeaderMap::new(), false).await.is_none(), "invalidated");
}

#[tokio::test]
async fn variants_are_kept_apart_by_their_vary_headers() {
    let cache = ResponseCache::new(CacheSettings::default());
    let k = key("/p", "/p");
    cache.insert(k.clone(), stored("gzip", 60, &[("accept-encoding", Some("gzip"))])).await;
    cache.insert(k.clone(), stored("plain", 60, &[("accept-encoding", None)])).await;
    let gz = cache.lookup(&k, &request(&[("accept-encoding", "gzip")]), false).await.expect("gzip variant");
    assert_eq!(gz.body, "gzip");
    let plain = cache.lookup(&k, &HeaderMap::new(), false).await.expect("plain variant");
    assert_eq!(plain.body, "plain");
    assert!(cache.lookup(&k, &request(&[("accept-encoding", "br")]), false).await.is_none());
}

#[tokio::test]
async fn a_private_entry_never_answers_a_request_with_credentials() {
    let cache = ResponseCache::new(CacheSettings::default());
    cache.insert(key("/p", "/p"), stored("anon", 60, &[])).await;
    assert!(cache.lookup(&key("/p", "/p"), &HeaderMap::new(), true).await.is_none());
}

#[tokio::test]
async fn purge_removes_a_route_or_one_target() {
    let cache = ResponseCache::new(CacheSettings::default());
    for (route, target) in [("/a", "/a/1"), ("/a", "/a/2"), ("/b", "/b/1")] {
        cache.insert(key(route, target), stored("x", 60, &[])).await;
    }
    cache.usage().await;
    assert_eq!(cache.purge(|k| &*k.target == "/a/2").await, 1);
    assert_eq!(cache.purge(|k| &*k.route == "/a").await, 1);
    assert!(cache.lookup(&key("/b", "/b/1"), &HeaderMap::new(), false).await.is_some());
    assert!(cache.lookup(&key("/a", "/a/1"), &HeaderMap::new(), false).await.is_none());
}

#[tokio::test]
async fn the_cache_stays_within_its_byte_budget() {
    let cache = ResponseCache::new(CacheSettings {
        max_bytes: 64 * 1024,
        max_object_bytes: 16 * 1024,
        ..CacheSettings::default()
    });
    let body = "x".repeat(8 * 1024);
    for n in 0..100 {
        cache.insert(key("/p", &format!("/p/{n}")), stored(&body, 60, &[])).await;
    }
    let (entries, bytes) = cache.usage().await;
    assert!(bytes <= 64 * 1024, "{bytes} bytes in {entries} entries");
    assert!(entries >= 4, "still holds what fits: {entries}");
}

#[tokio::test]
async fn followers_wait_for_the_leader_and_see_what_it_stored() {
    let flights = Flights::default();
    let k = key("/p", "/p");
    let Role::Leader(leader) = flights.join(&k) else { panic!("first is leader") };
    let Role::Follower(slot) = flights.join(&k) else { panic!("second follows") };
    let waiting = tokio::spawn(flight::wait(slot));
    leader.land(Landing::Stored(stored("list", 60, &[])));
    assert!(matches!(waiting.await.expect("task"), Some(Landing::Stored(s)) if s.body == "list"));
    assert!(flights.is_empty(), "a landed flight is gone");
}

#[tokio::test]
async fn a_leader_that_gives_up_releases_its_followers() {
    let flights = Flights::default();
    let k = key("/p", "/p");
    let Role::Leader(leader) = flights.join(&k) else { panic!("first is leader") };
    let Role::Follower(slot) = flights.join(&k) else { panic!("second follows") };
    drop(leader);
    assert!(flight::wait(slot).await.is_none());
    assert!(matches!(flights.join(&k), Role::Leader(_)), "the next miss leads a new flight");
}

#[tokio::test(start_paused = true)]
async fn a_follower_stops_waiting_after_the_lock_timeout() {
    let flights = Flights::default();
    let k = key("/p", "/slow");
    let Role::Leader(leader) = flights.join(&k) else { panic!("first is leader") };
    let Role::Follower(slot) = flights.join(&k) else { panic!("second follows") };
    let started = Instant::now();
    let waiting = tokio::spawn(flight::wait_at_most(slot, Duration::from_secs(5)));
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(!waiting.is_finished(), "still waiting at 4 s");
    assert!(waiting.await.expect("task").is_none(), "gave up without an answer");
    assert_eq!(started.elapsed(), Duration::from_secs(5));
    drop(leader);
}
