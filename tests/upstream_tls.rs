//! TLS to instances (`portico.proto=https`): a Node.js `https` server with a
//! certificate from a CA made at test time, trusted through `[upstream_tls]`;
//! one that requires a client certificate (mTLS); a wrong CA, which is a
//! 502 whose log line (from the real binary) says why; per-route TLS
//! profiles; and a configured server name, checked and sent as SNI.

mod common;
#[path = "common/pki.rs"]
mod pki;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::Portico;
use pki::Authority;
use portico::client_tls::ClientTls;
use portico_testkit::consul::ttl_service;
use portico_testkit::node::NodeOrigin;
use portico_testkit::ports::free_port;
use portico_testkit::ConsulAgent;

/// Says whether the client presented a certificate.
const HANDLER: &str = "(req, res) => { req.resume(); const peer = req.socket.getPeerCertificate(); \
    res.writeHead(200, {'x-instance-id': 'tls-1'}); \
    res.end(peer && peer.subject ? 'tls with client certificate' : 'tls'); }";

const HTTPS: &[&str] = &["portico.route=/secure", "portico.proto=https"];

async fn gateway(consul: &ConsulAgent, tls: ClientTls) -> Portico {
    let mut config = common::config(&consul.addr());
    config.upstream_tls = tls;
    let portico = Portico::start(config).await;
    portico.wait_instances("/secure", &["tls-1"], Duration::from_secs(5)).await;
    portico
}

#[tokio::test]
async fn an_https_instance_is_reached_and_verified_against_the_configured_ca() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = Authority::new(dir.path(), "instances-ca");
    let leaf = ca.issue("instance", &["127.0.0.1", "localhost"]);
    let Some(node) = NodeOrigin::or_skip(NodeOrigin::https(&leaf.cert, &leaf.key, None, HANDLER).await) else { return };
    let consul = ConsulAgent::start().await;
    consul.register(&ttl_service("secure", "tls-1", node.port, HTTPS)).await;
    let portico = gateway(&consul, ClientTls { ca_file: Some(ca.cert.clone()), ..ClientTls::default() }).await;
    for _ in 0..5 {
        let response = portico.get("/secure/x").await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.text().await.expect("body"), "tls");
    }
    let routes = portico.routes().await;
    assert_eq!(routes["routes"][0]["proto"], "https");
}

#[tokio::test]
async fn an_instance_requiring_a_client_certificate_gets_the_configured_one() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = Authority::new(dir.path(), "mesh-ca");
    let server = ca.issue("instance", &["127.0.0.1"]);
    let client = ca.issue("portico", &["portico.internal"]);
    let origin = NodeOrigin::https(&server.cert, &server.key, Some(&ca.cert), HANDLER).await;
    let Some(node) = NodeOrigin::or_skip(origin) else { return };
    let consul = ConsulAgent::start().await;
    consul.register(&ttl_service("secure", "tls-1", node.port, HTTPS)).await;
    let with_cert = ClientTls {
        ca_file: Some(ca.cert.clone()),
        client_cert: Some(client.cert.clone()),
        client_key: Some(client.key.clone()),
        ..ClientTls::default()
    };
    let portico = gateway(&consul, with_cert).await;
    let response = portico.get("/secure").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.expect("body"), "tls with client certificate");
    let without = gateway(&consul, ClientTls { ca_file: Some(ca.cert.clone()), ..ClientTls::default() }).await;
    assert_eq!(without.get("/secure").await.status(), 502, "the instance refuses a client without a certificate");
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_a_502_whose_log_says_why() {
    let dir = tempfile::tempdir().expect("dir");
    let (real, other) = (Authority::new(dir.path(), "real-ca"), Authority::new(dir.path(), "other-ca"));
    let leaf = real.issue("instance", &["127.0.0.1"]);
    let Some(node) = NodeOrigin::or_skip(NodeOrigin::https(&leaf.cert, &leaf.key, None, HANDLER).await) else { return };
    let consul = ConsulAgent::start().await;
    consul.register(&ttl_service("secure", "tls-1", node.port, HTTPS)).await;
    let config = dir.path().join("portico.toml");
    std::fs::write(&config, format!("[upstream_tls]\nca_file = {:?}\n", other.cert.display().to_string()))
        .expect("write");
    let config_arg = config.display().to_string();
    let (status, log) = first_answer_and_log(&consul, &["--config", &config_arg], &[]).await;
    assert_eq!(status, 502, "{log}");
    let line = log.lines().find(|l| l.contains("cannot connect to instance")).unwrap_or_else(|| panic!("{log}"));
    assert!(line.contains("TLS handshake") && line.contains("UnknownIssuer"), "{line}");
}

/// Runs the real binary with `args` and `env` against `consul`; the status
/// of the first answer to `/secure` that is not "no route yet", and the log.
async fn first_answer_and_log(consul: &ConsulAgent, args: &[&str], env: &[(&str, &str)]) -> (u16, String) {
    let (port, admin) = (free_port(), free_port());
    let mut child = Command::new(env!("CARGO_BIN_EXE_portico"))
        .args(["--listen", &format!("127.0.0.1:{port}"), "--admin-listen", &format!("127.0.0.1:{admin}")])
        .args(["--consul", &consul.addr(), "--register", "false"])
        .args(args)
        .envs(env.iter().copied())
        .env("PORTICO_LOG_FORMAT", "json")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .expect("portico starts");
    let url = format!("http://127.0.0.1:{port}/secure");
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Ok(response) = reqwest::get(&url).await {
            if response.status() != 503 && response.status() != 404 {
                break response.status().as_u16();
            }
        }
        if let Ok(Some(exit)) = child.try_wait() {
            break exit.code().map_or(0, |c| c as u16);
        }
        assert!(Instant::now() < deadline, "portico never routed /secure");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let _ = child.wait();
    let mut log = String::new();
    for stream in [
        child.stdout.take().map(|s| Box::new(s) as Box<dyn std::io::Read>),
        child.stderr.take().map(|s| Box::new(s) as _),
    ] {
        log.extend(stream.into_iter().flat_map(|s| BufReader::new(s).lines().map_while(Result::ok)).map(|l| l + "\n"));
    }
    (status, log)
}

