//! What operators see: Prometheus metrics, the admin API and its token,
//! draining instances, and that none of it leaks onto the public listener.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::Portico;
use portico_testkit::consul::ttl_service;
use portico_testkit::{Backend, ConsulAgent};
use serde_json::Value;

async fn setup(token: Option<&str>) -> (ConsulAgent, Backend, Portico) {
    let consul = ConsulAgent::start().await;
    let backend = Backend::start("web-1").await;
    consul.register(&ttl_service("web", "web-1", backend.port(), &["portico.route=/web"])).await;
    let mut config = common::config(&consul.addr());
    config.admin_token = token.map(String::from);
    let portico = Portico::start(config).await;
    (consul, backend, portico)
}

async fn admin_get(portico: &Portico, path: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = portico.http.get(format!("http://{}{path}", portico.admin));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("admin answers")
}

/// Parses the text exposition into `series → value`, checking every line's syntax.
fn parse_exposition(text: &str) -> BTreeMap<String, f64> {
    let name_ok = |n: &str| {
        n.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    };
    let mut series = BTreeMap::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        if let Some(meta) = line.strip_prefix("# ") {
            let mut parts = meta.splitn(3, ' ');
            let kind = parts.next().unwrap_or_default();
            if kind == "EOF" {
                continue;
            }
            assert!(matches!(kind, "HELP" | "TYPE" | "UNIT"), "bad comment: {line}");
            assert!(name_ok(parts.next().unwrap_or_default()), "bad name: {line}");
            continue;
        }
        let (key, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("no value: {line}"));
        let name = key.split('{').next().unwrap_or_default();
        assert!(name_ok(name) && name.starts_with("portico_"), "bad metric name: {line}");
        if let Some(labels) = key.strip_prefix(name).and_then(|l| l.strip_prefix('{')).and_then(|l| l.strip_suffix('}'))
        {
            for pair in labels.split("\",").filter(|p| !p.is_empty()) {
                let (label, _) = pair.split_once("=\"").unwrap_or_else(|| panic!("bad label in {line}"));
                assert!(name_ok(label), "bad label name {label} in {line}");
            }
        }
        series.insert(key.to_string(), value.parse().unwrap_or_else(|_| panic!("bad value: {line}")));
    }
    series
}

