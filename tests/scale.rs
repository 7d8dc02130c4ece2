//! Hundreds of routed services against one real agent with its default
//! limits (200 connections per client address), at a size CI runs in
//! seconds; `cargo bench --bench propagation` takes the same paths to 10,000.
//!
//! - Plain HTTP: past the connection budget, services are followed through
//!   the shared feed on every check, and every kind of change still arrives.
//! - HTTPS: every service keeps a watch of its own, 200 to an HTTP/2
//!   connection, so 450 services need three connections.

mod common;
#[path = "common/pki.rs"]
mod pki;

use std::time::{Duration, Instant};

use common::{config, Portico};
use portico::config::ConsulTls;
use portico_testkit::catalog::CatalogInstance;
use portico_testkit::consul::AgentOptions;
use portico_testkit::{Backend, ConsulAgent};
use serde_json::Value;

/// `services` routed services of `per` instances each, all passing.
fn catalog(services: usize, per: usize) -> Vec<CatalogInstance> {
    (0..services).flat_map(|s| (0..per).map(move |i| CatalogInstance::routed(s, i, 20_000 + i as u16))).collect()
}

/// Waits until `/admin/routes` satisfies `ready`; returns it.
async fn wait_routes(portico: &Portico, what: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let routes = portico.routes().await;
        if ready(&routes) {
            return routes;
        }
        assert!(Instant::now() < deadline, "{what}: {}", routes["consul"]);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The route for `prefix`, if any.
fn route<'a>(routes: &'a Value, prefix: &str) -> Option<&'a Value> {
    routes["routes"].as_array()?.iter().find(|r| r["prefix"] == prefix)
}

/// (ID, address) of each instance of `prefix`, sorted.
fn instances(routes: &Value, prefix: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = route(routes, prefix)
        .and_then(|r| r["instances"].as_array())
        .into_iter()
        .flatten()
        .map(|i| (i["id"].as_str().unwrap_or("").into(), i["address"].as_str().unwrap_or("").into()))
        .collect();
    out.sort();
    out
}

fn ids(routes: &Value, prefix: &str) -> Vec<String> {
    instances(routes, prefix).into_iter().map(|(id, _)| id).collect()
}

/// Every route of `services` has `per` instances.
fn all_routed(routes: &Value, services: usize, per: usize) -> bool {
    routes["routes"].as_array().is_some_and(|r| {
        r.len() == services && r.iter().all(|route| route["instances"].as_array().is_some_and(|i| i.len() == per))
    })
}

/// No watch reports an error.
fn no_failed_watch(routes: &Value) -> Result<(), String> {
    let watches = routes["watches"].as_object().ok_or("no watches")?;
    match watches.iter().find(|(_, w)| w["errors"].as_u64() != Some(0)) {
        Some((name, report)) => Err(format!("{name}: {report}")),
        None => Ok(()),
    }
}

