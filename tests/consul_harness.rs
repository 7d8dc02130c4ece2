//! The real-Consul harness itself: agents side by side, health checks that
//! really run, restarts that really lose state, and no process left behind.

use std::time::Duration;

use portico_testkit::{Backend, ConsulAgent};
use serde_json::json;

#[tokio::test]
async fn two_agents_run_side_by_side_and_run_http_checks() {
    let (a, b) = tokio::join!(ConsulAgent::start(), ConsulAgent::start());
    assert_ne!(a.ports.http, b.ports.http);
    for (agent, name) in [(&a, "alpha"), (&b, "beta")] {
        let backend = Backend::start(&format!("{name}-1")).await;
        // No initial status: the check starts critical and must really pass.
        agent
            .register(&json!({
                "ID": format!("{name}-1"), "Name": name, "Address": "127.0.0.1", "Port": backend.port(),
                "Check": { "HTTP": format!("http://127.0.0.1:{}/health", backend.port()), "Interval": "1s", "Timeout": "1s" }
            }))
            .await;
        agent.wait_passing(name, &[&format!("{name}-1")], Duration::from_secs(10)).await;
        let body = agent.get(&format!("/v1/health/service/{name}?passing")).await.expect("health");
        assert_eq!(body[0]["Service"]["Port"], backend.port());
        assert_eq!(body[0]["Node"]["Node"], agent.node);
        // Each agent only knows its own service.
        let other = if name == "alpha" { "beta" } else { "alpha" };
        assert!(agent.passing(other).await.is_empty());
    }
}

#[tokio::test]
async fn a_restarted_dev_agent_comes_back_empty_with_a_small_index() {
    let mut agent = ConsulAgent::start().await;
    for i in 0..20 {
        agent.register(&portico_testkit::consul::ttl_service("churn", &format!("churn-{i}"), 9000 + i, &[])).await;
    }
    let (before, _) = agent.get_with_index("/v1/catalog/services").await.expect("catalog");
    agent.restart().await;
    let (after, _) = agent.get_with_index("/v1/catalog/services").await.expect("catalog");
    println!("catalog index before restart {before}, after {after}");
    assert!(after < before, "index went from {before} to {after}");
    // Give anti-entropy time to re-register anything it kept: nothing comes back.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let services = agent.get("/v1/catalog/services").await.expect("catalog");
    assert!(services.get("churn").is_none(), "state is gone: {services}");
}

#[tokio::test]
async fn a_restart_keeping_data_brings_registrations_back() {
    let mut agent = ConsulAgent::start().await;
    agent.register(&portico_testkit::consul::ttl_service("kept", "kept-1", 9000, &[])).await;
    let (before, _) = agent.get_with_index("/v1/catalog/services").await.expect("catalog");
    agent.restart_keeping_registrations().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (index, services) = agent.get_with_index("/v1/catalog/services").await.expect("catalog");
        if services.get("kept").is_some() {
            println!("catalog index before restart {before}, with the registration back {index}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the agent re-registers what it kept: {services}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn dropping_the_handle_kills_the_agent() {
    let agent = ConsulAgent::start().await;
    let port = agent.ports.http;
    drop(agent);
    let refused = tokio::net::TcpStream::connect(("127.0.0.1", port)).await;
    assert!(refused.is_err(), "nothing listens on {port} any more");
}

#[tokio::test]
async fn a_stopped_agent_refuses_connections_until_restarted() {
    let mut agent = ConsulAgent::start().await;
    agent.stop();
    assert!(agent.get("/v1/status/leader").await.is_err());
    agent.restart().await;
    assert!(agent.get("/v1/status/leader").await.is_ok());
}