#[tokio::test]
async fn without_any_ca_on_the_system_portico_starts_and_https_routes_say_why() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = Authority::new(dir.path(), "ca");
    let leaf = ca.issue("instance", &["127.0.0.1"]);
    let Some(node) = NodeOrigin::or_skip(NodeOrigin::https(&leaf.cert, &leaf.key, None, HANDLER).await) else { return };
    let consul = ConsulAgent::start().await;
    consul.register(&ttl_service("secure", "tls-1", node.port, HTTPS)).await;
    // No system trust store, as in a minimal container image.
    let empty = [("SSL_CERT_FILE", "/nonexistent/ca.pem"), ("SSL_CERT_DIR", "/nonexistent")];
    let (status, log) = first_answer_and_log(&consul, &[], &empty).await;
    assert_eq!(status, 502, "it serves, and the TLS route fails: {log}");
    assert!(log.contains("no CA certificates"), "{log}");
}

#[tokio::test]
async fn a_route_naming_a_tls_profile_trusts_that_profile_s_ca_only() {
    let dir = tempfile::tempdir().expect("dir");
    let (shop_ca, billing_ca) = (Authority::new(dir.path(), "shop-ca"), Authority::new(dir.path(), "billing-ca"));
    let (shop, billing) = (shop_ca.issue("shop", &["127.0.0.1"]), billing_ca.issue("billing", &["127.0.0.1"]));
    let Some(shop_node) = NodeOrigin::or_skip(NodeOrigin::https(&shop.cert, &shop.key, None, HANDLER).await) else {
        return;
    };
    let Some(billing_node) = NodeOrigin::https(&billing.cert, &billing.key, None, HANDLER).await else { return };
    let consul = ConsulAgent::start().await;
    consul.register(&ttl_service("secure", "tls-1", shop_node.port, HTTPS)).await;
    let billing_tags = ["portico.route=/billing", "portico.proto=https", "portico.upstream-tls=billing"];
    consul.register(&ttl_service("billing", "billing-1", billing_node.port, &billing_tags)).await;
    let typo_tags = ["portico.route=/typo", "portico.proto=https", "portico.upstream-tls=biling"];
    consul.register(&ttl_service("typo", "typo-1", billing_node.port, &typo_tags)).await;
    let mut config = common::config(&consul.addr());
    config.upstream_tls = ClientTls { ca_file: Some(shop_ca.cert.clone()), ..ClientTls::default() };
    let billing_tls = ClientTls { ca_file: Some(billing_ca.cert.clone()), ..ClientTls::default() };
    config.upstream_tls_profiles.insert("billing".to_string(), billing_tls);
    let portico = Portico::start(config).await;
    portico.wait_instances("/billing", &["billing-1"], Duration::from_secs(5)).await;
    portico.wait_instances("/secure", &["tls-1"], Duration::from_secs(5)).await;
    assert_eq!(portico.get("/secure").await.status(), 200, "the default CA");
    assert_eq!(portico.get("/billing").await.status(), 200, "the billing profile's CA");
    let routes = portico.routes().await;
    let billing_route = routes["routes"].as_array().expect("routes").iter().find(|r| r["prefix"] == "/billing");
    assert_eq!(billing_route.expect("billing route")["upstream_tls"], "billing");
    assert_eq!(portico.get("/typo").await.status(), 502, "a profile nobody configured");
}

/// An instance whose certificate names a service, not its address: the
/// configured `server_name` is what Portico checks and sends as SNI; without
/// it, the address is checked and the certificate refused.
#[tokio::test]
async fn a_configured_server_name_is_sent_as_sni_and_checked_instead_of_the_address() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = Authority::new(dir.path(), "instances-ca");
    let leaf = ca.issue("api", &["api.internal"]);
    let says_sni = "(req, res) => { req.resume(); res.writeHead(200, {'x-instance-id': 'tls-1'}); \
        res.end(String(req.socket.servername)); }";
    let Some(node) = NodeOrigin::or_skip(NodeOrigin::https(&leaf.cert, &leaf.key, None, says_sni).await) else {
        return;
    };
    let consul = ConsulAgent::start().await;
    consul.register(&ttl_service("secure", "tls-1", node.port, HTTPS)).await;
    let named_tags = ["portico.route=/named", "portico.proto=https", "portico.upstream-tls=named"];
    consul.register(&ttl_service("named", "named-1", node.port, &named_tags)).await;
    let mut config = common::config(&consul.addr());
    config.upstream_tls = ClientTls { ca_file: Some(ca.cert.clone()), ..ClientTls::default() };
    let named = ClientTls {
        ca_file: Some(ca.cert.clone()),
        server_name: Some("api.internal".to_string()),
        ..ClientTls::default()
    };
    config.upstream_tls_profiles.insert("named".to_string(), named);
    let portico = Portico::start(config).await;
    portico.wait_instances("/named", &["named-1"], Duration::from_secs(5)).await;
    portico.wait_instances("/secure", &["tls-1"], Duration::from_secs(5)).await;

    let response = portico.get("/named/x").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.expect("body"), "api.internal", "the SNI the instance received");
    assert_eq!(portico.get("/secure/x").await.status(), 502, "127.0.0.1 is not a name in the certificate");
}