#[tokio::test]
async fn metrics_follow_prometheus_conventions_and_count_what_happened() {
    let (consul, _backend, portico) = setup(None).await;
    let node = &consul.node;
    portico.wait_instances("/web", &["web-1"], Duration::from_secs(5)).await;
    for _ in 0..7 {
        assert_eq!(portico.who("/web/x").await.as_deref(), Ok("web-1"));
    }
    let response = admin_get(&portico, "/metrics", None).await;
    assert!(response.headers()["content-type"].to_str().unwrap_or_default().contains("openmetrics"));
    let series = parse_exposition(&response.text().await.expect("text"));
    let get = |key: &str| series.get(key).copied().unwrap_or_else(|| panic!("missing {key}: {series:#?}"));
    assert_eq!(
        get(&format!(r#"portico_requests_total{{route="/web",instance="web-1",node="{node}",class="2xx"}}"#)),
        7.0
    );
    assert_eq!(get(r#"portico_request_duration_seconds_count{route="/web"}"#), 7.0);
    assert_eq!(get(&format!(r#"portico_instance_in_flight{{route="/web",instance="web-1",node="{node}"}}"#)), 0.0);
    assert_eq!(get("portico_routes"), 1.0);
    assert_eq!(get("portico_instances"), 1.0);
    assert!(get("portico_snapshot_generation") >= 2.0);
    assert!(get(r#"portico_consul_requests_total{watch="catalog",result="ok"}"#) >= 1.0);
    assert!(get(r#"portico_consul_watch_index{watch="service:web"}"#) > 0.0);
    assert!(get("portico_snapshot_propagation_seconds_count") >= 1.0);
    assert_eq!(get("portico_discovery_staleness_seconds"), 0.0);
    for (key, _) in series.iter().filter(|(k, _)| k.contains("_total")) {
        assert!(key.split('{').next().unwrap_or_default().ends_with("_total"), "{key}");
    }
}

#[tokio::test]
async fn the_admin_token_is_required_everywhere_but_healthz() {
    let (_consul, _backend, portico) = setup(Some("s3cret")).await;
    for path in ["/admin/routes", "/metrics", "/admin/dashboard", "/admin/events"] {
        let response = admin_get(&portico, path, None).await;
        assert_eq!(response.status(), 401, "{path}");
        assert!(response.headers().contains_key("www-authenticate"));
        assert_eq!(admin_get(&portico, path, Some("wrong")).await.status(), 401, "{path}");
    }
    // No token needed; 503 only until the first Consul read (readiness).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut status = admin_get(&portico, "/healthz", None).await.status();
    while status == 503 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        status = admin_get(&portico, "/healthz", None).await.status();
    }
    assert_eq!(status, 200);
    assert_eq!(admin_get(&portico, "/admin/routes", Some("s3cret")).await.status(), 200);
    assert_eq!(admin_get(&portico, "/admin/dashboard?token=s3cret", None).await.status(), 200);
}

#[tokio::test]
async fn admin_endpoints_are_not_on_the_public_listener() {
    let (_consul, _backend, portico) = setup(None).await;
    // Before the first sync an unknown path is 503 (it may yet be routed).
    portico.wait_instances("/web", &["web-1"], std::time::Duration::from_secs(5)).await;
    for path in ["/admin/routes", "/metrics", "/healthz", "/admin/dashboard"] {
        assert_eq!(portico.get(path).await.status(), 404, "{path}");
    }
}

#[tokio::test]
async fn routes_report_rates_and_draining_instances() {
    let (consul, _backend, portico) = setup(None).await;
    let slow = Backend::start("web-2").await;
    consul.register(&ttl_service("web", "web-2", slow.port(), &["portico.route=/web"])).await;
    portico.wait_instances("/web", &["web-1", "web-2"], Duration::from_secs(5)).await;

    let started = Instant::now();
    let mut rps = 0.0;
    while rps == 0.0 && started.elapsed() < Duration::from_secs(3) {
        for _ in 0..20 {
            portico.get("/web").await;
        }
        let routes = portico.routes().await;
        rps = routes["routes"][0]["instances"][0]["rps"].as_f64().unwrap_or(0.0);
    }
    assert!(rps > 0.0, "recent requests per second are reported");

    // A long request on web-2, then web-2 leaves Consul: it drains.
    let url = portico.url("/web/slow/1500");
    let http = portico.http.clone();
    let mut long = Vec::new();
    for _ in 0..2 {
        let (url, http) = (url.clone(), http.clone());
        long.push(tokio::spawn(async move { http.get(url).send().await.map(|r| r.status().as_u16()) }));
    }
    // Both long requests are on web-2 once its in-flight count says so.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let routes = portico.routes().await;
        let web2 =
            routes["routes"][0]["instances"].as_array().into_iter().flatten().find(|i| i["id"] == "web-2").cloned();
        if web2.is_some_and(|i| i["in_flight"].as_u64().unwrap_or(0) >= 1) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the long request never reached web-2: {routes}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    consul.deregister("web-2").await;
    portico.wait_instances("/web", &["web-1"], Duration::from_secs(2)).await;
    let routes = portico.routes().await;
    let draining: &Value = &routes["draining"];
    assert_eq!(draining[0]["id"], "web-2", "{routes}");
    assert_eq!(draining[0]["state"], "draining");
    assert!(draining[0]["in_flight"].as_u64().unwrap_or(0) >= 1, "{routes}");
    for request in long {
        assert_eq!(request.await.expect("task").expect("request"), 200, "in-flight requests finish");
    }
}

#[tokio::test]
async fn a_client_that_leaves_before_the_answer_is_counted_as_499_not_1xx() {
    let (_consul, _backend, portico) = setup(None).await;
    portico.wait_instances("/web", &["web-1"], Duration::from_secs(5)).await;
    let impatient = reqwest::Client::builder().timeout(Duration::from_millis(100)).build().expect("client");
    assert!(impatient.get(portico.url("/web/slow/1000")).send().await.is_err(), "the client gives up");
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let text = admin_get(&portico, "/metrics", None).await.text().await.expect("metrics");
        let series = parse_exposition(&text);
        let count = |class: &str| {
            series
                .get(&format!(
                    r#"portico_requests_total{{route="/web",instance="web-1",node="{}",class="{class}"}}"#,
                    node(&series)
                ))
                .copied()
        };
        if count("4xx") == Some(1.0) {
            assert_eq!(count("1xx"), Some(0.0));
            break;
        }
        assert!(Instant::now() < deadline, "no 4xx counted: {text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The node label of the `/web` series.
fn node(series: &BTreeMap<String, f64>) -> String {
    let key = series.keys().find(|k| k.starts_with(r#"portico_requests_total{route="/web",instance="web-1""#));
    key.and_then(|k| k.split("node=\"").nth(1)).and_then(|rest| rest.split('"').next()).unwrap_or_default().to_string()
}
