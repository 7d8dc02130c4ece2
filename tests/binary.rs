//! The `portico` binary as operators run it: flags and env vars from the
//! contract, clear start-up errors, a clean exit on SIGTERM, and certificates
//! reloaded on SIGHUP.

mod common;
#[path = "common/tls.rs"]
mod tls_support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use portico_testkit::consul::ttl_service;
use portico_testkit::ports::free_port;
use portico_testkit::{Backend, ConsulAgent};

const BIN: &str = env!("CARGO_BIN_EXE_portico");

fn portico() -> Command {
    let mut command = Command::new(BIN);
    for var in [
        "PORTICO_LISTEN",
        "PORTICO_ADMIN_LISTEN",
        "CONSUL_HTTP_ADDR",
        "CONSUL_HTTP_TOKEN",
        "PORTICO_CONFIG",
        "PORTICO_ROUTES",
        "PORTICO_TLS_LISTEN",
        "PORTICO_TLS_CERT",
        "PORTICO_TLS_KEY",
        "PORTICO_HTTPS_REDIRECT",
        "PORTICO_API_KEYS",
        "PORTICO_JWT_SECRET",
        "PORTICO_TRUSTED_PROXIES",
    ] {
        command.env_remove(var);
    }
    command.stdin(Stdio::null());
    command
}

/// Waits until `url` answers at all (readiness aside: Consul may be unreachable).
async fn wait_answer(url: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while reqwest::get(url).await.is_err() {
        assert!(Instant::now() < deadline, "{url} never answered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until `url` answers 2xx (for `/healthz`: Consul has been read).
async fn wait_http(url: &str) -> reqwest::Response {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match reqwest::get(url).await {
            Ok(response) if response.status().is_success() => return response,
            _ => {}
        }
        assert!(Instant::now() < deadline, "{url} never answered 2xx");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn env_vars_configure_it_logs_each_request_and_sigterm_stops_it_cleanly() {
    let consul = ConsulAgent::start().await;
    let backend = Backend::start("web-1").await;
    consul.register(&ttl_service("web", "web-1", backend.port(), &[])).await;
    let (listen, admin) = (free_port(), free_port());
    let logs = tempfile::NamedTempFile::new().expect("log file");
    let mut child = portico()
        .env("PORTICO_LISTEN", format!("127.0.0.1:{listen}"))
        .env("PORTICO_ADMIN_LISTEN", format!("127.0.0.1:{admin}"))
        .env("CONSUL_HTTP_ADDR", consul.addr())
        .env("PORTICO_LOG_FORMAT", "json")
        .args(["--route", "/legacy=web"])
        .stderr(logs.reopen().expect("log file"))
        .spawn()
        .expect("start portico");

    let health = wait_http(&format!("http://127.0.0.1:{admin}/healthz")).await;
    assert_eq!(health.status(), 200);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let response = reqwest::get(format!("http://127.0.0.1:{listen}/legacy/x")).await.expect("proxy answers");
        if response.status() == 200 {
            assert_eq!(response.headers()["x-instance-id"], "web-1");
            break;
        }
        assert!(Instant::now() < deadline, "static route never served: {}", response.status());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill");
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "portico did not exit after SIGTERM");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "exit status {status}");

    // One JSON access-log line per request.
    let text = std::fs::read_to_string(logs.path()).expect("logs");
    let access: Vec<serde_json::Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| l["target"] == "portico::access")
        .collect();
    let served =
        access.iter().find(|l| l["fields"]["status"] == 200).unwrap_or_else(|| panic!("no access line:\n{text}"));
    let fields = &served["fields"];
    assert_eq!(fields["method"], "GET");
    assert_eq!(fields["path"], "/legacy/x");
    assert_eq!(fields["route"], "/legacy");
    assert_eq!(fields["instance"], "web-1");
    assert!(fields["bytes"].as_u64().unwrap_or(0) > 0, "{served}");
    assert!(fields["duration_ms"].as_f64().is_some());
    assert!(fields["request_id"].as_str().is_some_and(|id| !id.is_empty()));
}

#[tokio::test]
async fn the_access_log_can_be_switched_off() {
    let consul = ConsulAgent::start().await;
    let (listen, admin) = (free_port(), free_port());
    let logs = tempfile::NamedTempFile::new().expect("log file");
    let mut child = portico()
        .args(["--listen", &format!("127.0.0.1:{listen}"), "--admin-listen", &format!("127.0.0.1:{admin}")])
        .args(["--consul", &consul.addr(), "--access-log", "false", "--log-format", "json"])
        .stderr(logs.reopen().expect("log file"))
        .spawn()
        .expect("start portico");
    wait_http(&format!("http://127.0.0.1:{admin}/healthz")).await;
    for _ in 0..3 {
        let _ = reqwest::get(format!("http://127.0.0.1:{listen}/nothing")).await;
    }
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let _ = child.wait();
    let text = std::fs::read_to_string(logs.path()).expect("logs");
    assert!(text.contains("portico started"), "{text}");
    assert!(!text.contains("portico::access"), "{text}");
}

#[test]
fn bad_input_is_a_clear_start_up_error() {
    let out = portico().args(["--route", "products"]).output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--route") && stderr.contains("PREFIX=SERVICE"), "{stderr}");

    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("portico.toml");
    std::fs::write(&file, "listen = \"127.0.0.1:0\"\nbogus = 1\n").expect("write");
    let out = portico().arg("--config").arg(&file).output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("portico.toml") && stderr.contains("bogus"), "{stderr}");

    let out = portico().args(["--config", "/nonexistent/portico.toml"]).output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/portico.toml"));
}

