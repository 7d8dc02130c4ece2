//! Portico against a production-shaped Consul, all on loopback: a cluster
//! (a dev server and client agents joined to it, Portico reading a client
//! agent), TLS on the agent's API with and without client certificates, and
//! default-deny ACLs with the least-privilege policy the README documents.

mod common;
#[path = "common/pki.rs"]
mod pki;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{config, Portico};
use portico::config::ConsulTls;
use portico_testkit::consul::{ttl_service, AgentOptions};
use portico_testkit::{Backend, ConsulAgent};
use serde_json::{json, Value};

const ROUTE: &[&str] = &["portico.route=/web"];

/// The policy the README tells operators to give Portico's token.
const POLICY: &str = "service_prefix \"\" { policy = \"read\" }\nnode_prefix \"\" { policy = \"read\" }\n";

/// The `watches` entry of `/admin/routes` for `watch`, once `ready` holds.
async fn wait_watch(portico: &Portico, watch: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let report = portico.routes().await["watches"][watch].clone();
        if ready(&report) {
            return report;
        }
        assert!(Instant::now() < deadline, "watch {watch}: {report}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `/admin/routes` instances of `prefix` as (ID, node), sorted.
async fn instances_with_nodes(portico: &Portico, prefix: &str) -> Vec<(String, String)> {
    let routes = portico.routes().await;
    let route = routes["routes"].as_array().into_iter().flatten().find(|r| r["prefix"] == prefix).cloned();
    let mut out: Vec<(String, String)> = route
        .and_then(|r| r["instances"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .map(|i| (i["id"].as_str().unwrap_or("").to_string(), i["node"].as_str().unwrap_or("").to_string()))
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn one_service_id_on_two_nodes_is_two_instances_and_one_leaving_fails_nothing() {
    let server = ConsulAgent::start().await;
    let (node_a, node_b) = (server.start_client("node-a", None).await, server.start_client("node-b", None).await);
    let (web_a, web_b) = (Backend::start("web@node-a").await, Backend::start("web@node-b").await);
    // Consul's default: the service ID is the service name, on each node.
    node_a.register(&ttl_service("web", "web", web_a.port(), ROUTE)).await;
    node_b.register(&ttl_service("web", "web", web_b.port(), ROUTE)).await;
    let portico = Portico::for_consul(&node_a.addr()).await;
    portico.wait_instances("/web", &["web", "web"], Duration::from_secs(10)).await;
    let want = vec![("web".to_string(), "node-a".to_string()), ("web".to_string(), "node-b".to_string())];
    assert_eq!(instances_with_nodes(&portico, "/web").await, want, "/admin/routes shows each instance's node");

    let mut seen = Vec::new();
    for _ in 0..10 {
        seen.push(portico.who("/web/x").await.expect("200"));
    }
    for pair in seen.windows(2) {
        assert_ne!(pair[0], pair[1], "round-robin between the two nodes: {seen:?}");
    }
    let metrics = portico.http.get(format!("http://{}/metrics", portico.admin)).send().await.expect("metrics");
    let text = metrics.text().await.expect("text");
    for node in ["node-a", "node-b"] {
        let series = format!(r#"portico_requests_total{{route="/web",instance="web",node="{node}",class="2xx"}} 5"#);
        assert!(text.contains(&series), "{series} missing:\n{text}");
    }

    // Steady traffic while node B's instance deregisters: nothing fails.
    let (sent, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let stop = tokio_util::sync::CancellationToken::new();
    let load = {
        let (client, url) = (portico.http.clone(), portico.url("/web/load"));
        let (sent, failed, stop) = (Arc::clone(&sent), Arc::clone(&failed), stop.clone());
        tokio::spawn(async move {
            while !stop.is_cancelled() {
                sent.fetch_add(1, Ordering::Relaxed);
                match client.get(&url).send().await {
                    Ok(r) if r.status() == 200 => {}
                    _ => {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        })
    };
    while sent.load(Ordering::Relaxed) < 50 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    node_b.deregister("web").await;
    portico.wait_instances("/web", &["web"], Duration::from_secs(10)).await;
    let served_by_b = web_b.requests();
    for _ in 0..20 {
        assert_eq!(portico.who("/web/after").await.as_deref(), Ok("web@node-a"));
    }
    stop.cancel();
    load.await.expect("load task");
    assert_eq!(web_b.requests(), served_by_b, "node B's instance gets nothing once it left");
    println!(
        "{} requests during the deregistration, {} failed",
        sent.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed)
    );
    assert_eq!(failed.load(Ordering::Relaxed), 0);
}

/// An agent serving HTTPS with a certificate from `ca` for `names`, requiring
/// client certificates when `verify_incoming`.
async fn tls_agent(dir: &std::path::Path, ca: &pki::Authority, names: &[&str], verify_incoming: bool) -> ConsulAgent {
    let server = ca.issue("agent", names);
    let hcl = format!(
        "tls {{ defaults {{ ca_file = \"{}\" cert_file = \"{}\" key_file = \"{}\" }} https {{ verify_incoming = {verify_incoming} }} }}",
        ca.cert.display(),
        server.cert.display(),
        server.key.display(),
    );
    let _ = dir;
    ConsulAgent::start_with(AgentOptions { hcl: Some(hcl), ..AgentOptions::default() }).await
}

fn tls_config(agent: &ConsulAgent, tls: ConsulTls) -> portico::Config {
    let mut config = config(&agent.https_addr());
    config.consul.tls = tls;
    config
}

#[tokio::test]
async fn an_https_agent_is_read_with_consul_s_own_tls_settings() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = pki::Authority::new(dir.path(), "consul-ca");
    let agent = tls_agent(dir.path(), &ca, &["server.dc1.consul", "localhost", "127.0.0.1"], false).await;
    let backend = Backend::start("web-1").await;
    agent.register(&ttl_service("web", "web-1", backend.port(), ROUTE)).await;

    let trusted = ConsulTls { ca_file: Some(ca.cert.clone()), ..ConsulTls::default() };
    let portico = Portico::start(tls_config(&agent, trusted)).await;
    portico.wait_instances("/web", &["web-1"], Duration::from_secs(10)).await;
    assert_eq!(portico.who("/web").await.as_deref(), Ok("web-1"));

    // A CA directory works like a CA file.
    let capath = ConsulTls { ca_path: Some(dir.path().join("cas")), ..ConsulTls::default() };
    std::fs::create_dir(dir.path().join("cas")).expect("dir");
    std::fs::copy(&ca.cert, dir.path().join("cas/ca.pem")).expect("copy");
    let by_dir = Portico::start(tls_config(&agent, capath)).await;
    by_dir.wait_instances("/web", &["web-1"], Duration::from_secs(10)).await;

    // A CA that did not sign the agent's certificate: a clear error, no route, no panic.
    let other = pki::Authority::new(dir.path(), "other-ca");
    let wrong = ConsulTls { ca_file: Some(other.cert.clone()), ..ConsulTls::default() };
    let misled = Portico::start(tls_config(&agent, wrong)).await;
    let report = wait_watch(&misled, "catalog", |w| w["errors"].as_u64().unwrap_or(0) > 0).await;
    let error = report["last_error"].as_str().unwrap_or_default().to_string();
    assert!(error.contains("certificate") && error.contains("UnknownIssuer"), "{error}");
    assert_eq!(misled.get("/web").await.status(), 503, "not ready: nothing routed from an untrusted agent");

    // Verification off (CONSUL_HTTP_SSL_VERIFY=false) reads it anyway.
    let unverified = ConsulTls { verify: false, ..ConsulTls::default() };
    let lax = Portico::start(tls_config(&agent, unverified)).await;
    lax.wait_instances("/web", &["web-1"], Duration::from_secs(10)).await;
}

#[tokio::test]
async fn the_server_name_and_client_certificates_follow_consul_s_settings() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = pki::Authority::new(dir.path(), "consul-ca");
    // The certificate names only server.dc1.consul, as Consul's own TLS guides make it.
    let agent = tls_agent(dir.path(), &ca, &["server.dc1.consul"], true).await;
    let backend = Backend::start("web-1").await;
    agent.register(&ttl_service("web", "web-1", backend.port(), ROUTE)).await;
    let client = ca.issue("portico-client", &["portico.dc1.consul"]);

    let full = ConsulTls {
        ca_file: Some(ca.cert.clone()),
        client_cert: Some(client.cert.clone()),
        client_key: Some(client.key.clone()),
        server_name: Some("server.dc1.consul".into()),
        verify: true,
        ..ConsulTls::default()
    };
    let portico = Portico::start(tls_config(&agent, full.clone())).await;
    portico.wait_instances("/web", &["web-1"], Duration::from_secs(10)).await;

    let no_name = Portico::start(tls_config(&agent, ConsulTls { server_name: None, ..full.clone() })).await;
    let report = wait_watch(&no_name, "catalog", |w| w["errors"].as_u64().unwrap_or(0) > 0).await;
    let error = report["last_error"].as_str().unwrap_or_default().to_string();
    assert!(error.contains("NotValidForName") || error.contains("not valid for"), "{error}");

    let no_client = Portico::start(tls_config(&agent, ConsulTls { client_cert: None, client_key: None, ..full })).await;
    let report = wait_watch(&no_client, "catalog", |w| w["errors"].as_u64().unwrap_or(0) > 0).await;
    assert!(report["last_error"].as_str().is_some_and(|e| !e.is_empty()), "{report}");
    assert_eq!(no_client.get("/web").await.status(), 503);
}

const ROOT: &str = "11111111-2222-3333-4444-555555555555";

async fn acl_agent() -> ConsulAgent {
    let hcl = format!(
        "acl {{ enabled = true default_policy = \"deny\" enable_token_persistence = true tokens {{ initial_management = \"{ROOT}\" agent = \"{ROOT}\" }} }}"
    );
    let options = AgentOptions { hcl: Some(hcl), token: Some(ROOT.into()), ..AgentOptions::default() };
    ConsulAgent::start_with(options).await
}

/// A token holding the README's policy: (accessor, secret).
async fn least_privilege_token(agent: &ConsulAgent) -> (String, String) {
    let policy = agent.put_json("/v1/acl/policy", &json!({"Name": "portico", "Rules": POLICY})).await.expect("policy");
    assert_eq!(policy["Name"], "portico");
    let token = agent.put_json("/v1/acl/token", &json!({"Policies": [{"Name": "portico"}]})).await.expect("token");
    (token["AccessorID"].as_str().expect("accessor").into(), token["SecretID"].as_str().expect("secret").into())
}

#[tokio::test]
async fn with_default_deny_acls_the_documented_policy_is_enough() {
    let agent = acl_agent().await;
    let backend = Backend::start("web-1").await;
    agent.register(&ttl_service("web", "web-1", backend.port(), ROUTE)).await;
    let (_, secret) = least_privilege_token(&agent).await;
    let dir = tempfile::tempdir().expect("dir");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{secret}\n")).expect("write");

    // CONSUL_HTTP_TOKEN_FILE, through the real flag parsing.
    let cli = portico::config::Cli {
        consul: Some(agent.addr()),
        consul_token_file: Some(token_file),
        ..portico::config::Cli::default()
    };
    let config = portico::Config::merge(cli, portico::config::FileConfig::default()).expect("config");
    assert_eq!(config.consul.token.as_deref(), Some(secret.as_str()));
    let portico = Portico::start(config).await;
    portico.wait_instances("/web", &["web-1"], Duration::from_secs(10)).await;
    assert_eq!(portico.who("/web").await.as_deref(), Ok("web-1"));
    let catalog = wait_watch(&portico, "catalog", |w| w["replies"].as_u64().unwrap_or(0) > 0).await;
    assert_eq!(catalog["acl_filtered"], false, "the policy reads everything Portico needs: {catalog}");

    // A token with no policy sees nothing: an error naming the policy, in the
    // report and the metrics, never an empty routing table.
    let bare = agent.put_json("/v1/acl/token", &json!({"Description": "no rights"})).await.expect("token");
    let mut config = config_for(&agent);
    config.consul.token = bare["SecretID"].as_str().map(String::from);
    let blind = Portico::start(config).await;
    let catalog = wait_watch(&blind, "catalog", |w| w["denied"].as_u64().unwrap_or(0) > 0).await;
    assert_eq!(catalog["acl_filtered"], true, "{catalog}");
    assert!(catalog["last_error"].as_str().is_some_and(|e| e.contains("policy")), "{catalog}");
    let metrics = blind.http.get(format!("http://{}/metrics", blind.admin)).send().await.expect("metrics");
    let text = metrics.text().await.expect("text");
    assert!(text.contains(r#"portico_consul_acl_filtered{watch="catalog"} 1"#), "{text}");
    assert!(text.contains(r#"portico_consul_requests_total{watch="catalog",result="denied"} 1"#), "{text}");
}

fn config_for(agent: &ConsulAgent) -> portico::Config {
    config(&agent.addr())
}

#[tokio::test]
async fn a_refused_token_is_logged_counted_and_waited_out_and_the_routes_stay() {
    let agent = acl_agent().await;
    let backend = Backend::start("web-1").await;
    agent.register(&ttl_service("web", "web-1", backend.port(), ROUTE)).await;
    let (accessor, secret) = least_privilege_token(&agent).await;
    let mut config = config_for(&agent);
    config.consul.token = Some(secret);
    config.consul.wait = Duration::from_secs(1); // so a query notices the revocation soon
    config.consul.backoff_max = Duration::from_secs(5);
    let portico = Portico::start(config).await;
    portico.wait_instances("/web", &["web-1"], Duration::from_secs(10)).await;

    let revoked = reqwest::Client::new()
        .delete(format!("{}/v1/acl/token/{accessor}", agent.addr()))
        .header("x-consul-token", ROOT)
        .send()
        .await
        .expect("delete token");
    assert!(revoked.status().is_success());
    let report = wait_watch(&portico, "catalog", |w| w["denied"].as_u64().unwrap_or(0) > 0).await;
    let error = report["last_error"].as_str().unwrap_or_default().to_string();
    assert!(error.contains("ACL") && error.contains("403"), "{error}");
    assert_eq!(portico.who("/web").await.as_deref(), Ok("web-1"), "the last snapshot keeps serving");

    // Waited out at the longest backoff, not hammered: over 3 s, at most one more try.
    let denied_now = report["denied"].as_u64().unwrap_or(0);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let later = portico.routes().await["watches"]["catalog"]["denied"].as_u64().unwrap_or(0);
    assert!(later <= denied_now + 1, "{denied_now} then {later} refused queries in 3 s");
    let metrics = portico.http.get(format!("http://{}/metrics", portico.admin)).send().await.expect("metrics");
    let text = metrics.text().await.expect("text");
    assert!(text.contains(r#"portico_consul_requests_total{watch="catalog",result="denied"}"#), "{text}");
}

#[tokio::test]
async fn a_datacenter_is_asked_for_by_name() {
    let agent = ConsulAgent::start().await;
    let backend = Backend::start("web-1").await;
    agent.register(&ttl_service("web", "web-1", backend.port(), ROUTE)).await;
    let mut config = config(&agent.addr());
    config.consul.datacenter = Some("dc1".into());
    let portico = Portico::start(config).await;
    portico.wait_instances("/web", &["web-1"], Duration::from_secs(10)).await;

    let mut config = common::config(&agent.addr());
    config.consul.datacenter = Some("dc-elsewhere".into());
    let elsewhere = Portico::start(config).await;
    let report = wait_watch(&elsewhere, "catalog", |w| w["errors"].as_u64().unwrap_or(0) > 0).await;
    let error = report["last_error"].as_str().unwrap_or_default().to_string();
    assert!(error.contains("datacenter"), "{error}");
}
