#![allow(dead_code)] // each benchmark uses part of it
//! What the Consul benchmarks share: the release `portico` binary run as a
//! separate process (so its memory and sockets are its own), and a blocking
//! query that tells the moment Consul shows a change.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use portico_testkit::ports::free_port;
use portico_testkit::ConsulAgent;
use serde_json::Value;

pub struct Portico {
    pub child: Child,
    pub addr: String,
    pub admin: String,
    pub http: reqwest::Client,
}

impl Portico {
    /// Starts `portico` against `consul` with extra environment (`CONSUL_CACERT`, ...).
    pub async fn start(consul: &str, env: &[(&str, &str)]) -> Portico {
        let (listen, admin) = (free_port(), free_port());
        let child = Command::new(env!("CARGO_BIN_EXE_portico"))
            .args(["--listen", &format!("127.0.0.1:{listen}"), "--admin-listen", &format!("127.0.0.1:{admin}")])
            .args(["--consul", consul, "--access-log", "false"])
            .envs(env.iter().copied())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start portico");
        let http = reqwest::Client::new();
        let p = Portico {
            child,
            addr: format!("http://127.0.0.1:{listen}"),
            admin: format!("http://127.0.0.1:{admin}"),
            http,
        };
        while p.http.get(format!("{}/healthz", p.admin)).send().await.is_err() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        p
    }

    pub async fn routes(&self) -> Value {
        let response = self.http.get(format!("{}/admin/routes", self.admin)).send().await.expect("admin");
        response.json().await.expect("json")
    }

    /// Sum of the metric family `name` (all label sets).
    pub async fn metric(&self, name: &str) -> f64 {
        let response = self.http.get(format!("{}/metrics", self.admin)).send().await.expect("metrics");
        let text = response.text().await.expect("text");
        text.lines().filter(|l| l.starts_with(name)).filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).sum()
    }

    /// Consul requests and body bytes read so far.
    pub async fn consul_load(&self) -> (f64, f64) {
        (self.metric("portico_consul_requests_total").await, self.metric("portico_consul_read_bytes_total").await)
    }

    /// Resident memory now, and its high-water mark, in MB.
    pub fn rss_mb(&self) -> (f64, f64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        let kb = |key: &str| -> f64 {
            status
                .lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
                .unwrap_or(0.0)
        };
        (kb("VmRSS:") / 1024.0, kb("VmHWM:") / 1024.0)
    }

    /// Established connections from this process to `port`.
    pub fn connections_to(&self, port: u16) -> usize {
        let out = Command::new("ss").args(["-tnpH", "state", "established"]).output().expect("ss");
        let pid = format!("pid={},", self.child.id());
        let remote = format!(":{port} ");
        String::from_utf8_lossy(&out.stdout).lines().filter(|l| l.contains(&pid) && l.contains(&remote)).count()
    }

    /// Waits until `ready` holds for `/admin/routes`, at most `limit`.
    pub async fn wait_routes(&self, limit: Duration, ready: impl Fn(&Value) -> bool) -> Option<Duration> {
        let started = Instant::now();
        while started.elapsed() < limit {
            if ready(&self.routes().await) {
                return Some(started.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }
}

impl Drop for Portico {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Blocks on Consul's health endpoint until `pred` holds for the passing IDs; returns when.
pub async fn consul_shows(consul: &ConsulAgent, service: &str, pred: impl Fn(&[String]) -> bool) -> Instant {
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

pub fn percentile(values: &mut [f64], p: f64) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    let rank = ((p / 100.0) * (values.len() as f64 - 1.0)).round() as usize;
    values.get(rank).copied().unwrap_or(f64::NAN)
}

/// Milliseconds from `from` to `at`, negative when `at` came first.
pub fn signed_ms(at: Instant, from: Instant) -> f64 {
    if at >= from {
        at.duration_since(from).as_secs_f64() * 1000.0
    } else {
        -(from.duration_since(at).as_secs_f64() * 1000.0)
    }
}

/// Every route of `services` has `per` instances.
pub fn all_routed(routes: &Value, services: usize, per: usize) -> bool {
    routes["routes"].as_array().is_some_and(|r| {
        r.len() >= services
            && r.iter().filter(|route| route["instances"].as_array().is_some_and(|i| i.len() == per)).count()
                >= services
    })
}
