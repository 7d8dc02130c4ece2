//! The gateway against a real Consul agent: discovery, balancing and rebalancing.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Portico;
use portico_testkit::consul::{http_service, ttl_service};
use portico_testkit::{Backend, ConsulAgent};
use serde_json::json;

const ROUTE: &[&str] = &["portico.route=/web"];

#[tokio::test]
async fn requests_alternate_between_two_instances() {
    let consul = ConsulAgent::start().await;
    let (a, b) = (Backend::start("web-a").await, Backend::start("web-b").await);
    consul.register(&http_service("web", "web-a", a.port(), ROUTE)).await;
    consul.register(&http_service("web", "web-b", b.port(), ROUTE)).await;
    let portico = Portico::for_consul(&consul.addr()).await;
    portico.wait_instances("/web", &["web-a", "web-b"], Duration::from_secs(5)).await;

    let mut seen = Vec::new();
    for _ in 0..10 {
        seen.push(portico.who("/web/items").await.expect("200"));
    }
    for pair in seen.windows(2) {
        assert_ne!(pair[0], pair[1], "round-robin alternates: {seen:?}");
    }
    assert_eq!(a.requests() + b.requests(), 10);
}

#[tokio::test]
async fn a_new_instance_serves_within_a_second_of_its_check_passing() {
    let consul = ConsulAgent::start().await;
    let (a, b, c) = (Backend::start("web-a").await, Backend::start("web-b").await, Backend::start("web-c").await);
    consul.register(&http_service("web", "web-a", a.port(), ROUTE)).await;
    consul.register(&http_service("web", "web-b", b.port(), ROUTE)).await;
    let portico = Portico::for_consul(&consul.addr()).await;
    portico.wait_instances("/web", &["web-a", "web-b"], Duration::from_secs(5)).await;

    // A real HTTP check with no initial status: critical until its first probe.
    let mut third = http_service("web", "web-c", c.port(), ROUTE);
    third["Check"].as_object_mut().expect("check").remove("Status");
    consul.register(&third).await;
    consul.wait_passing("web", &["web-a", "web-b", "web-c"], Duration::from_secs(10)).await;
    let passing_at = Instant::now();
    loop {
        if portico.who("/web").await.as_deref() == Ok("web-c") {
            break;
        }
        assert!(passing_at.elapsed() < Duration::from_secs(1), "web-c got no request within 1 s of passing");
    }
    println!("web-c served its first request {:?} after Consul showed it passing", passing_at.elapsed());
}

