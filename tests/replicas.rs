//! Several Portico replicas (the real binary, three processes) against one
//! Consul agent: they register and list each other, a killed one drops out
//! within its check interval, a cluster-wide rate limit holds over all three
//! (and is recomputed when one stops), a purge on one reaches the others,
//! two replicas sharing the agent and a port keep their own registrations,
//! and a gateway started with `--register false` stays out of Consul.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use portico_testkit::consul::ttl_service;
use portico_testkit::ports::free_port;
use portico_testkit::{Backend, ConsulAgent};
use serde_json::Value;

/// One Portico process, registered as a replica; killed when dropped.
struct Replica {
    child: Child,
    /// The loopback address it listens on (both listeners).
    ip: &'static str,
    port: u16,
    admin: u16,
    _config: tempfile::NamedTempFile,
    /// Its log, shown when a wait on it fails.
    log: tempfile::NamedTempFile,
}

impl Replica {
    fn start(consul: &ConsulAgent) -> Replica {
        Replica::start_on(consul, free_port(), free_port())
    }

    /// On these ports (a restart takes the same ones), draining for 1 s after SIGTERM.
    fn start_on(consul: &ConsulAgent, port: u16, admin: u16) -> Replica {
        Replica::start_at(consul, "127.0.0.1", port, admin)
    }

    /// On this loopback address and these ports.
    fn start_at(consul: &ConsulAgent, ip: &'static str, port: u16, admin: u16) -> Replica {
        Replica::spawn(consul, ip, port, admin, &[])
    }

    /// A gateway started with `--register false`: not a replica.
    fn start_unregistered(consul: &ConsulAgent) -> Replica {
        Replica::spawn(consul, "127.0.0.1", free_port(), free_port(), &["--register", "false"])
    }

