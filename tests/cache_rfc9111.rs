//! The response cache against RFC 9111 (and RFC 5861, RFC 9213), end to
//! end, with a Node.js origin that counts what reaches it: invalidation by
//! unsafe methods (the URI, `Location`, `Content-Location`), revalidation with
//! `ETag`, serving stale while revalidating and on error, `Age`, and the
//! targeted `Portico-Cache-Control` / `CDN-Cache-Control` fields.
//!
//! The rules themselves are unit-tested on tokio's paused clock
//! (`src/cache`); here real time passes, by seconds, because the origin is
//! a real process.

mod common;

use std::time::Duration;

use common::Portico;
use portico_testkit::consul::ttl_service;
use portico_testkit::node::NodeOrigin;
use portico_testkit::ConsulAgent;

/// Each path behaves as its name says; every answer carries `x-count`, how
/// many requests that path received (so a test sees what reached the origin).
const ORIGIN: &str = r#"(() => {
  const counts = {};
  let failing = false;
  return (req, res) => {
    const path = req.url.split('?')[0];
    counts[path] = (counts[path] || 0) + 1;
    const n = String(counts[path]);
    const send = (status, headers, body) => { res.writeHead(status, Object.assign({'x-count': n}, headers)); res.end(body); };
    if (path === '/r/fail') { failing = req.method === 'PUT'; return send(204, {}, ''); }
    if (req.method === 'PUT' || req.method === 'DELETE') return send(204, {}, '');
    if (req.method === 'POST') return send(201, {'location': '/r/item', 'content-location': '/r/list'}, 'created');
    if (path === '/r/etag') {
      if (req.headers['if-none-match'] === '"v1"') return send(304, {'cache-control': 'max-age=2', 'x-refreshed': n});
      return send(200, {'etag': '"v1"', 'cache-control': 'max-age=2'}, 'tagged');
    }
    if (path === '/r/swr') return send(200, {'cache-control': 'max-age=2, stale-while-revalidate=30'}, 'v' + n);
    if (path === '/r/sie') {
      if (failing) return send(503, {}, 'down');
      return send(200, {'cache-control': 'max-age=1, stale-if-error=60'}, 'good');
    }
    if (path === '/r/strict') {
      if (failing) return send(503, {}, 'down');
      return send(200, {'cache-control': 'max-age=1, must-revalidate, stale-if-error=60'}, 'good');
    }
    if (path === '/r/age') return send(200, {'cache-control': 'max-age=60', 'age': '20'}, 'aged');
    if (path === '/r/badage') return send(200, {'cache-control': 'max-age=60', 'age': 'old, 0'}, 'bad');
    if (path === '/r/targeted') return send(200, {'cache-control': 'no-store', 'portico-cache-control': 'max-age=60', 'cdn-cache-control': 'no-store'}, 'targeted');
    return send(200, {'cache-control': 'max-age=60'}, 'item ' + n);
  };
})()"#;

async fn setup() -> Option<(NodeOrigin, ConsulAgent, Portico)> {
    let node = NodeOrigin::required(ORIGIN).await?;
    let consul = ConsulAgent::start().await;
    let tags = ["portico.route=/r", "portico.cache=true"];
    consul.register(&ttl_service("r", "r-1", node.port, &tags)).await;
    let portico = Portico::start(common::config(&consul.addr())).await;
    portico.wait_instances("/r", &["r-1"], Duration::from_secs(5)).await;
    Some((node, consul, portico))
}

/// `X-Cache`, `x-count` and the body of a GET.
async fn get(portico: &Portico, path: &str) -> (String, String, String) {
    let response = portico.get(path).await;
    let header = |n: &str| response.headers().get(n).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let (verdict, count) = (header("x-cache"), header("x-count"));
    (verdict, count, response.text().await.unwrap_or_default())
}

async fn send(portico: &Portico, method: reqwest::Method, path: &str) -> u16 {
    portico.http.request(method, portico.url(path)).body("x").send().await.expect("response").status().as_u16()
}

#[tokio::test]
async fn a_successful_unsafe_request_invalidates_the_uri_and_its_locations() {
    let Some((_node, _consul, portico)) = setup().await else { return };
    for path in ["/r/item", "/r/list", "/r/other"] {
        assert_eq!(get(&portico, path).await.0, "MISS");
        assert_eq!(get(&portico, path).await.0, "HIT");
    }
    assert_eq!(send(&portico, reqwest::Method::PUT, "/r/item").await, 204);
    assert_eq!(get(&portico, "/r/item").await.0, "MISS", "the PUT's target is dropped");
    assert_eq!(get(&portico, "/r/list").await.0, "HIT");
    // 201 with Location: /r/item and Content-Location: /r/list.
    assert_eq!(send(&portico, reqwest::Method::POST, "/r/new").await, 201);
    assert_eq!(get(&portico, "/r/item").await.0, "MISS", "Location is dropped");
    assert_eq!(get(&portico, "/r/list").await.0, "MISS", "Content-Location is dropped");
    assert_eq!(get(&portico, "/r/other").await.0, "HIT", "nothing else is");
}

