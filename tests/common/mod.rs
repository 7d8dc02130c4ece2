//! Starting Portico in-process for a test, on port-0 listeners.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use portico::config::{Cli, FileConfig};
use portico::{Config, Listeners};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Consul with one `web` instance (`web-1`) routed at `/web`, and Portico in
/// front, configured by `tune`.
pub async fn one_web_instance(
    tune: impl FnOnce(&mut Config),
) -> (portico_testkit::ConsulAgent, portico_testkit::Backend, Portico) {
    let consul = portico_testkit::ConsulAgent::start().await;
    let backend = portico_testkit::Backend::start("web-1").await;
    let registration = portico_testkit::consul::ttl_service("web", "web-1", backend.port(), &["portico.route=/web"]);
    consul.register(&registration).await;
    let mut config = config(&consul.addr());
    tune(&mut config);
    let portico = Portico::start(config).await;
    portico.wait_instances("/web", &["web-1"], Duration::from_secs(5)).await;
    (consul, backend, portico)
}

/// A running gateway; stopped when dropped.
pub struct Portico {
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    /// The HTTPS listener, when the config has TLS.
    pub tls_addr: Option<SocketAddr>,
    /// Notify to reload certificates and JWT keys (what SIGHUP does).
    pub reload: Arc<Notify>,
    pub stop: CancellationToken,
    pub task: Option<JoinHandle<()>>,
    pub http: reqwest::Client,
}

/// A config pointing at `consul`, with test-friendly settings.
pub fn config(consul: &str) -> Config {
    // In-process gateways do not register as replicas unless a test asks.
    let cli = Cli { consul: Some(consul.to_string()), register: Some(false), ..Cli::default() };
    Config::merge(cli, FileConfig::default()).expect("valid test config")
}

impl Portico {
    /// Starts Portico with `config`.
    pub async fn start(config: Config) -> Portico {
        let proxy = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let admin = TcpListener::bind("127.0.0.1:0").await.expect("bind admin");
        let tls = match &config.edge.tls {
            Some(_) => Some(TcpListener::bind("127.0.0.1:0").await.expect("bind tls")),
            None => None,
        };
        let tls_addr = tls.as_ref().map(|l| l.local_addr().expect("addr"));
        let addr = proxy.local_addr().expect("addr");
        let admin_addr = admin.local_addr().expect("addr");
        let stop = CancellationToken::new();
        let reload = Arc::new(Notify::new());
        let run = portico::run_with_reload(config, Listeners { proxy, admin, tls }, stop.clone(), Arc::clone(&reload));
        let task = tokio::spawn(async move {
            run.await.expect("portico runs");
        });
        let http = reqwest::Client::builder().pool_max_idle_per_host(8).build().expect("client");
        Portico { addr, admin: admin_addr, tls_addr, reload, stop, task: Some(task), http }
    }

    /// Starts Portico against a Consul agent with default settings.
    pub async fn for_consul(consul: &str) -> Portico {
        Portico::start(config(consul)).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).send().await.expect("portico answers")
    }

    /// The `X-Instance-Id` that answered `GET path`, or the status if not 200.
    pub async fn who(&self, path: &str) -> Result<String, u16> {
        let response = self.get(path).await;
        if response.status() != 200 {
            return Err(response.status().as_u16());
        }
        Ok(response.headers().get("x-instance-id").and_then(|v| v.to_str().ok()).unwrap_or("?").to_string())
    }

    pub async fn routes(&self) -> Value {
        let url = format!("http://{}/admin/routes", self.admin);
        self.http.get(url).send().await.expect("admin answers").json().await.expect("json")
    }

    /// Instance IDs Portico routes `key` to, per `/admin/routes` (a route's
    /// key is its prefix, preceded by its host if it has one).
    pub async fn instances(&self, key: &str) -> Vec<String> {
        let routes = self.routes().await;
        let route = routes["routes"].as_array().into_iter().flatten().find(|r| r["key"] == key);
        let mut ids: Vec<String> = route
            .map(|r| {
                r["instances"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|i| i["id"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        ids.sort();
        ids
    }

    /// Waits until `prefix` routes to exactly `ids`; returns how long it took.
    pub async fn wait_instances(&self, prefix: &str, ids: &[&str], limit: Duration) -> Duration {
        let start = Instant::now();
        let mut want: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
        want.sort();
        loop {
            let got = self.instances(prefix).await;
            if got == want {
                return start.elapsed();
            }
            assert!(start.elapsed() < limit, "{prefix}: routed to {got:?}, wanted {want:?}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Stops accepting, drains, and waits for the end.
    pub async fn shutdown(mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            task.await.expect("portico stops cleanly");
        }
    }
}

impl Drop for Portico {
    fn drop(&mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
