//! Discovery against a scripted Consul, for faults a real agent cannot be
//! made to produce on demand: 500s, hangs past the read timeout, an index
//! that goes backwards, a reply with no known leader.

mod common;

use std::time::{Duration, Instant};

use common::Portico;
use portico_testkit::fake_consul::{health_body, Behaviour, FakeConsul};
use portico_testkit::Backend;
use serde_json::json;

const CATALOG: &str = "/v1/catalog/services";
const WEB: &str = "/v1/health/service/web";

/// A fake Consul whose catalog routes `/web` to `backend` as `web-1`, both
/// endpoints at `index`.
async fn fake_with_web(backend: &Backend, index: u64) -> FakeConsul {
    let fake = FakeConsul::start().await;
    fake.set(CATALOG, Behaviour::reply(index, json!({"consul": [], "web": ["portico.route=/web"]})));
    fake.set(WEB, Behaviour::reply(index, health_body(&[("web-1", backend.port())])));
    fake
}

/// Portico on `fake`, once it routes `/web` to `web-1`.
async fn routed(fake: &FakeConsul) -> Portico {
    let portico = Portico::start(fast_config(fake)).await;
    portico.wait_instances("/web", &["web-1"], Duration::from_secs(5)).await;
    portico
}

fn fast_config(fake: &FakeConsul) -> portico::Config {
    let mut config = common::config(&fake.url());
    config.consul.wait = Duration::from_secs(1);
    config.consul.token = Some("s3cret".into());
    config
}

