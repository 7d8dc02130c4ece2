//! Chaos: steady GETs through Portico while backend *processes* come and go
//! (graceful SIGTERM, SIGKILL) and while the Consul agent is down for 10 s.
//! Every scenario must end with 0 failed requests, and prints its counts.
//!
//! The backend processes are this test binary run again with the ignored
//! test `backend_process` selected, so they need no separate build.

mod common;

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Portico;
use portico_testkit::consul::http_service;
use portico_testkit::{Backend, ConsulAgent};

const ROUTE: &[&str] = &["portico.route=/web"];

/// The backend process itself: serves, registers with an HTTP check, and on
/// SIGTERM deregisters, drains briefly, then exits.
#[tokio::test]
#[ignore = "started by the chaos tests as a backend process"]
async fn backend_process() {
    let (Ok(id), Ok(consul)) = (std::env::var("CHAOS_BACKEND_ID"), std::env::var("CHAOS_CONSUL")) else { return };
    let backend = Backend::start(&id).await;
    let http = reqwest::Client::new();
    let registration = http_service("web", &id, backend.port(), ROUTE);
    let registered = http.put(format!("{consul}/v1/agent/service/register")).json(&registration).send().await;
    assert!(registered.is_ok_and(|r| r.status().is_success()), "registration failed");
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("signal handler");
    term.recv().await;
    let _ = http.put(format!("{consul}/v1/agent/service/deregister/{id}")).send().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
}

/// A running backend process; SIGKILLed if still alive when dropped.
struct Process {
    id: String,
    child: Child,
}

