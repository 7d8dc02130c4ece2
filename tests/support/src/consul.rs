//! A real Consul agent for one test: a dev server, or a client agent joined
//! to one (a cluster on loopback, as in production, where every node runs a
//! client agent and Portico talks to its own).
//!
//! Every listener (HTTP, HTTPS, DNS, serf LAN/WAN, server RPC, gRPC,
//! gRPC-TLS) is moved to a free port, with its own node name and data
//! directory, so any number of agents run side by side. Readiness is what
//! HashiCorp's own test harness waits for: a leader, then the node's
//! `serfHealth` check passing. An agent with ACLs is driven with its
//! management token; one with TLS keeps plain HTTP for the harness and serves
//! HTTPS on [`ConsulAgent::https_addr`].

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::ports::free_port;

/// The `consul` binary: `$CONSUL_BIN`, or whatever `scripts/install-consul.sh` provides.
pub fn consul_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(bin) = std::env::var_os("CONSUL_BIN").map(PathBuf::from).filter(|p| p.is_file()) {
            return bin;
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/install-consul.sh");
        let out = Command::new("bash").arg(&script).stderr(Stdio::inherit()).output();
        let out = out.unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        assert!(out.status.success(), "{} failed", script.display());
        let stdout = String::from_utf8_lossy(&out.stdout);
        let last = stdout.lines().last().unwrap_or_default().trim();
        PathBuf::from(last)
    })
}

/// Ports of one agent.
#[derive(Debug, Clone, Copy)]
pub struct Ports {
    pub http: u16,
    pub dns: u16,
    pub serf_lan: u16,
    pub serf_wan: u16,
    pub server: u16,
    pub grpc: u16,
    pub grpc_tls: u16,
    pub https: u16,
}

impl Ports {
    fn allocate() -> Ports {
        Ports {
            http: free_port(),
            dns: free_port(),
            serf_lan: free_port(),
            serf_wan: free_port(),
            server: free_port(),
            grpc: free_port(),
            grpc_tls: free_port(),
            https: free_port(),
        }
    }
}

/// How to start an agent.
#[derive(Debug, Clone, Default)]
pub struct AgentOptions {
    /// Extra agent configuration (HCL): limits, `acl`, `tls`.
    pub hcl: Option<String>,
    /// Join the server whose serf LAN port this is, as a client agent.
    pub join: Option<u16>,
    /// The token the harness sends (an ACL agent's management token).
    pub token: Option<String>,
    /// The node name (default: from the data directory).
    pub node: Option<String>,
}

/// A running (or stopped) agent; killed when dropped.
pub struct ConsulAgent {
    pub ports: Ports,
    pub node: String,
    options: AgentOptions,
    dir: tempfile::TempDir,
    child: Option<Child>,
    pub(crate) http: reqwest::Client,
}

impl ConsulAgent {
    /// Starts an agent and waits until it is ready.
    pub async fn start() -> ConsulAgent {
        ConsulAgent::start_with_hcl(None).await
    }

    /// Starts an agent with extra configuration, e.g.
    /// `limits { http_max_conns_per_client = 4096 }`.
    pub async fn start_with_hcl(hcl: Option<&str>) -> ConsulAgent {
        ConsulAgent::start_with(AgentOptions { hcl: hcl.map(String::from), ..AgentOptions::default() }).await
    }

    /// Starts a client agent named `node` joined to this (server) agent,
    /// with the same token, and waits until it is ready.
    pub async fn start_client(&self, node: &str, hcl: Option<&str>) -> ConsulAgent {
        let options = AgentOptions {
            hcl: hcl.map(String::from),
            join: Some(self.ports.serf_lan),
            token: self.options.token.clone(),
            node: Some(node.to_string()),
        };
        ConsulAgent::start_with(options).await
    }

    /// Starts an agent as `options` say and waits until it is ready.
    pub async fn start_with(options: AgentOptions) -> ConsulAgent {
        let dir = tempfile::Builder::new().prefix("portico-consul-").tempdir().expect("temp dir");
        let default_node = format!("node-{}", dir.path().file_name().and_then(|n| n.to_str()).unwrap_or("x"));
        let node = options.node.clone().unwrap_or(default_node);
        let mut agent =
            ConsulAgent { ports: Ports::allocate(), node, options, dir, child: None, http: reqwest::Client::new() };
        // A port can still be taken by another process between our check and
        // the agent's bind: then start over on fresh ports.
        for _ in 0..3 {
            match agent.try_launch().await {
                Ok(()) => return agent,
                Err(why) if why.contains("address already in use") => agent.ports = Ports::allocate(),
                Err(why) => panic!("consul agent not ready: {why}"),
            }
        }
        agent.launch().await;
        agent
    }

