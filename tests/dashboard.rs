//! The live dashboard in a real headless Chromium (Debian's `chromium` and
//! `chromium-driver`, which scripts/test.sh installs), driven over WebDriver:
//! load the page, register a new instance, drive traffic, and watch the new
//! instance's bar appear with a share of the traffic. Saves a screenshot.

mod common;

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use common::Portico;
use portico_testkit::consul::ttl_service;
use portico_testkit::ports::free_port;
use portico_testkit::{Backend, ConsulAgent};
use serde_json::{json, Value};

/// A chromedriver process and one browser session; both end on drop.
struct Browser {
    driver: Child,
    base: String,
    session: String,
    http: reqwest::Client,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn start() -> Browser {
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver not found: install Debian's chromium and chromium-driver (scripts/test.sh does)");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        while http.get(format!("{base}/status")).send().await.is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = tempfile::tempdir().expect("profile dir");
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-quic",
            "--no-first-run",
            "--window-size=1100,700",
        ];
        let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args}
        }}});
        let created: Value = http
            .post(format!("{base}/session"))
            .json(&capabilities)
            .send()
            .await
            .expect("session")
            .json()
            .await
            .expect("json");
        let session =
            created["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {created}")).to_string();
        Browser { driver, base, session, http, _profile: profile }
    }

    async fn command(&self, path: &str, body: Value) -> Value {
        let url = format!("{}/session/{}/{path}", self.base, self.session);
        let reply: Value = self.http.post(url).json(&body).send().await.expect("webdriver").json().await.expect("json");
        reply["value"].clone()
    }

    async fn open(&self, url: &str) {
        self.command("url", json!({ "url": url })).await;
    }

    async fn script(&self, script: &str) -> Value {
        self.command("execute/sync", json!({ "script": script, "args": [] })).await
    }

    async fn screenshot(&self) -> Vec<u8> {
        let url = format!("{}/session/{}/screenshot", self.base, self.session);
        let reply: Value = self.http.get(url).send().await.expect("webdriver").json().await.expect("json");
        base64::engine::general_purpose::STANDARD.decode(reply["value"].as_str().unwrap_or_default()).expect("png")
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

const BARS: &str = "return Array.from(document.querySelectorAll('.instance')).map(e => \
    ({id: e.dataset.id, node: e.dataset.node, share: Number(e.dataset.share || 0), width: e.querySelector('.fill').style.width}))";

async fn shares(browser: &Browser) -> Vec<(String, f64)> {
    let bars = browser.script(BARS).await;
    bars.as_array()
        .into_iter()
        .flatten()
        .map(|b| (b["id"].as_str().unwrap_or_default().to_string(), b["share"].as_f64().unwrap_or(0.0)))
        .collect()
}

#[tokio::test]
async fn a_new_instance_appears_on_the_dashboard_with_a_share_of_traffic() {
    let consul = ConsulAgent::start().await;
    let first = Backend::start("web-1").await;
    consul.register(&ttl_service("web", "web-1", first.port(), &["portico.route=/web"])).await;
    let portico = Arc::new(Portico::for_consul(&consul.addr()).await);
    portico.wait_instances("/web", &["web-1"], Duration::from_secs(5)).await;

    let browser = Browser::start().await;
    browser.open(&format!("http://{}/admin/dashboard", portico.admin)).await;

    let running = Arc::new(AtomicBool::new(true));
    let load = {
        let (portico, running) = (portico.clone(), running.clone());
        tokio::spawn(async move {
            let deadline = Instant::now() + Duration::from_secs(30);
            while running.load(Ordering::Relaxed) && Instant::now() < deadline {
                portico.get("/web").await;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };

    let deadline = Instant::now() + Duration::from_secs(10);
    while shares(&browser).await.iter().all(|(id, share)| id != "web-1" || *share <= 0.0) {
        assert!(Instant::now() < deadline, "web-1's bar never showed traffic");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let second = Backend::start("web-2").await;
    consul.register(&ttl_service("web", "web-2", second.port(), &["portico.route=/web"])).await;
    let registered = Instant::now();
    let bars = loop {
        let bars = shares(&browser).await;
        if bars.iter().any(|(id, share)| id == "web-2" && *share > 0.0) {
            break bars;
        }
        assert!(registered.elapsed() < Duration::from_secs(10), "web-2's bar never appeared: {bars:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    println!("web-2's bar appeared {:?} after registration: {bars:?}", registered.elapsed());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let png = browser.screenshot().await;
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png");
    std::fs::write(&path, &png).expect("save screenshot");
    println!("screenshot: {}", path.display());
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    running.store(false, Ordering::Relaxed);
    load.await.expect("load loop");
}
