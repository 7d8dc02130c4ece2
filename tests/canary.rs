//! Canary releases from Consul tags on a real agent: a fixed share whatever
//! the instance counts, clients kept on their side, and the automatic abort
//! of a canary that fails (a Node.js origin answering 500), which lasts until
//! the canary's tags or version change.

mod common;

use std::time::{Duration, Instant};

use common::Portico;
use portico_testkit::consul::ttl_service;
use portico_testkit::node::NodeOrigin;
use portico_testkit::{Backend, ConsulAgent};
use serde_json::Value;

const STABLE: &[&str] = &["portico.route=/shop"];

/// Who answered `GET /shop` for a client in canary bucket `bucket`.
async fn who_in_bucket(portico: &Portico, bucket: u32) -> (u16, String) {
    let response = portico
        .http
        .get(portico.url("/shop/item"))
        .header("cookie", format!("portico_canary={bucket}"))
        .send()
        .await
        .expect("answer");
    let id = response.headers().get("x-instance-id").and_then(|v| v.to_str().ok()).unwrap_or("?").to_string();
    (response.status().as_u16(), id)
}

async fn canary_of(portico: &Portico) -> Value {
    let routes = portico.routes().await;
    routes["routes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["key"] == "/shop")
        .map_or(Value::Null, |r| r["canary"].clone())
}

async fn wait_canary(portico: &Portico, check: impl Fn(&Value) -> bool, what: &str) -> Value {
    let start = Instant::now();
    loop {
        let canary = canary_of(portico).await;
        if check(&canary) {
            return canary;
        }
        assert!(start.elapsed() < Duration::from_secs(5), "{what}: {canary}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn one_canary_among_three_gets_its_declared_share_and_clients_stay_on_their_side() {
    let consul = ConsulAgent::start().await;
    let mut backends = Vec::new();
    for id in ["shop-1", "shop-2", "shop-3", "shop-canary"] {
        let backend = Backend::start(id).await;
        let tags: &[&str] = if id == "shop-canary" { &["portico.route=/shop", "portico.canary=20%"] } else { STABLE };
        consul.register(&ttl_service("shop", id, backend.port(), tags)).await;
        backends.push(backend);
    }
    let portico = Portico::for_consul(&consul.addr()).await;
    portico.wait_instances("/shop", &["shop-1", "shop-2", "shop-3", "shop-canary"], Duration::from_secs(5)).await;

    // 2,000 clients spread evenly over the buckets: exactly 20% on the
    // canary (not 1/4, its share of the instances).
    let mut on_canary = 0;
    for client in 0..2_000u32 {
        let (status, id) = who_in_bucket(&portico, client * 5).await;
        assert_eq!(status, 200);
        on_canary += u32::from(id == "shop-canary");
    }
    assert_eq!(on_canary, 400, "20% of 2000 clients");

    // A client without the cookie gets one, and keeps its side with it.
    let first = portico.get("/shop").await;
    let cookie = first.headers().get("set-cookie").and_then(|v| v.to_str().ok()).expect("cookie set").to_string();
    assert!(cookie.contains("HttpOnly") && cookie.contains("Path=/"), "{cookie}");
    let pair = cookie.split(';').next().expect("name=value").to_string();
    let side_of = |id: &str| id == "shop-canary";
    let first_side = side_of(first.headers()["x-instance-id"].to_str().expect("id"));
    for _ in 0..30 {
        let again = portico.http.get(portico.url("/shop")).header("cookie", &pair).send().await.expect("answer");
        assert!(again.headers().get("set-cookie").is_none());
        assert_eq!(side_of(again.headers()["x-instance-id"].to_str().expect("id")), first_side);
    }
    let canary = canary_of(&portico).await;
    assert_eq!((canary["share"].as_str(), canary["instances"].as_u64()), (Some("20%"), Some(1)));
}

#[tokio::test]
async fn a_failing_canary_is_aborted_and_stays_out_until_its_version_changes() {
    const FAILING: &str =
        "(req, res) => { req.resume(); res.writeHead(500, {'x-instance-id': 'shop-canary'}); res.end('boom'); }";
    let Some(node) = NodeOrigin::required(FAILING).await else { return };
    let consul = ConsulAgent::start().await;
    let stable = Backend::start("shop-1").await;
    consul.register(&ttl_service("shop", "shop-1", stable.port(), STABLE)).await;
    let canary_tags: &[&str] = &["portico.route=/shop", "portico.canary=50%"];
    let canary = ttl_service("shop", "shop-canary", node.port, canary_tags);
    consul.register(&canary).await;
    let portico = Portico::for_consul(&consul.addr()).await;
    portico.wait_instances("/shop", &["shop-1", "shop-canary"], Duration::from_secs(5)).await;

    // Clients on both sides; the canary fails every request.
    let mut canary_errors = 0;
    for client in 0..200u32 {
        let (status, id) = who_in_bucket(&portico, (client * 50) % 10_000).await;
        if id == "shop-canary" {
            assert_eq!(status, 500);
            canary_errors += 1;
        }
    }
    assert!((20..=40).contains(&canary_errors), "the canary is cut off soon after 20 requests: {canary_errors}");
    let aborted = canary_of(&portico).await;
    assert_eq!(aborted["effective_share"], "0%");
    let reason = aborted["aborted"]["reason"].as_str().expect("abort reason");
    assert!(reason.contains("exceeds the stable side"), "{reason}");
    for _ in 0..50 {
        assert_eq!(who_in_bucket(&portico, 0).await, (200, "shop-1".to_string()), "bucket 0 is canary-side");
    }
    let metrics = portico.http.get(format!("http://{}/metrics", portico.admin)).send().await.expect("metrics");
    let text = metrics.text().await.expect("text");
    assert!(text.contains("portico_canary_aborts_total{route=\"/shop\"} 1"), "{text}");
    assert!(text.contains("portico_canary_aborted{route=\"/shop\"} 1"), "{text}");

    // The same canary leaving and coming back is still out.
    consul.deregister("shop-canary").await;
    portico.wait_instances("/shop", &["shop-1"], Duration::from_secs(5)).await;
    consul.register(&canary).await;
    portico.wait_instances("/shop", &["shop-1", "shop-canary"], Duration::from_secs(5)).await;
    assert_eq!(canary_of(&portico).await["effective_share"], "0%");

    // A new version of the canary gets its share again.
    let mut v2 = canary.clone();
    v2["Meta"] = serde_json::json!({"version": "2"});
    consul.register(&v2).await;
    wait_canary(
        &portico,
        |c| c["effective_share"] == "50%" && c["aborted"].is_null(),
        "a new version resets the abort",
    )
    .await;
    assert_eq!(who_in_bucket(&portico, 0).await.1, "shop-canary");
}

#[tokio::test]
async fn on_a_cached_route_the_canary_side_neither_reads_nor_fills_the_cache() {
    let consul = ConsulAgent::start().await;
    let (stable, canary) = (Backend::start("shop-1").await, Backend::start("shop-canary").await);
    consul.register(&ttl_service("shop", "shop-1", stable.port(), &["portico.route=/shop", "portico.cache=30s"])).await;
    let canary_tags = ["portico.route=/shop", "portico.cache=30s", "portico.canary=50%"];
    consul.register(&ttl_service("shop", "shop-canary", canary.port(), &canary_tags)).await;
    let portico = Portico::for_consul(&consul.addr()).await;
    portico.wait_instances("/shop", &["shop-1", "shop-canary"], Duration::from_secs(5)).await;
    let fetch = |bucket: u32| {
        let request = portico.http.get(portico.url("/shop/item")).header("cookie", format!("portico_canary={bucket}"));
        async move {
            let response = request.send().await.expect("answer");
            let header =
                |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
            (header("x-instance-id"), header("x-cache"))
        }
    };
    assert_eq!(fetch(9_999).await, ("shop-1".to_string(), "MISS".to_string()));
    assert_eq!(fetch(9_999).await, ("shop-1".to_string(), "HIT".to_string()));
    for _ in 0..3 {
        assert_eq!(fetch(0).await, ("shop-canary".to_string(), "BYPASS".to_string()));
    }
    assert_eq!(fetch(5_000).await, ("shop-1".to_string(), "HIT".to_string()));
}
