//! Ten thousand routed services against one real Consul agent with its
//! default limits (200 connections per client address). For 10, 1,000 and
//! 10,000 services × 3 instances, written into the catalog of one agent that
//! serves both plain HTTP and HTTPS, the release `portico` binary is run
//! against each listener in turn:
//!
//! - plain HTTP: a long poll per service up to the connection budget (100),
//!   the rest followed through the shared feed on every check;
//! - HTTPS: every service a long poll of its own, 200 to an HTTP/2 connection.
//!
//! Reported per run: first full snapshot (time, peak RSS), idle RSS,
//! connections to the agent (counted with `ss`), Consul requests per idle
//! minute, requests and body bytes per change (a health change, a new
//! instance, its deregistration, a new service), and, at the largest size,
//! the propagation from Consul showing a change to traffic (p50/p99 over
//! BENCH_TRIALS trials of each kind).
//!
//! `cargo bench --bench scale` (BENCH_SIZES=10,1000,10000, BENCH_TRIALS=20,
//! BENCH_IDLE_SECS=30). Prints markdown tables.

#[path = "../tests/common/pki.rs"]
mod pki;
mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use portico_testkit::catalog::CatalogInstance;
use portico_testkit::consul::AgentOptions;
use portico_testkit::{Backend, ConsulAgent};
use support::{all_routed, consul_shows, percentile, signed_ms, Portico};

const PER: usize = 3;

/// An agent serving HTTPS (certificate from a CA made here) and plain HTTP.
async fn agent(dir: &std::path::Path) -> (ConsulAgent, std::path::PathBuf) {
    let ca = pki::Authority::new(dir, "consul-ca");
    let hcl = ca.agent_https_hcl();
    let agent = ConsulAgent::start_with(AgentOptions { hcl: Some(hcl), ..AgentOptions::default() }).await;
    (agent, ca.cert.clone())
}

fn port_of(address: &str) -> u16 {
    address.rsplit(':').next().and_then(|p| p.parse().ok()).expect("port")
}

fn instance(service: &str, id: &str, node: &str, port: u16, prefix: &str) -> CatalogInstance {
    CatalogInstance {
        node: node.into(),
        service: service.into(),
        id: id.into(),
        port,
        tags: vec![format!("portico.route={prefix}")],
        status: "passing",
    }
}

/// Requests and bytes Portico spends on Consul in the 2 s after `change`.
async fn cost_of(portico: &Portico, change: impl std::future::Future<Output = ()>) -> (f64, f64) {
    let (requests, bytes) = portico.consul_load().await;
    change.await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (requests_after, bytes_after) = portico.consul_load().await;
    (requests_after - requests, bytes_after - bytes)
}

fn kb(bytes: f64) -> String {
    format!("{:.1} KB", bytes / 1024.0)
}

async fn run(agent: &ConsulAgent, ca: &str, https: bool, services: usize, idle: u64) -> Option<Portico> {
    let (address, env) = if https { (agent.https_addr(), vec![("CONSUL_CACERT", ca)]) } else { (agent.addr(), vec![]) };
    let started = Instant::now();
    let portico = Portico::start(&address, &env).await;
    let full = portico.wait_routes(Duration::from_secs(600), |r| all_routed(r, services, PER)).await;
    let label = if https { "https (HTTP/2)" } else { "http" };
    let Some(_) = full else {
        println!("| {services} | {label} | not complete after 600 s | | | | | | | | | |");
        return None;
    };
    let first = started.elapsed();
    let (_, peak) = portico.rss_mb();
    let connections = portico.connections_to(port_of(&address));
    let (requests, _) = portico.consul_load().await;
    tokio::time::sleep(Duration::from_secs(idle)).await;
    let idle_rate = (portico.consul_load().await.0 - requests) * 60.0 / idle as f64;
    let (rss, _) = portico.rss_mb();
    let target = instance("svc-0", "svc-0-1", "node-1", 20_001, "/svc-0");
    let health = cost_of(&portico, agent.catalog_check(&target, "critical")).await;
    agent.catalog_check(&target, "passing").await;
    let extra = instance("svc-0", "svc-0-extra", "node-9", 20_009, "/svc-0");
    let added = cost_of(&portico, agent.catalog_register(std::slice::from_ref(&extra))).await;
    let removed = cost_of(&portico, agent.catalog_deregister(&extra)).await;
    let fresh = instance(&format!("fresh-{https}"), "fresh-0", "node-0", 20_010, &format!("/fresh-{https}"));
    let new_service = cost_of(&portico, agent.catalog_register(std::slice::from_ref(&fresh))).await;
    agent.catalog_deregister(&fresh).await;
    let cell = |(r, b): (f64, f64)| format!("{r:.0} / {}", kb(b));
    println!(
        "| {services} | {label} | {:.1} s | {peak:.0} MB | {rss:.0} MB | {:.1} KB | {connections} | {idle_rate:.1} | {} | {} | {} | {} |",
        first.as_secs_f64(),
        rss * 1024.0 / services as f64,
        cell(health),
        cell(added),
        cell(removed),
        cell(new_service),
    );
    Some(portico)
}

/// Client loops sending `GET path` through Portico until dropped.
struct Load(Arc<AtomicBool>);

