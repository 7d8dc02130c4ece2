//! How fast a Consul change reaches traffic, and how hard Portico leans on
//! Consul. Runs the release `portico` binary against a real Consul agent:
//!
//! - 50 trials of: instance registered and passing → first request Portico
//!   sends it; and instance deregistered → last request Portico sends it;
//!   both measured from the moment Consul's health endpoint shows the change
//!   (seen through a blocking query, so without polling delay);
//! - Consul requests per minute when idle, and per health change,
//!   registration and deregistration, with 10 and with
//!   1,000 routed services of 5 instances each;
//! - time and resident memory to build the first snapshot of 1,000 services.
//!
//! `cargo bench --bench propagation` (BENCH_TRIALS, BENCH_IDLE_SECS to change
//! the sizes). Prints a markdown report.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use portico_testkit::consul::ttl_service;
use portico_testkit::ports::free_port;
use portico_testkit::{Backend, ConsulAgent};
use serde_json::Value;

struct Portico {
    child: Child,
    addr: String,
    admin: String,
}

impl Portico {
    async fn start(consul: &ConsulAgent) -> Portico {
        let (listen, admin) = (free_port(), free_port());
        let child = Command::new(env!("CARGO_BIN_EXE_portico"))
            .args(["--listen", &format!("127.0.0.1:{listen}"), "--admin-listen", &format!("127.0.0.1:{admin}")])
            .args(["--consul", &consul.addr(), "--access-log", "false"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start portico");
        let p =
            Portico { child, addr: format!("http://127.0.0.1:{listen}"), admin: format!("http://127.0.0.1:{admin}") };
        while reqwest::get(format!("{}/healthz", p.admin)).await.is_err() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        p
    }

    async fn routes(&self) -> Value {
        reqwest::get(format!("{}/admin/routes", self.admin)).await.expect("admin").json().await.expect("json")
    }

    async fn consul_requests(&self) -> f64 {
        let text = reqwest::get(format!("{}/metrics", self.admin)).await.expect("metrics").text().await.expect("text");
        text.lines()
            .filter(|l| l.starts_with("portico_consul_requests_total"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    fn rss_mb(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        let kb: f64 = status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            .unwrap_or(0.0);
        kb / 1024.0
    }
}

impl Drop for Portico {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Blocks on Consul's health endpoint until `pred` holds for the passing IDs; returns when.
async fn consul_shows(consul: &ConsulAgent, service: &str, pred: impl Fn(&[String]) -> bool) -> Instant {
    let http = reqwest::Client::new();
    let mut index = 0u64;
    loop {
        let url = format!("{}/v1/health/service/{service}?passing&index={index}&wait=5s", consul.addr());
        let response = http.get(url).send().await.expect("consul");
        index = response.headers().get("x-consul-index").and_then(|v| v.to_str().ok()?.parse().ok()).unwrap_or(0);
        let body: Value = response.json().await.expect("json");
        let ids: Vec<String> = body
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["Service"]["ID"].as_str().map(String::from))
            .collect();
        if pred(&ids) {
            return Instant::now();
        }
    }
}

fn percentile(values: &mut [f64], p: f64) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    let rank = ((p / 100.0) * (values.len() as f64 - 1.0)).round() as usize;
    values.get(rank).copied().unwrap_or(f64::NAN)
}

async fn propagation(trials: usize) {
    let consul = ConsulAgent::start().await;
    let base = Backend::start("bench-base").await;
    consul.register(&ttl_service("bench", "bench-base", base.port(), &["portico.route=/bench"])).await;
    let portico = Portico::start(&consul).await;
    while portico.routes().await.to_string().find("bench-base").is_none() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let running = Arc::new(AtomicBool::new(true));
    let load: Vec<_> = (0..2)
        .map(|_| {
            let (url, running) = (format!("{}/bench", portico.addr), running.clone());
            tokio::spawn(async move {
                let http = reqwest::Client::new();
                while running.load(Ordering::Relaxed) {
                    let _ = http.get(&url).send().await;
                }
            })
        })
        .collect();
    let (mut up, mut down) = (Vec::new(), Vec::new());
    for trial in 0..trials {
        let id = format!("bench-{trial}");
        let backend = Backend::start(&id).await;
        consul.register(&ttl_service("bench", &id, backend.port(), &["portico.route=/bench"])).await;
        let shown = consul_shows(&consul, "bench", |ids| ids.contains(&id)).await;
        let deadline = Instant::now() + Duration::from_secs(5);
        while backend.first_request_at().is_none() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        if let Some(first) = backend.first_request_at() {
            up.push(signed_ms(first, shown));
        }
        consul.deregister(&id).await;
        let gone = consul_shows(&consul, "bench", |ids| !ids.contains(&id)).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        if let Some(last) = backend.last_request_at() {
            down.push(signed_ms(last, gone));
        }
    }
    running.store(false, Ordering::Relaxed);
    for l in load {
        let _ = l.await;
    }
    println!("| change | trials | p50 ms | p99 ms | max ms |");
    println!("|---|---|---|---|---|");
    for (name, values) in [("registered → first request", &mut up), ("deregistered → last request", &mut down)] {
        let max = values.iter().copied().fold(f64::MIN, f64::max);
        println!(
            "| {name} | {} | {:.2} | {:.2} | {max:.2} |",
            values.len(),
            percentile(values, 50.0),
            percentile(values, 99.0)
        );
    }
}

fn signed_ms(at: Instant, from: Instant) -> f64 {
    if at >= from {
        at.duration_since(from).as_secs_f64() * 1000.0
    } else {
        -(from.duration_since(at).as_secs_f64() * 1000.0)
    }
}

async fn consul_load(services: usize, idle_secs: u64) {
    // One blocking query per routed service means one connection each: more
    // than Consul's default 200 connections per client address.
    let consul = ConsulAgent::start_with_hcl(Some("limits { http_max_conns_per_client = 4096 }")).await;
    let registrations: Vec<Value> = (0..services)
        .flat_map(|s| {
            (0..5).map(move |i| {
                ttl_service(
                    &format!("svc-{s}"),
                    &format!("svc-{s}-{i}"),
                    10_000 + i,
                    &[&format!("portico.route=/svc-{s}")],
                )
            })
        })
        .collect();
    let consul = Arc::new(consul);
    for chunk in registrations.chunks(64) {
        let tasks: Vec<_> = chunk
            .iter()
            .cloned()
            .map(|r| {
                let consul = consul.clone();
                tokio::spawn(async move { consul.register(&r).await })
            })
            .collect();
        for t in tasks {
            let _ = t.await;
        }
    }
    let started = Instant::now();
    let portico = Portico::start(&consul).await;
    loop {
        if started.elapsed() > Duration::from_secs(300) {
            println!("| {services} × 5 | not complete after 300 s | | | | | | |");
            return;
        }
        let routes = portico.routes().await;
        let ready = routes["routes"].as_array().is_some_and(|r| {
            r.len() == services && r.iter().all(|route| route["instances"].as_array().is_some_and(|i| i.len() == 5))
        });
        if ready {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let first_snapshot = started.elapsed();
    let rss_first = portico.rss_mb();
    let before = portico.consul_requests().await;
    tokio::time::sleep(Duration::from_secs(idle_secs)).await;
    let idle = (portico.consul_requests().await - before) * 60.0 / idle_secs as f64;
    let rss_idle = portico.rss_mb();
    let health = requests_for(&portico, consul.ttl("svc-0-1-ttl", "fail")).await;
    let registration = requests_for(
        &portico,
        consul.register(&ttl_service("svc-0", "svc-0-extra", 11_000, &["portico.route=/svc-0"])),
    )
    .await;
    let deregistration = requests_for(&portico, consul.deregister("svc-0-extra")).await;
    println!(
        "| {services} × 5 | {:.0} ms | {rss_first:.1} MB | {rss_idle:.1} MB | {idle:.1} | {health:.0} | {registration:.0} | {deregistration:.0} |",
        first_snapshot.as_secs_f64() * 1000.0
    );
}

/// Consul requests Portico makes in the 2 s after `change`.
async fn requests_for(portico: &Portico, change: impl std::future::Future<Output = ()>) -> f64 {
    let before = portico.consul_requests().await;
    change.await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    portico.consul_requests().await - before
}

fn main() {
    let trials: usize = std::env::var("BENCH_TRIALS").ok().and_then(|v| v.parse().ok()).unwrap_or(50);
    let idle: u64 = std::env::var("BENCH_IDLE_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(30);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        println!("## Propagation (Consul shows the change → traffic follows)\n");
        propagation(trials).await;
        println!("\n## Consul load and first snapshot\n");
        println!(
            "| services | first snapshot | RSS then | RSS idle | Consul requests/min idle | per health change | per registration | per deregistration |"
        );
        println!("|---|---|---|---|---|---|---|---|");
        for services in [10, 1000] {
            consul_load(services, idle).await;
        }
    });
}