    fn spawn(consul: &ConsulAgent, ip: &'static str, port: u16, admin: u16, extra: &[&str]) -> Replica {
        let config = tempfile::NamedTempFile::new().expect("config file");
        std::fs::write(config.path(), "[cluster]\ncheck_interval = \"1s\"\npurge_wait = \"3s\"\n").expect("write");
        let log = tempfile::NamedTempFile::new().expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_portico"))
            .args(["--listen", &format!("{ip}:{port}"), "--admin-listen", &format!("{ip}:{admin}")])
            .args(["--consul", &consul.addr(), "--access-log", "false", "--drain-delay", "1s", "--config"])
            .arg(config.path())
            .args(extra)
            .env("PORTICO_LOG_FORMAT", "json")
            .stdout(Stdio::null())
            .stderr(log.reopen().expect("log file"))
            .stdin(Stdio::null())
            .spawn()
            .expect("portico starts");
        Replica { child, ip, port, admin, _config: config, log }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}:{}{path}", self.ip, self.port)
    }

    async fn admin(&self, path: &str) -> Value {
        let url = format!("http://{}:{}{path}", self.ip, self.admin);
        match reqwest::get(url).await {
            Ok(response) => response.json().await.unwrap_or(Value::Null),
            Err(_) => Value::Null,
        }
    }

    /// The live replicas it lists.
    async fn listed(&self) -> usize {
        self.admin("/admin/replicas").await["count"].as_u64().unwrap_or(0) as usize
    }

    /// What it says of itself and its last log lines, for a failed wait.
    async fn explain(&self) {
        let (healthz, listed) = (self.admin("/healthz").await, self.admin("/admin/replicas").await);
        let log = std::fs::read_to_string(self.log.path()).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(30).collect();
        eprintln!("replica on port {}: /healthz {healthz}\n/admin/replicas {listed}", self.port);
        for line in tail.into_iter().rev() {
            eprintln!("  {line}");
        }
    }

    /// SIGTERM, then waits for the exit without blocking the runtime (a
    /// blocked runtime would stall the test's own clients mid-request).
    async fn terminate(&mut self) {
        self.signal_term();
        while let Ok(None) = self.child.try_wait() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn signal_term(&self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Waits until every one of `replicas` lists `n` live replicas.
async fn until_all_list(replicas: &[&Replica], n: usize, limit: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let mut all = true;
        for replica in replicas {
            all &= replica.listed().await == n;
        }
        if all {
            return started.elapsed();
        }
        if started.elapsed() >= limit {
            for replica in replicas {
                replica.explain().await;
            }
            panic!("replicas never all listed {n} within {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until `replica` routes `path` to a live instance.
async fn until_routed(replica: &Replica, path: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while reqwest::get(replica.url(path)).await.map(|r| r.status().as_u16()).unwrap_or(0) != 200 {
        assert!(Instant::now() < deadline, "{path} never routed on port {}", replica.port);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn three(consul: &ConsulAgent) -> Vec<Replica> {
    let replicas = vec![Replica::start(consul), Replica::start(consul), Replica::start(consul)];
    // Generous: three processes and their checks starting on a loaded
    // machine; what the tests assert comes after.
    until_all_list(&replicas.iter().collect::<Vec<_>>(), 3, Duration::from_secs(30)).await;
    replicas
}

#[tokio::test]
async fn replicas_list_each_other_and_a_killed_one_drops_out_within_its_check_interval() {
    let consul = ConsulAgent::start().await;
    let mut replicas = three(&consul).await;
    let report = replicas[0].admin("/admin/replicas").await;
    assert_eq!(report["replicas"].as_array().map(Vec::len), Some(3));
    let this: Vec<_> = report["replicas"].as_array().into_iter().flatten().filter(|r| r["self"] == true).collect();
    assert_eq!(this.len(), 1, "{report}");
    assert_eq!(this[0]["port"], replicas[0].port);
    assert_eq!(this[0]["admin"], format!("127.0.0.1:{}", replicas[0].admin));

    // An agent that loses a replica's registration gets it back.
    let id = this[0]["id"].as_str().expect("id").to_string();
    consul.deregister(&id).await;
    until_all_list(&[&replicas[1]], 2, Duration::from_secs(5)).await;
    let took = until_all_list(&replicas.iter().collect::<Vec<_>>(), 3, Duration::from_secs(15)).await;
    eprintln!("a lost registration was back after {took:?}");

    replicas[2].kill();
    let survivors = [&replicas[0], &replicas[1]];
    let took = until_all_list(&survivors, 2, Duration::from_secs(10)).await;
    eprintln!("a SIGKILLed replica dropped out of the others' lists after {took:?}");
    assert!(took < Duration::from_secs(3), "a SIGKILLed replica was listed for {took:?} with a 1 s check");

    // A stopped replica deregisters before it drains (1 s here): gone at once.
    replicas[1].signal_term();
    let took = until_all_list(&[&replicas[0]], 1, Duration::from_secs(10)).await;
    replicas[1].terminate().await;
    eprintln!("a stopped replica dropped out after {took:?}");
    assert!(took < Duration::from_secs(1), "a stopped replica was listed for {took:?}");
}

/// Containers on one host share one agent and all listen on :8080: each
/// replica still has its own registration (found running the compose
/// `replicas` profile, where the second one overwrote the first).
#[tokio::test]
async fn replicas_sharing_an_agent_and_a_port_are_both_listed() {
    let consul = ConsulAgent::start().await;
    let (port, admin) = (free_port(), free_port());
    let first = Replica::start_at(&consul, "127.0.0.1", port, admin);
    let second = Replica::start_at(&consul, "127.0.0.2", port, admin);
    until_all_list(&[&first, &second], 2, Duration::from_secs(30)).await;
    let ids = consul.passing("portico").await;
    assert_eq!(ids.len(), 2, "{ids:?}");
}

/// `--register false`: a gateway that is not a replica leaves nothing in
/// Consul and lists no replica, while the one beside it is listed alone.
#[tokio::test]
async fn a_gateway_started_with_register_false_stays_out_of_consul() {
    let consul = ConsulAgent::start().await;
    let replica = Replica::start(&consul);
    let outsider = Replica::start_unregistered(&consul);
    until_all_list(&[&replica], 1, Duration::from_secs(30)).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while outsider.admin("/healthz").await["status"] != "ok" {
        assert!(Instant::now() < deadline, "the unregistered gateway never became ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let catalog = consul.get("/v1/catalog/service/portico").await.expect("catalog");
    let ports: Vec<_> = catalog.as_array().into_iter().flatten().map(|s| s["ServicePort"].clone()).collect();
    assert_eq!(ports, vec![Value::from(replica.port)], "only the registered replica is in Consul");
    let report = outsider.admin("/admin/replicas").await;
    assert_eq!((report["count"].clone(), report["self"].clone()), (Value::from(0), Value::Null), "{report}");
}

/// Sends `n` requests to `path`, dealt round-robin over `replicas`; how many were allowed.
async fn allowed(replicas: &[&Replica], path: &str, n: usize) -> usize {
    let client = reqwest::Client::new();
    let mut ok = 0;
    for i in 0..n {
        let response = client.get(replicas[i % replicas.len()].url(path)).send().await.expect("response");
        match response.status().as_u16() {
            200 => ok += 1,
            429 => {}
            other => panic!("unexpected status {other}"),
        }
    }
    ok
}

#[tokio::test]
async fn a_cluster_wide_limit_holds_over_three_replicas_and_follows_their_number() {
    let consul = ConsulAgent::start().await;
    let backend = Backend::start("web-1").await;
    for (service, route) in [("limited", "/limited"), ("halved", "/halved")] {
        let tags = [&format!("portico.route={route}") as &str, "portico.rate-limit=60/m"];
        consul.register(&ttl_service(service, &format!("{service}-1"), backend.port(), &tags)).await;
    }
    let mut replicas = three(&consul).await;
    for replica in &replicas {
        until_routed(replica, "/limited/warm-up").await;
        until_routed(replica, "/halved/warm-up").await;
    }
    let all: Vec<&Replica> = replicas.iter().collect();
    // The warm-up used 1 of 60 on each route from each replica's share.
    let first = allowed(&all, "/limited/x", 150).await + 3;
    assert!((51..=69).contains(&first), "{first} of 60/min allowed over three replicas");

    let before = allowed(&all, "/halved/x", 42).await + 3;
    assert_eq!(before, 45, "within the limit, nothing refused");
    replicas[2].terminate().await;
    let two = [&replicas[0], &replicas[1]];
    until_all_list(&two, 2, Duration::from_secs(10)).await;
    let after = allowed(&two, "/halved/x", 100).await;
    let total = before + after;
    eprintln!(
        "60/min over replicas: {first} allowed over three; {before} + {after} = {total} with one stopped halfway"
    );
    assert!((51..=69).contains(&total), "{total} of 60/min allowed: {before} over three replicas, {after} over two");
}

#[tokio::test]
async fn a_purge_on_one_replica_empties_the_entry_on_all_three() {
    let consul = ConsulAgent::start().await;
    let backend = Backend::start("web-1").await;
    let tags = ["portico.route=/cached", "portico.cache=60s"];
    consul.register(&ttl_service("cached", "cached-1", backend.port(), &tags)).await;
    let replicas = three(&consul).await;
    let x_cache = |r: &reqwest::Response| r.headers().get("x-cache").map(|v| v.to_str().unwrap_or("").to_string());
    for replica in &replicas {
        until_routed(replica, "/cached/item").await;
        let again = reqwest::get(replica.url("/cached/item")).await.expect("response");
        assert_eq!(x_cache(&again).as_deref(), Some("HIT"));
    }
    let url = format!("http://127.0.0.1:{}/admin/cache?route=/cached", replicas[0].admin);
    let answer: Value = reqwest::Client::new().delete(url).send().await.expect("purge").json().await.expect("json");
    assert_eq!(answer["purged"], 1, "{answer}");
    assert_eq!(answer["replicas"]["live"], 3, "{answer}");
    assert_eq!(answer["replicas"]["acknowledged"], 3, "{answer}");
    for replica in &replicas {
        let after = reqwest::get(replica.url("/cached/item")).await.expect("response");
        assert_eq!(x_cache(&after).as_deref(), Some("MISS"), "port {}", replica.port);
    }
}

/// HAProxy in TCP mode in front of `replicas`, checking each one's
/// `/healthz` every 200 ms; killed when dropped.
struct Haproxy {
    child: Child,
    port: u16,
    _config: tempfile::NamedTempFile,
}

impl Haproxy {
    fn start(replicas: &[&Replica]) -> Option<Haproxy> {
        let port = free_port();
        let servers: String = replicas
            .iter()
            .enumerate()
            .map(|(i, r)| format!("    server r{i} 127.0.0.1:{} check port {}\n", r.port, r.admin))
            .collect();
        let text = format!(
            "global\n    maxconn 2000\ndefaults\n    mode tcp\n    timeout connect 1s\n    timeout client 10s\n    \
             timeout server 10s\nfrontend edge\n    bind 127.0.0.1:{port}\n    default_backend replicas\n\
             backend replicas\n    balance roundrobin\n    option httpchk\n    http-check send meth GET uri /healthz\n    \
             default-server inter 200ms fall 1 rise 1\n{servers}"
        );
        let config = tempfile::NamedTempFile::new().expect("config file");
        std::fs::write(config.path(), text).expect("write");
        let child = Command::new("haproxy").arg("-db").arg("-f").arg(config.path()).stdout(Stdio::null()).spawn();
        match child {
            Ok(child) => Some(Haproxy { child, port, _config: config }),
            Err(_) => {
                assert!(std::env::var("CI").is_err(), "haproxy is required in CI");
                eprintln!("skipped: haproxy is not installed");
                None
            }
        }
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_behind_haproxy_fails_no_request() {
    let consul = ConsulAgent::start().await;
    let backend = Backend::start("web-1").await;
    consul.register(&ttl_service("web", "web-1", backend.port(), &["portico.route=/web"])).await;
    let mut replicas = vec![Replica::start(&consul), Replica::start(&consul)];
    for replica in &replicas {
        until_routed(replica, "/web").await;
    }
    let Some(haproxy) = Haproxy::start(&replicas.iter().collect::<Vec<_>>()) else { return };
    let url = format!("http://127.0.0.1:{}/web", haproxy.port);
    let deadline = Instant::now() + Duration::from_secs(10);
    while reqwest::get(&url).await.map(|r| r.status().as_u16()).unwrap_or(0) != 200 {
        assert!(Instant::now() < deadline, "haproxy never served");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A new connection per request, so each one is balanced afresh.
    let stop = tokio_util::sync::CancellationToken::new();
    let load = {
        let (url, stop) = (url.clone(), stop.clone());
        tokio::spawn(async move {
            let client = reqwest::Client::builder().pool_max_idle_per_host(0).build().expect("client");
            let (mut ok, mut failed) = (0u32, 0u32);
            while !stop.is_cancelled() {
                match client.get(&url).send().await.map(|r| r.status().as_u16()) {
                    Ok(200) => ok += 1,
                    other => {
                        failed += 1;
                        eprintln!("failed request: {other:?}");
                    }
                }
            }
            (ok, failed)
        })
    };
    for replica in replicas.iter_mut() {
        let (port, admin) = (replica.port, replica.admin);
        replica.terminate().await;
        *replica = Replica::start_on(&consul, port, admin);
        until_routed(replica, "/web").await;
        tokio::time::sleep(Duration::from_millis(500)).await; // HAProxy's checks see it up
    }
    stop.cancel();
    let (ok, failed) = load.await.expect("load");
    eprintln!("rolling restart of two replicas behind HAProxy: {ok} requests served, {failed} failed");
    assert!(ok > 100, "only {ok} requests");
    assert_eq!(failed, 0);
}