impl Load {
    fn start(portico: &Portico, path: &str, loops: usize) -> Load {
        let running = Arc::new(AtomicBool::new(true));
        for _ in 0..loops {
            let (url, running, http) = (format!("{}{path}", portico.addr), running.clone(), reqwest::Client::new());
            tokio::spawn(async move {
                while running.load(Ordering::Relaxed) {
                    if http.get(&url).send().await.is_err() {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                }
            });
        }
        Load(running)
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Relaxed);
    }
}

/// p50, p99 and max of each kind of change, in ms from Consul showing it to
/// traffic: one table row per kind.
async fn propagation(agent: &ConsulAgent, portico: &Portico, label: &str, trials: usize) -> Vec<String> {
    let (a, b) = (Backend::start("probe-a").await, Backend::start("probe-b").await);
    let probe_a = instance("probe", "probe-a", "node-0", a.port(), "/probe");
    let probe_b = instance("probe", "probe-b", "node-1", b.port(), "/probe");
    agent.catalog_register(&[probe_a, probe_b.clone()]).await;
    portico.wait_routes(Duration::from_secs(30), |r| r.to_string().contains("probe-b")).await;
    let _load = Load::start(portico, "/probe", 2);
    let (mut health, mut joined, mut created) = (Vec::new(), Vec::new(), Vec::new());
    for trial in 0..trials {
        agent.catalog_check(&probe_b, "critical").await;
        let shown = consul_shows(agent, "probe", |ids| !ids.iter().any(|i| i == "probe-b")).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        if let Some(last) = b.last_request_at() {
            health.push(signed_ms(last, shown));
        }
        agent.catalog_check(&probe_b, "passing").await;

        let backend = Backend::start("probe-new").await;
        let id = format!("probe-new-{trial}");
        let joiner = instance("probe", &id, "node-2", backend.port(), "/probe");
        agent.catalog_register(std::slice::from_ref(&joiner)).await;
        let shown = consul_shows(agent, "probe", |ids| ids.contains(&id)).await;
        if let Some(first) = wait_first(&backend).await {
            joined.push(signed_ms(first, shown));
        }
        agent.catalog_deregister(&joiner).await;

        let backend = Backend::start("created").await;
        let service = format!("created-{label}-{trial}");
        let prefix = format!("/{service}");
        let _knocking = Load::start(portico, &prefix, 1);
        let new = instance(&service, &service, "node-0", backend.port(), &prefix);
        agent.catalog_register(std::slice::from_ref(&new)).await;
        let shown = consul_shows(agent, &service, |ids| !ids.is_empty()).await;
        if let Some(first) = wait_first(&backend).await {
            created.push(signed_ms(first, shown));
        }
        agent.catalog_deregister(&new).await;
    }
    let mut rows = Vec::new();
    for (kind, values) in [("health change", &mut health), ("new instance", &mut joined), ("new service", &mut created)]
    {
        let max = values.iter().copied().fold(f64::MIN, f64::max);
        let (p50, p99) = (percentile(values, 50.0), percentile(values, 99.0));
        rows.push(format!("| {label} | {kind} | {} | {p50:.1} | {p99:.1} | {max:.1} |", values.len()));
    }
    rows
}

async fn wait_first(backend: &Backend) -> Option<Instant> {
    let deadline = Instant::now() + Duration::from_secs(5);
    while backend.first_request_at().is_none() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    backend.first_request_at()
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    let sizes: Vec<usize> = std::env::var("BENCH_SIZES")
        .unwrap_or_else(|_| "10,1000,10000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let (trials, idle) = (env_or("BENCH_TRIALS", 20usize), env_or("BENCH_IDLE_SECS", 30u64));
    let largest = sizes.iter().copied().max().unwrap_or(0);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        println!("## Routed services × {PER} instances, one agent with default limits\n");
        println!("Cells per change: Consul requests / body bytes read in the 2 s after it.\n");
        println!("| services | agent API | first snapshot | peak RSS | idle RSS | RSS per service | connections | requests/min idle | health change | new instance | deregistration | new service |");
        println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
        let mut rows = Vec::new();
        for &services in &sizes {
            let dir = tempfile::tempdir().expect("dir");
            let (agent, ca) = agent(dir.path()).await;
            let started = Instant::now();
            let shop: Vec<CatalogInstance> = (0..services)
                .flat_map(|s| (0..PER).map(move |i| CatalogInstance::routed(s, i, 20_000 + i as u16)))
                .collect();
            agent.catalog_register(&shop).await;
            eprintln!("registered {} instances in {:.1} s", shop.len(), started.elapsed().as_secs_f64());
            for https in [false, true] {
                // One Portico at a time, as each replica is in production.
                let portico = run(&agent, &ca.display().to_string(), https, services, idle).await;
                if let (Some(portico), true) = (portico, services == largest) {
                    let label = if https { "https" } else { "http" };
                    rows.extend(propagation(&agent, &portico, label, trials).await);
                }
            }
            drop(dir);
        }
        println!("\n## Propagation at {largest} services (Consul shows the change → traffic follows)\n");
        println!("| agent API | change | trials | p50 ms | p99 ms | max ms |");
        println!("|---|---|---|---|---|---|");
        for row in rows {
            println!("{row}");
        }
    });
}