#[tokio::test]
async fn past_the_agent_s_connection_limit_every_change_still_arrives_over_plain_http() {
    // 300 routed services: more than the agent's 200 connections per address.
    let agent = ConsulAgent::start().await;
    let shop = catalog(300, 2);
    agent.catalog_register(&shop).await;
    let mut settings = config(&agent.addr());
    settings.consul.resync = Duration::from_millis(500);
    let portico = Portico::start(settings).await;

    let routes = wait_routes(&portico, "all 300 routes with 2 instances", |r| all_routed(r, 300, 2)).await;
    let budget = &routes["consul"];
    assert_eq!(budget["transport"], "http1");
    assert!(budget["connections"].as_u64().unwrap_or(999) <= 100, "within the default budget: {budget}");
    assert!(budget["followed_by_feed"].as_u64().unwrap_or(0) >= 200, "the rest through the feed: {budget}");
    no_failed_watch(&routes).expect("no watch failed");

    // Every kind of change to a service with no watch of its own arrives.
    let followed = |routes: &Value, s: usize| routes["watches"].get(format!("service:svc-{s}")).is_some();
    let s = (0..300).rev().find(|s| followed(&routes, *s)).expect("a service followed by the feed");
    let prefix = format!("/svc-{s}");
    let [first, second] = [&shop[2 * s], &shop[2 * s + 1]];

    agent.catalog_check(second, "critical").await;
    wait_routes(&portico, "health change", |r| ids(r, &prefix) == [first.id.clone()]).await;
    agent.catalog_check(second, "passing").await;
    wait_routes(&portico, "recovery", |r| ids(r, &prefix).len() == 2).await;

    let extra = CatalogInstance { id: format!("svc-{s}-extra"), node: "node-9".into(), ..first.clone() };
    agent.catalog_register(std::slice::from_ref(&extra)).await;
    wait_routes(&portico, "new instance", |r| ids(r, &prefix).contains(&extra.id)).await;
    agent.catalog_deregister(&extra).await;
    wait_routes(&portico, "deregistration", |r| ids(r, &prefix).len() == 2).await;

    // A port change that leaves the checks alone is caught by the resync.
    let moved = CatalogInstance { port: 29_999, ..first.clone() };
    agent.catalog_update_service(&moved).await;
    let want = "127.0.0.1:29999".to_string();
    wait_routes(&portico, "port change", |r| instances(r, &prefix).iter().any(|(_, a)| *a == want)).await;

    // A new service is routed, and traffic reaches it.
    let backend = Backend::start("svc-new-0").await;
    let new = CatalogInstance { port: backend.port(), ..CatalogInstance::routed(300, 0, 0) };
    let new = CatalogInstance {
        service: "svc-new".into(),
        id: "svc-new-0".into(),
        tags: vec!["portico.route=/new".into()],
        ..new
    };
    agent.catalog_register(std::slice::from_ref(&new)).await;
    wait_routes(&portico, "new service", |r| ids(r, "/new") == ["svc-new-0"]).await;
    assert_eq!(portico.who("/new").await.as_deref(), Ok("svc-new-0"));
    no_failed_watch(&portico.routes().await).expect("no watch failed");
}

/// Established TCP connections to `port` on loopback (from whichever process).
fn connections_to(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    let remote = format!(":{port:04X}");
    table
        .lines()
        .skip(1)
        .filter(|l| {
            let fields: Vec<&str> = l.split_whitespace().collect();
            fields.len() > 3 && fields[2].ends_with(&remote) && fields[3] == "01"
        })
        .count()
}

#[tokio::test]
async fn over_https_hundreds_of_watches_share_three_http2_connections() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = pki::Authority::new(dir.path(), "consul-ca");
    let hcl = ca.agent_https_hcl();
    let mut agent = ConsulAgent::start_with(AgentOptions { hcl: Some(hcl), ..AgentOptions::default() }).await;
    let shop = catalog(450, 1);
    agent.catalog_register(&shop).await;
    let mut settings = config(&agent.https_addr());
    settings.consul.tls = ConsulTls { ca_file: Some(ca.cert.clone()), ..ConsulTls::default() };
    let portico = Portico::start(settings).await;

    let routes = wait_routes(&portico, "all 450 routes", |r| all_routed(r, 450, 1)).await;
    let budget = &routes["consul"];
    assert_eq!(budget["transport"], "http2");
    assert_eq!(budget["watched"], 450, "every service has a watch of its own: {budget}");
    assert_eq!(budget["followed_by_feed"], 0);
    assert_eq!(budget["connections"], 3, "451 watches at 200 a connection: {budget}");
    let port: u16 = agent.https_addr().rsplit(':').next().and_then(|p| p.parse().ok()).expect("port");
    assert_eq!(connections_to(port), 3, "what the agent sees");
    no_failed_watch(&routes).expect("no watch failed");

    // A change to the last service (a stream on the third connection) arrives at once.
    let last = &shop[449];
    agent.catalog_check(last, "critical").await;
    let started = Instant::now();
    wait_routes(&portico, "health change", |r| ids(r, "/svc-449").is_empty()).await;
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());

    // The agent restarts (its state is in memory, so it comes back empty):
    // the connections break, are opened again, and the catalog is followed
    // afresh; the emptied routes are kept through the reset grace.
    agent.restart().await;
    let after = CatalogInstance {
        service: "after".into(),
        id: "after-0".into(),
        tags: vec!["portico.route=/after".into()],
        ..CatalogInstance::routed(0, 0, 20_000)
    };
    agent.catalog_register(&[after]).await;
    let refilled = wait_routes(&portico, "after the restart", |r| ids(r, "/after") == ["after-0"]).await;
    assert!(refilled["consul"]["connections"].as_u64().unwrap_or(99) <= 3, "{}", refilled["consul"]);
}