#[test]
fn help_names_every_contract_flag_and_its_env_var() {
    let out = portico().arg("--help").output().expect("run");
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "--listen",
        "PORTICO_LISTEN",
        "0.0.0.0:8080",
        "--admin-listen",
        "PORTICO_ADMIN_LISTEN",
        "127.0.0.1:9090",
        "--consul",
        "CONSUL_HTTP_ADDR",
        "http://127.0.0.1:8500",
        "--consul-token",
        "CONSUL_HTTP_TOKEN",
        "--config",
        "--route",
    ] {
        assert!(help.contains(needle), "--help lacks {needle}:\n{help}");
    }
}

#[test]
fn a_bad_certificate_file_stops_start_up_and_names_the_file() {
    let dir = tempfile::tempdir().expect("tmp");
    let bad = dir.path().join("site.crt");
    std::fs::write(&bad, "not a certificate").expect("write");
    let out = portico()
        .args([
            "--listen",
            &format!("127.0.0.1:{}", free_port()),
            "--admin-listen",
            &format!("127.0.0.1:{}", free_port()),
        ])
        .args(["--tls-listen", &format!("127.0.0.1:{}", free_port())])
        .arg("--tls-cert")
        .arg(&bad)
        .arg("--tls-key")
        .arg(dir.path().join("missing.key"))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("site.crt"), "{stderr}");
}

#[tokio::test]
async fn sighup_reloads_certificates_without_a_restart() {
    let dir = tempfile::tempdir().expect("tmp");
    let (live, next) =
        (tls_support::cert(dir.path(), "live", &["a.test"]), tls_support::cert(dir.path(), "next", &["a.test"]));
    let (listen, admin, tls) = (free_port(), free_port(), free_port());
    let mut child = portico()
        .args(["--listen", &format!("127.0.0.1:{listen}"), "--admin-listen", &format!("127.0.0.1:{admin}")])
        .args(["--consul", "127.0.0.1:1", "--tls-listen", &format!("127.0.0.1:{tls}")])
        .arg("--tls-cert")
        .arg(&live.pair.cert)
        .arg("--tls-key")
        .arg(&live.pair.key)
        .stderr(Stdio::null())
        .spawn()
        .expect("start portico");
    wait_answer(&format!("http://127.0.0.1:{admin}/healthz")).await;
    let addr: std::net::SocketAddr = format!("127.0.0.1:{tls}").parse().expect("addr");
    let roots = [&live, &next];
    assert_eq!(tls_support::presented(&tls_support::connect_tls(addr, "a.test", &roots, &[]).await), live.der);
    tls_support::overwrite(&live.pair, &next);
    let hup = Command::new("kill").args(["-HUP", &child.id().to_string()]).status().expect("kill");
    assert!(hup.success());
    let deadline = Instant::now() + Duration::from_secs(5);
    while tls_support::presented(&tls_support::connect_tls(addr, "a.test", &roots, &[]).await) != next.der {
        assert!(Instant::now() < deadline, "SIGHUP did not swap the certificate");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(child.try_wait().expect("status").is_none(), "still running after SIGHUP");
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let _ = child.wait();
}