#[tokio::test]
async fn errors_keep_the_last_good_snapshot_and_are_retried_with_backoff() {
    let backend = Backend::start("web-1").await;
    let fake = fake_with_web(&backend, 10).await;
    let portico = routed(&fake).await;

    fake.set(CATALOG, Behaviour::Fail(500));
    fake.set(WEB, Behaviour::Fail(500));
    let failing_since = Instant::now();
    let routes = wait_routes(&portico, |r| r["staleness_seconds"].as_f64().unwrap_or(0.0) >= 1.0).await;
    assert_eq!(portico.who("/web").await.as_deref(), Ok("web-1"), "still routing on the last good snapshot");
    assert!(routes["watches"]["catalog"]["last_error"].as_str().unwrap_or_default().contains("500"), "{routes}");

    // Backoff from 100 ms, doubling: a handful of retries per second, not hundreds.
    let failures = fake.requests_to(CATALOG).into_iter().filter(|l| l.index == 0).count();
    let seconds = failing_since.elapsed().as_secs_f64();
    assert!(failures >= 2 && failures as f64 <= 8.0 * seconds.max(1.0), "{failures} retries in {seconds:.1} s");

    fake.set(CATALOG, Behaviour::reply(30, json!({"web": ["portico.route=/web"], "api": ["portico.route=/api"]})));
    fake.set(WEB, Behaviour::reply(30, health_body(&[("web-1", backend.port())])));
    fake.set("/v1/health/service/api", Behaviour::reply(30, health_body(&[])));
    let deadline = Instant::now() + Duration::from_secs(10);
    while portico.routes().await["routes"].as_array().map_or(0, |r| r.len()) < 2 {
        assert!(Instant::now() < deadline, "recovered after the 500s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    while portico.routes().await["staleness_seconds"] != 0.0 {
        assert!(Instant::now() < deadline, "every watch is back in sync");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_reply_that_hangs_past_the_read_timeout_is_abandoned_and_retried() {
    let backend = Backend::start("web-1").await;
    let fake = fake_with_web(&backend, 10).await;
    let portico = routed(&fake).await;

    fake.set(WEB, Behaviour::Hang);
    let hung_at = Instant::now();
    // The request now hanging is the last one logged; wait for the one after it.
    wait_for(|| fake.requests_to(WEB).iter().any(|l| l.at >= hung_at)).await;
    let hanging = fake.requests_to(WEB).len();
    // wait = 1 s, so the read timeout is 1 s × 17/16 + 2 s ≈ 3.06 s.
    wait_for(|| fake.requests_to(WEB).len() > hanging).await;
    let second = fake.requests_to(WEB)[hanging].at;
    let cut_after = second.duration_since(hung_at);
    assert!(cut_after >= Duration::from_millis(3000), "a blocking query is not cut before wait × 17/16: {cut_after:?}");
    assert_eq!(portico.who("/web").await.as_deref(), Ok("web-1"));

    let other = Backend::start("web-2").await;
    fake.set(WEB, Behaviour::reply(40, health_body(&[("web-2", other.port())])));
    portico.wait_instances("/web", &["web-2"], Duration::from_secs(5)).await;
}

#[tokio::test]
async fn an_index_that_goes_backwards_restarts_the_watch() {
    let backend = Backend::start("web-1").await;
    let fake = fake_with_web(&backend, 900).await;
    let portico = routed(&fake).await;

    let other = Backend::start("web-2").await;
    fake.set(WEB, Behaviour::reply(7, health_body(&[("web-2", other.port())])));
    portico.wait_instances("/web", &["web-2"], Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let indices: Vec<u64> = fake.requests_to(WEB).iter().map(|l| l.index).collect();
    let after_reset = indices.iter().skip_while(|&&i| i != 900).skip(1).copied().next();
    assert_eq!(after_reset, Some(1), "after index 900 then 7, the watch restarts (0 → 1): {indices:?}");
    assert!(indices.iter().all(|&i| i <= 900));
}

#[tokio::test]
async fn known_leader_false_is_believed_only_when_not_streaming() {
    let backend = Backend::start("web-1").await;
    let fake = fake_with_web(&backend, 10).await;
    let portico = routed(&fake).await;
    let other = Backend::start("web-2").await;

    let leaderless = vec![("x-consul-knownleader", "false"), ("x-consul-query-backend", "blocking-query")];
    let set_at = Instant::now();
    fake.set(WEB, Behaviour::Reply { index: 20, body: health_body(&[("web-2", other.port())]), headers: leaderless });
    // The watch has read the leaderless reply once it asks again (from scratch: index 0).
    wait_for(|| fake.requests_to(WEB).iter().any(|l| l.at > set_at && l.index == 0)).await;
    assert_eq!(portico.instances("/web").await, vec!["web-1"], "a leaderless reply is not trusted");

    let streaming = vec![("x-consul-knownleader", "false"), ("x-consul-query-backend", "streaming")];
    fake.set(WEB, Behaviour::Reply { index: 21, body: health_body(&[("web-2", other.port())]), headers: streaming });
    portico.wait_instances("/web", &["web-2"], Duration::from_secs(5)).await;
}

#[tokio::test]
async fn only_changed_services_are_refetched_and_requests_never_call_consul() {
    let backend = Backend::start("web-1").await;
    let fake = fake_with_web(&backend, 10).await;
    fake.set("/v1/health/service/api", Behaviour::reply(10, health_body(&[])));
    let portico = routed(&fake).await;
    tokio::time::sleep(Duration::from_millis(100)).await;

    let before = fake.log().len();
    for _ in 0..200 {
        assert_eq!(portico.who("/web").await.as_deref(), Ok("web-1"));
    }
    assert_eq!(fake.log().len(), before, "no Consul call per request");

    fake.set(CATALOG, Behaviour::reply(11, json!({"web": ["portico.route=/web"], "api": ["portico.route=/api"]})));
    let deadline = Instant::now() + Duration::from_secs(5);
    while fake.requests_to("/v1/health/service/api").is_empty() {
        assert!(Instant::now() < deadline, "the new service gets a watch");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let new_web_requests = fake.requests_to(WEB).into_iter().filter(|l| l.index == 0).count();
    assert_eq!(new_web_requests, 1, "web's watch kept its index: only its first request had index 0");
    assert!(fake.log().iter().all(|l| l.token.as_deref() == Some("s3cret")), "the ACL token is sent");
}

#[tokio::test]
async fn after_a_reset_an_empty_answer_from_whichever_watch_reconnects_first_is_ridden_out() {
    let backend = Backend::start("web-1").await;
    let fake = fake_with_web(&backend, 100).await;
    let portico = routed(&fake).await;

    // Consul goes away, then comes back reset: the health watch hears first
    // that web has no instance, while the catalog is still unreachable.
    fake.set(CATALOG, Behaviour::Fail(500));
    fake.set(WEB, Behaviour::Fail(500));
    wait_routes(&portico, |r| r["watches"]["service:web"]["consecutive_failures"].as_u64().unwrap_or(0) >= 1).await;
    fake.set(WEB, Behaviour::reply(3, health_body(&[])));
    let deadline = Instant::now() + Duration::from_secs(3);
    while fake.requests_to(WEB).last().is_some_and(|l| l.index != 3) {
        assert!(Instant::now() < deadline, "the health watch reconnected");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for _ in 0..50 {
        assert_eq!(portico.who("/web").await.as_deref(), Ok("web-1"), "held through the reset");
    }
    // Then the catalog comes back empty too: still held, within the grace period.
    fake.set(CATALOG, Behaviour::reply(3, json!({})));
    // Read once the catalog watch blocks on index 3: the empty catalog is in the view.
    wait_for(|| fake.requests_to(CATALOG).last().is_some_and(|l| l.index == 3)).await;
    assert_eq!(portico.who("/web").await.as_deref(), Ok("web-1"));
}

/// Waits (up to 10 s) until `done` holds.
async fn wait_for(done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "condition not met in 10 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits (up to 10 s) until `/admin/routes` satisfies `done`; returns it.
async fn wait_routes(portico: &Portico, done: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let routes = portico.routes().await;
        if done(&routes) {
            return routes;
        }
        assert!(Instant::now() < deadline, "not reached in 10 s: {routes}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