impl Process {
    fn start(id: &str, consul: &ConsulAgent) -> Process {
        let child = Command::new(std::env::current_exe().expect("test binary"))
            .args(["backend_process", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
            .env("CHAOS_BACKEND_ID", id)
            .env("CHAOS_CONSUL", consul.addr())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn backend process");
        Process { id: id.to_string(), child }
    }

    fn signal(&self, signal: &str) {
        let _ = Command::new("kill").args([signal, &self.child.id().to_string()]).status();
    }

    /// SIGTERM, then wait for the process to finish draining.
    async fn terminate(mut self) {
        self.signal("-TERM");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !matches!(self.child.try_wait(), Ok(Some(_))) {
            assert!(Instant::now() < deadline, "{} ignored SIGTERM", self.id);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Counts of a load run.
#[derive(Default)]
struct Counts {
    sent: AtomicU64,
    succeeded: AtomicU64,
    failed: AtomicU64,
}

/// Four loops of GETs until `stop` or the time or count bound runs out.
fn steady_load(portico: Arc<Portico>, counts: Arc<Counts>, limit: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let deadline = Instant::now() + limit;
        let loops = (0..4).map(|_| {
            let (portico, counts) = (portico.clone(), counts.clone());
            tokio::spawn(async move {
                while Instant::now() < deadline && counts.sent.load(Ordering::Relaxed) < 200_000 {
                    counts.sent.fetch_add(1, Ordering::Relaxed);
                    match portico.who("/web/item").await {
                        Ok(_) => counts.succeeded.fetch_add(1, Ordering::Relaxed),
                        Err(status) => {
                            eprintln!("failed request: {status}");
                            counts.failed.fetch_add(1, Ordering::Relaxed)
                        }
                    };
                }
            })
        });
        for l in loops.collect::<Vec<_>>() {
            let _ = l.await;
        }
    })
}

async fn retries(portico: &Portico) -> u64 {
    let url = format!("http://{}/metrics", portico.admin);
    let text = portico.http.get(url).send().await.expect("metrics").text().await.expect("text");
    text.lines()
        .filter(|l| l.starts_with("portico_retries_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

async fn report(name: &str, portico: &Portico, counts: &Counts) {
    let (sent, ok, failed) = (
        counts.sent.load(Ordering::Relaxed),
        counts.succeeded.load(Ordering::Relaxed),
        counts.failed.load(Ordering::Relaxed),
    );
    println!("{name}: sent {sent}, succeeded {ok}, retried {}, failed {failed}", retries(portico).await);
    assert!(sent > 200, "{name}: the load ran");
    assert_eq!(failed, 0, "{name}: no request may fail");
}

fn ids(prefix: &str, n: std::ops::Range<usize>) -> Vec<String> {
    n.map(|i| format!("{prefix}-{i}")).collect()
}

async fn start_routed(consul: &ConsulAgent, portico: &Portico, names: &[String]) -> Vec<Process> {
    let processes: Vec<Process> = names.iter().map(|id| Process::start(id, consul)).collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let routed = portico.instances("/web").await;
        if names.iter().all(|n| routed.contains(n)) {
            break;
        }
        assert!(Instant::now() < deadline, "{names:?} never routed; routed: {routed:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    processes
}

#[tokio::test]
async fn scaling_3_to_6_to_1_with_graceful_sigterm_fails_nothing() {
    let consul = ConsulAgent::start().await;
    let portico = Arc::new(Portico::for_consul(&consul.addr()).await);
    let mut running = start_routed(&consul, &portico, &ids("web", 0..3)).await;
    let counts = Arc::new(Counts::default());
    let load = steady_load(portico.clone(), counts.clone(), Duration::from_secs(8));

    tokio::time::sleep(Duration::from_millis(500)).await;
    running.extend(start_routed(&consul, &portico, &ids("web", 3..6)).await);
    assert_eq!(portico.instances("/web").await.len(), 6);
    tokio::time::sleep(Duration::from_millis(500)).await;
    while running.len() > 1 {
        let leaving = running.remove(0);
        leaving.terminate().await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    portico.wait_instances("/web", &[&running[0].id], Duration::from_secs(5)).await;
    load.await.expect("load");
    report("3 -> 6 -> 1 by SIGTERM", &portico, &counts).await;
}

#[tokio::test]
async fn a_sigkilled_instance_fails_nothing_and_is_ejected_within_a_second() {
    let consul = ConsulAgent::start().await;
    let portico = Arc::new(Portico::for_consul(&consul.addr()).await);
    let running = start_routed(&consul, &portico, &ids("web", 0..3)).await;
    let counts = Arc::new(Counts::default());
    let load = steady_load(portico.clone(), counts.clone(), Duration::from_secs(5));

    tokio::time::sleep(Duration::from_millis(500)).await;
    let victim = &running[0];
    victim.signal("-KILL");
    let killed = Instant::now();
    let ejected = loop {
        let routes = portico.routes().await;
        let instance = routes["routes"][0]["instances"]
            .as_array()
            .and_then(|list| list.iter().find(|i| i["id"] == victim.id.as_str()).cloned());
        match instance {
            Some(i) if i["state"] == "ejected" => break killed.elapsed(),
            None => break killed.elapsed(),
            _ => {}
        }
        assert!(killed.elapsed() < Duration::from_secs(1), "{} not ejected within a second", victim.id);
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    println!("{} taken out of rotation {ejected:?} after SIGKILL", victim.id);
    load.await.expect("load");
    report("SIGKILL one of 3", &portico, &counts).await;
    assert!(retries(&portico).await > 0, "the dead instance's failures were retried elsewhere");
}

#[tokio::test]
async fn a_consul_outage_of_10_s_fails_nothing_and_new_instances_are_followed() {
    let mut consul = ConsulAgent::start().await;
    let portico = Arc::new(Portico::for_consul(&consul.addr()).await);
    let running = start_routed(&consul, &portico, &ids("web", 0..2)).await;
    let counts = Arc::new(Counts::default());
    let load = steady_load(portico.clone(), counts.clone(), Duration::from_secs(15));

    tokio::time::sleep(Duration::from_millis(500)).await;
    consul.stop();
    tokio::time::sleep(Duration::from_secs(10)).await;
    consul.restart().await;
    let newcomer = start_routed(&consul, &portico, &ids("late", 0..1)).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    let served_by_newcomer = loop {
        if portico.who("/web").await.as_deref() == Ok(newcomer[0].id.as_str()) {
            break true;
        }
        if Instant::now() > deadline {
            break false;
        }
    };
    assert!(served_by_newcomer, "the instance registered after the restart receives traffic");
    load.await.expect("load");
    report("Consul down for 10 s", &portico, &counts).await;
    drop(running);
}

#[tokio::test]
async fn without_the_reset_grace_an_empty_restarted_agent_would_drop_the_route() {
    let mut consul = ConsulAgent::start().await;
    let mut config = common::config(&consul.addr());
    config.consul.reset_grace = Duration::ZERO;
    let portico = Portico::start(config).await;
    let _running = start_routed(&consul, &portico, &ids("web", 0..1)).await;
    consul.restart().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while portico.get("/web").await.status() != 404 {
        assert!(Instant::now() < deadline, "the route should go with the empty catalog");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