#[tokio::test]
async fn a_deregistered_instance_gets_no_new_request_and_nothing_fails() {
    let consul = ConsulAgent::start().await;
    let backends = [Backend::start("web-a").await, Backend::start("web-b").await, Backend::start("web-c").await];
    for b in &backends {
        consul.register(&http_service("web", &b.id, b.port(), ROUTE)).await;
    }
    let portico = Arc::new(Portico::for_consul(&consul.addr()).await);
    portico.wait_instances("/web", &["web-a", "web-b", "web-c"], Duration::from_secs(5)).await;

    let failed = Arc::new(AtomicU64::new(0));
    let sent = Arc::new(AtomicU64::new(0));
    let load = {
        let (portico, failed, sent) = (portico.clone(), failed.clone(), sent.clone());
        tokio::spawn(async move {
            let deadline = Instant::now() + Duration::from_secs(3);
            while Instant::now() < deadline && sent.load(Ordering::Relaxed) < 20_000 {
                sent.fetch_add(1, Ordering::Relaxed);
                if portico.who("/web").await.is_err() {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };
    while sent.load(Ordering::Relaxed) < 50 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    consul.deregister("web-c").await;
    let took = portico.wait_instances("/web", &["web-a", "web-b"], Duration::from_secs(2)).await;
    let c_requests = backends[2].requests();
    load.await.expect("load loop");
    println!(
        "sent {} requests, {} failed; web-c left the snapshot {took:?} after deregistration",
        sent.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed)
    );
    assert_eq!(backends[2].requests(), c_requests, "web-c got requests after it left");
    assert_eq!(failed.load(Ordering::Relaxed), 0);
    assert!(backends[0].requests() > 0 && backends[1].requests() > 0);
}

#[tokio::test]
async fn a_failing_check_takes_the_instance_out_and_503_when_none_is_left() {
    let consul = ConsulAgent::start().await;
    let a = Backend::start("web-a").await;
    consul.register(&ttl_service("web", "web-a", a.port(), ROUTE)).await;
    let portico = Portico::for_consul(&consul.addr()).await;
    portico.wait_instances("/web", &["web-a"], Duration::from_secs(5)).await;
    assert_eq!(portico.who("/web").await.as_deref(), Ok("web-a"));

    consul.ttl("web-a-ttl", "fail").await;
    portico.wait_instances("/web", &[], Duration::from_secs(2)).await;
    let response = portico.get("/web").await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["service"], "web");

    consul.ttl("web-a-ttl", "pass").await;
    portico.wait_instances("/web", &["web-a"], Duration::from_secs(2)).await;
    assert_eq!(portico.who("/web").await.as_deref(), Ok("web-a"));
}

#[tokio::test]
async fn an_unknown_path_is_a_json_404_and_a_removed_service_stops_routing() {
    let consul = ConsulAgent::start().await;
    let a = Backend::start("web-a").await;
    consul.register(&ttl_service("web", "web-a", a.port(), ROUTE)).await;
    let portico = Portico::for_consul(&consul.addr()).await;
    portico.wait_instances("/web", &["web-a"], Duration::from_secs(5)).await;

    let response = portico.get("/nowhere").await;
    assert_eq!(response.status(), 404);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["error"], "no route");
    assert_eq!(portico.get("/webx").await.status(), 404, "prefixes match whole segments");

    consul.deregister("web-a").await;
    let deadline = Instant::now() + Duration::from_secs(2);
    while portico.get("/web").await.status() != 404 {
        assert!(Instant::now() < deadline, "the route goes when its service does");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn routing_keeps_working_through_a_consul_outage_and_follows_a_fresh_agent() {
    let mut consul = ConsulAgent::start().await;
    let a = Backend::start("web-a").await;
    consul.register(&ttl_service("web", "web-a", a.port(), ROUTE)).await;
    let portico = Portico::for_consul(&consul.addr()).await;
    portico.wait_instances("/web", &["web-a"], Duration::from_secs(5)).await;

    consul.stop();
    let deadline = Instant::now() + Duration::from_secs(10);
    while portico.routes().await["staleness_seconds"].as_f64().unwrap_or(0.0) <= 0.0 {
        assert!(Instant::now() < deadline, "the outage was never noticed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for _ in 0..20 {
        assert_eq!(portico.who("/web").await.as_deref(), Ok("web-a"), "last known good snapshot keeps serving");
    }
    let routes = portico.routes().await;
    assert!(routes["staleness_seconds"].as_f64().unwrap_or(0.0) > 0.0, "staleness is reported: {routes}");

    consul.restart().await;
    let b = Backend::start("web-b").await;
    consul.register(&ttl_service("web", "web-b", b.port(), ROUTE)).await;
    let took = portico.wait_instances("/web", &["web-b"], Duration::from_secs(15)).await;
    println!("followed the restarted (empty) agent in {took:?}");
    assert_eq!(portico.who("/web").await.as_deref(), Ok("web-b"));
    // Every watch reconnects after its own backoff; then nothing is stale.
    let deadline = Instant::now() + Duration::from_secs(15);
    while portico.routes().await["staleness_seconds"] != 0.0 {
        assert!(Instant::now() < deadline, "discovery back in sync: {}", portico.routes().await);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn tags_choose_strip_prefix_and_weights_and_bad_tags_are_reported() {
    let consul = ConsulAgent::start().await;
    let (a, b) = (Backend::start("api-a").await, Backend::start("api-b").await);
    let tags = ["portico.route=/api", "portico.strip-prefix=true", "portico.lb=wrr", "portico.route=oops"];
    let mut heavy = ttl_service("api", "api-a", a.port(), &tags);
    heavy["Weights"] = json!({"Passing": 3, "Warning": 1});
    consul.register(&heavy).await;
    consul.register(&ttl_service("api", "api-b", b.port(), &tags)).await;
    consul.register(&ttl_service("rival", "rival-1", b.port(), &["portico.route=/api"])).await;
    let portico = Portico::for_consul(&consul.addr()).await;
    portico.wait_instances("/api", &["api-a", "api-b"], Duration::from_secs(5)).await;

    let body: serde_json::Value = portico.get("/api/v1/items?x=1").await.json().await.expect("json");
    assert_eq!(body["path"], "/v1/items?x=1", "prefix stripped, query kept");
    let mut heavy_count = 0;
    for _ in 0..40 {
        if portico.who("/api").await.as_deref() == Ok("api-a") {
            heavy_count += 1;
        }
    }
    assert_eq!(heavy_count, 30, "weights 3:1");

    let routes = portico.routes().await;
    let rejected = routes["rejected"].as_array().expect("rejected list");
    assert!(rejected.iter().any(|r| r["declaration"] == "portico.route=oops"), "{routes}");
    assert!(rejected.iter().any(|r| r["source"] == "rival"), "the conflict is reported: {routes}");
}

#[tokio::test]
async fn static_routes_need_no_tags() {
    let consul = ConsulAgent::start().await;
    let a = Backend::start("legacy-1").await;
    consul.register(&ttl_service("legacy", "legacy-1", a.port(), &[])).await;
    let mut config = common::config(&consul.addr());
    config.routes.push(portico::config::parse_route_flag("/old=legacy").expect("valid"));
    let portico = Portico::start(config).await;
    portico.wait_instances("/old", &["legacy-1"], Duration::from_secs(5)).await;
    assert_eq!(portico.who("/old/page").await.as_deref(), Ok("legacy-1"));
    assert_eq!(portico.routes().await["routes"][0]["source"], "config");
}

#[tokio::test]
async fn encoded_path_characters_are_refused_unless_the_route_allows_them() {
    let consul = ConsulAgent::start().await;
    let (files, web) = (Backend::start("files-1").await, Backend::start("web-1").await);
    let tags = ["portico.route=/files", "portico.allow-encoded=slash"];
    consul.register(&ttl_service("files", "files-1", files.port(), &tags)).await;
    consul.register(&ttl_service("web", "web-1", web.port(), ROUTE)).await;
    let portico = Portico::for_consul(&consul.addr()).await;
    portico.wait_instances("/files", &["files-1"], Duration::from_secs(5)).await;
    portico.wait_instances("/web", &["web-1"], Duration::from_secs(5)).await;

    let allowed = portico.get("/files/a%2Fb").await;
    assert_eq!(allowed.status(), 200, "the route allows %2F");
    let seen: serde_json::Value = allowed.json().await.expect("json");
    assert_eq!(seen["path"], "/files/a%2Fb", "forwarded as data, not as a separator");
    let refused = portico.get("/files/a%3Bb").await;
    assert_eq!(refused.status(), 400, "%3B is still refused there");
    let error: serde_json::Value = refused.json().await.expect("json");
    assert!(error["error"].as_str().is_some_and(|e| e.contains("%3B")), "{error}");
    assert_eq!(portico.get("/web/a%2Fb").await.status(), 400, "other routes refuse %2F");
    assert_eq!(web.requests(), 0);
    assert_eq!(files.requests(), 1);
    let routes = portico.routes().await;
    let files_route = routes["routes"].as_array().into_iter().flatten().find(|r| r["prefix"] == "/files").cloned();
    assert_eq!(files_route.map(|r| r["allow_encoded"].clone()), Some(json!(["slash"])), "/admin/routes shows it");
}