    /// `http://127.0.0.1:<port>`.
    pub fn addr(&self) -> String {
        format!("http://127.0.0.1:{}", self.ports.http)
    }

    /// `https://127.0.0.1:<port>`, served when the agent's HCL configures TLS.
    pub fn https_addr(&self) -> String {
        format!("https://127.0.0.1:{}", self.ports.https)
    }

    /// The agent's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("consul.log")
    }

    /// Launches the agent; panics with its log when it does not become ready.
    async fn launch(&mut self) {
        if let Err(why) = self.try_launch().await {
            panic!("consul agent not ready: {why}");
        }
    }

    /// Launches the agent and waits for it; the error carries the agent's log.
    async fn try_launch(&mut self) -> Result<(), String> {
        let log = File::options().create(true).append(true).open(self.log_path()).expect("log file");
        let err = log.try_clone().expect("log file");
        let p = self.ports;
        let mut command = Command::new(consul_binary());
        command.arg("agent");
        match self.options.join {
            None => command.arg("-dev"),
            Some(lan) => {
                command.args([format!("-retry-join=127.0.0.1:{lan}"), "-hcl=disable_update_check = true".into()])
            }
        };
        command.args(["-bind=127.0.0.1", "-client=127.0.0.1", "-log-level=info"]);
        if let Some(hcl) = &self.options.hcl {
            command.arg(format!("-hcl={hcl}"));
            if hcl.contains("tls") {
                command.arg(format!("-https-port={}", p.https));
            }
        }
        let child = command
            .arg(format!("-node={}", self.node))
            .arg(format!("-data-dir={}", self.dir.path().join("data").display()))
            .arg(format!("-http-port={}", p.http))
            .arg(format!("-dns-port={}", p.dns))
            .arg(format!("-serf-lan-port={}", p.serf_lan))
            .arg(format!("-serf-wan-port={}", p.serf_wan))
            .arg(format!("-server-port={}", p.server))
            .arg(format!("-grpc-port={}", p.grpc))
            .arg(format!("-grpc-tls-port={}", p.grpc_tls))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", consul_binary().display()));
        self.child = Some(child);
        if let Err(why) = self.wait_ready(Duration::from_secs(30)).await {
            let log = self.log();
            self.kill();
            let _ = std::fs::remove_file(self.log_path());
            return Err(format!("{why}\n--- agent log ---\n{log}"));
        }
        Ok(())
    }

    async fn wait_ready(&mut self, limit: Duration) -> Result<(), String> {
        let deadline = Instant::now() + limit;
        let mut last = String::from("no answer yet");
        while Instant::now() < deadline {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                return Err(format!("agent exited with {status}"));
            }
            match self.readiness().await {
                Ok(()) => return Ok(()),
                Err(why) => last = why,
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(format!("timed out after {limit:?}; last: {last}"))
    }

    async fn readiness(&self) -> Result<(), String> {
        let leader = self.get("/v1/status/leader").await?;
        if leader.as_str().unwrap_or_default().is_empty() {
            return Err("no leader yet".into());
        }
        let checks = self.get(&format!("/v1/health/node/{}", self.node)).await?;
        let serf_passing =
            checks.as_array().into_iter().flatten().any(|c| c["CheckID"] == "serfHealth" && c["Status"] == "passing");
        if serf_passing {
            Ok(())
        } else {
            Err("serfHealth not passing yet".into())
        }
    }

    /// Kills the agent (like a crash); its in-memory state is lost.
    pub fn stop(&mut self) {
        self.kill();
    }

    /// Starts the agent again on the same ports, empty: its raft state is in
    /// memory anyway, and its data directory (where an agent keeps the
    /// services registered with it) is wiped, so nothing comes back.
    pub async fn restart(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(self.dir.path().join("data"));
        self.launch().await;
    }

    /// Starts the agent again on the same ports keeping its data directory,
    /// like a real agent restart: the catalog starts empty (small indexes),
    /// then the agent re-registers the services it had, whose checks start
    /// over.
    pub async fn restart_keeping_registrations(&mut self) {
        self.kill();
        self.launch().await;
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// GET a JSON endpoint.
    pub async fn get(&self, path: &str) -> Result<Value, String> {
        let (_, body) = self.get_with_index(path).await?;
        Ok(body)
    }

    /// GET a JSON endpoint, with its `X-Consul-Index`.
    pub async fn get_with_index(&self, path: &str) -> Result<(u64, Value), String> {
        let response = self.authorized(self.http.get(format!("{}{path}", self.addr())));
        let response = response.send().await.map_err(|e| e.to_string())?;
        let index = response
            .headers()
            .get("x-consul-index")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let status = response.status();
        let text = response.text().await.map_err(|e| e.to_string())?;
        if !status.is_success() {
            return Err(format!("{status}: {text}"));
        }
        let body = serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))?;
        Ok((index, body))
    }

    async fn put(&self, path: &str, body: Option<&Value>) -> Result<(), String> {
        let mut request = self.authorized(self.http.put(format!("{}{path}", self.addr())));
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| e.to_string())?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("PUT {path}: {status}: {}", response.text().await.unwrap_or_default()))
        }
    }

    /// Adds the harness's token, if the agent has one.
    pub(crate) fn authorized(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.options.token {
            Some(token) => request.header("x-consul-token", token),
            None => request,
        }
    }

    /// PUTs a JSON body and returns the JSON answer (ACL policies and tokens).
    pub async fn put_json(&self, path: &str, body: &Value) -> Result<Value, String> {
        let request = self.authorized(self.http.put(format!("{}{path}", self.addr()))).json(body);
        let response = request.send().await.map_err(|e| e.to_string())?;
        let status = response.status();
        let text = response.text().await.map_err(|e| e.to_string())?;
        if !status.is_success() {
            return Err(format!("PUT {path}: {status}: {text}"));
        }
        serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))
    }

    /// Registers a service (`PUT /v1/agent/service/register`).
    pub async fn register(&self, service: &Value) {
        self.put("/v1/agent/service/register", Some(service)).await.expect("register");
    }

    /// Deregisters a service by ID.
    pub async fn deregister(&self, id: &str) {
        self.put(&format!("/v1/agent/service/deregister/{id}"), None).await.expect("deregister");
    }

    /// Sets a TTL check's status (`pass`, `warn` or `fail`).
    pub async fn ttl(&self, check_id: &str, status: &str) {
        self.put(&format!("/v1/agent/check/{status}/{check_id}"), None).await.expect("ttl update");
    }

    /// IDs of the passing instances of `service`.
    pub async fn passing(&self, service: &str) -> Vec<String> {
        let body = self.get(&format!("/v1/health/service/{service}?passing")).await.unwrap_or_default();
        let mut ids: Vec<String> = body
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["Service"]["ID"].as_str().map(String::from))
            .collect();
        ids.sort();
        ids
    }

    /// Waits until the passing instances of `service` are exactly `ids`.
    pub async fn wait_passing(&self, service: &str, ids: &[&str], limit: Duration) {
        let mut want: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
        want.sort();
        let deadline = Instant::now() + limit;
        loop {
            let got = self.passing(service).await;
            if got == want {
                return;
            }
            assert!(Instant::now() < deadline, "{service}: passing {got:?}, wanted {want:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for ConsulAgent {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A registration with an HTTP check on `http://addr/health`, passing from the start.
pub fn http_service(name: &str, id: &str, port: u16, tags: &[&str]) -> Value {
    serde_json::json!({
        "ID": id,
        "Name": name,
        "Tags": tags,
        "Address": "127.0.0.1",
        "Port": port,
        "Check": {
            "CheckID": format!("{id}-http"),
            "HTTP": format!("http://127.0.0.1:{port}/health"),
            "Interval": "1s",
            "Timeout": "500ms",
            "Status": "passing",
            "DeregisterCriticalServiceAfter": "1m"
        }
    })
}

/// A registration with a TTL check the test drives itself, passing from the start.
pub fn ttl_service(name: &str, id: &str, port: u16, tags: &[&str]) -> Value {
    serde_json::json!({
        "ID": id,
        "Name": name,
        "Tags": tags,
        "Address": "127.0.0.1",
        "Port": port,
        "Check": { "CheckID": format!("{id}-ttl"), "TTL": "10m", "Status": "passing" }
    })
}
