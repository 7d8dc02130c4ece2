//! How fast a Consul change reaches traffic. Runs the release `portico`
//! binary against a real Consul agent: 50 trials of an instance registered
//! and passing → first request Portico sends it, and an instance
//! deregistered → last request Portico sends it, both measured from the
//! moment Consul's health endpoint shows the change (seen through a blocking
//! query, so without polling delay). The same at ten thousand services, and
//! what Portico costs Consul, is `benches/scale.rs`.
//!
//! `cargo bench --bench propagation` (BENCH_TRIALS to change the count).
//! Prints a markdown report.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use portico_testkit::consul::ttl_service;
use portico_testkit::{Backend, ConsulAgent};
use support::{consul_shows, percentile, signed_ms, Portico};

async fn propagation(trials: usize) {
    let consul = ConsulAgent::start().await;
    let base = Backend::start("bench-base").await;
    consul.register(&ttl_service("bench", "bench-base", base.port(), &["portico.route=/bench"])).await;
    let portico = Portico::start(&consul.addr(), &[]).await;
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

fn main() {
    let trials: usize = std::env::var("BENCH_TRIALS").ok().and_then(|v| v.parse().ok()).unwrap_or(50);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        println!("## Propagation (Consul shows the change → traffic follows)\n");
        propagation(trials).await;
    });
}