#[tokio::test]
async fn a_stale_entry_with_an_etag_is_revalidated_with_a_conditional_request() {
    let Some((_node, _consul, portico)) = setup().await else { return };
    assert_eq!(get(&portico, "/r/etag").await, ("MISS".into(), "1".into(), "tagged".into()));
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let response = portico.get("/r/etag").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-cache"], "REVALIDATED");
    assert_eq!(response.headers()["x-refreshed"], "2", "the 304's fields refresh the entry");
    assert_eq!(response.text().await.expect("body"), "tagged", "the stored body is served");
    let (verdict, count, _) = get(&portico, "/r/etag").await;
    assert_eq!((verdict.as_str(), count.as_str()), ("HIT", "2"), "fresh again, with the 304's fields");
    let conditional = portico.http.get(portico.url("/r/etag")).header("if-none-match", "\"v1\"").send().await;
    assert_eq!(conditional.expect("response").status(), 304, "the client's own precondition, from the cache");
}

#[tokio::test]
async fn stale_while_revalidate_serves_stale_and_refreshes_in_the_background() {
    let Some((_node, _consul, portico)) = setup().await else { return };
    assert_eq!(get(&portico, "/r/swr").await.2, "v1");
    // max-age=2: Date has whole seconds, so the answer may arrive up to 1 s old.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (verdict, _, body) = get(&portico, "/r/swr").await;
    assert_eq!((verdict.as_str(), body.as_str()), ("STALE", "v1"), "answered at once, stale");
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    loop {
        let (verdict, _, body) = get(&portico, "/r/swr").await;
        if verdict == "HIT" && body != "v1" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never refreshed: {verdict} {body}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn stale_if_error_answers_when_the_instances_fail_unless_must_revalidate() {
    let Some((_node, consul, portico)) = setup().await else { return };
    assert_eq!(get(&portico, "/r/sie").await.2, "good");
    assert_eq!(get(&portico, "/r/strict").await.2, "good");
    assert_eq!(send(&portico, reqwest::Method::PUT, "/r/fail").await, 204);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (verdict, _, body) = get(&portico, "/r/sie").await;
    assert_eq!((verdict.as_str(), body.as_str()), ("STALE", "good"), "the instance answers 503");
    assert_eq!(portico.get("/r/strict").await.status(), 503, "must-revalidate: never stale");
    // Every instance gone (its check failing): the catalog still answers.
    consul.ttl("r-1-ttl", "fail").await;
    portico.wait_instances("/r", &[], Duration::from_secs(5)).await;
    let (verdict, _, body) = get(&portico, "/r/sie").await;
    assert_eq!((verdict.as_str(), body.as_str()), ("STALE", "good"), "no live instance");
}

#[tokio::test]
async fn age_counts_what_the_instance_said_and_a_malformed_age_is_stale() {
    let Some((_node, _consul, portico)) = setup().await else { return };
    let first = portico.get("/r/age").await;
    let age: u64 = first.headers()["age"].to_str().expect("text").parse().expect("number");
    assert!((20..=21).contains(&age), "Age {age}: the instance's 20 s and the transit time");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let later = portico.get("/r/age").await;
    assert_eq!(later.headers()["x-cache"], "HIT");
    let age: u64 = later.headers()["age"].to_str().expect("text").parse().expect("number");
    assert!((21..=22).contains(&age), "Age {age} grows while stored");
    assert_eq!(get(&portico, "/r/badage").await.0, "MISS");
    assert_eq!(get(&portico, "/r/badage").await.0, "MISS", "Age: old, 0 is stale: never a hit");
}

#[tokio::test]
async fn portico_cache_control_speaks_to_portico_and_is_not_forwarded() {
    let Some((_node, _consul, portico)) = setup().await else { return };
    assert_eq!(get(&portico, "/r/targeted").await.0, "MISS");
    let hit = portico.get("/r/targeted").await;
    assert_eq!(hit.headers()["x-cache"], "HIT", "stored for Portico's 60 s despite Cache-Control: no-store");
    assert_eq!(hit.headers()["cache-control"], "no-store", "the client still gets Cache-Control");
    assert!(hit.headers().get("portico-cache-control").is_none());
    assert!(hit.headers().get("cdn-cache-control").is_none());
}
