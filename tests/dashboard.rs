//! The live dashboard in a real headless Chromium (Debian's `chromium` and
//! `chromium-driver`, which scripts/test.sh installs), driven over WebDriver:
//! load the page, register a new instance, drive traffic, and watch the new
//! instance's bar appear with a share of the traffic. Saves a screenshot.
//!
//! Without a browser the test is skipped with a message, except in CI
//! (`CI=true`), where it must run. The browser is stopped with the test: its
//! session is closed, then chromedriver's whole process group is killed, and
//! the test checks that no process of its profile is left.

mod common;

use std::os::unix::process::CommandExt;
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
    profile: tempfile::TempDir,
}

/// True when Debian's chromium and chromium-driver are installed.
fn browser_installed() -> bool {
    let on_path = |name: &str| {
        std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
    };
    on_path("chromedriver") && std::path::Path::new("/usr/bin/chromium").is_file()
}

impl Browser {
    /// A browser session, or `None` (outside CI) when none is installed.
    async fn start() -> Option<Browser> {
        if !browser_installed() {
            assert!(
                std::env::var("CI").is_err(),
                "CI must run the dashboard test: install chromium and chromium-driver (scripts/test.sh does)"
            );
            eprintln!("skipped: no chromium/chromedriver installed (scripts/test.sh installs them)");
            return None;
        }
        let port = free_port();
        let profile = tempfile::tempdir().expect("profile dir");
        // A process group of its own, so that Chromium's whole tree can be stopped with it.
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .env("XDG_CONFIG_HOME", profile.path())
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        while http.get(format!("{base}/status")).send().await.is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
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
        Some(Browser { driver, base, session, http, profile })
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
        // chromedriver and Chromium share a process group; Chromium's crash
        // handlers leave it (setsid), but their command line names the
        // profile (XDG_CONFIG_HOME points into it), so they are found too.
        let _ = Command::new("kill").args(["-KILL", "--", &format!("-{}", self.driver.id())]).status();
        let _ = self.driver.wait();
        for pid in processes_naming(&self.profile.path().display().to_string()).into_iter().map(|(pid, _)| pid) {
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
        }
    }
}

/// Processes whose command line names `needle` (a browser profile): (pid, command line).
fn processes_naming(needle: &str) -> Vec<(String, String)> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|pid| pid.chars().all(|c| c.is_ascii_digit()))
        .filter_map(|pid| std::fs::read(format!("/proc/{pid}/cmdline")).ok().map(|raw| (pid, raw)))
        .map(|(pid, raw)| (pid, String::from_utf8_lossy(&raw).replace('\0', " ")))
        .filter(|(_, cmdline)| cmdline.contains(needle))
        .collect()
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

    let Some(browser) = Browser::start().await else { return };
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

    let profile = browser.profile.path().display().to_string();
    drop(browser);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = processes_naming(&profile);
        if left.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "browser processes outlived the test: {left:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

const CANARY: &str = "const line = document.querySelector('.canary-line'); \
    const badges = Array.from(document.querySelectorAll('.instance.canary')).map(e => e.dataset.id); \
    return line ? {hidden: line.hidden, aborted: line.classList.contains('aborted'), text: line.textContent, badges} : null";

/// The dashboard shows a canary's share and its instances marked as such;
/// when the canary fails and is aborted, the line turns into the abort event.
#[tokio::test]
async fn a_canary_and_its_abort_show_on_the_dashboard() {
    const FAILING: &str =
        "(req, res) => { req.resume(); res.writeHead(500, {'x-instance-id': 'web-canary'}); res.end('boom'); }";
    let Some(node) = portico_testkit::node::NodeOrigin::required(FAILING).await else { return };
    let consul = ConsulAgent::start().await;
    let stable = Backend::start("web-1").await;
    consul.register(&ttl_service("web", "web-1", stable.port(), &["portico.route=/web"])).await;
    let canary_tags = ["portico.route=/web", "portico.canary=30%"];
    consul.register(&ttl_service("web", "web-canary", node.port, &canary_tags)).await;
    let portico = Portico::for_consul(&consul.addr()).await;
    portico.wait_instances("/web", &["web-1", "web-canary"], Duration::from_secs(5)).await;

    let Some(browser) = Browser::start().await else { return };
    browser.open(&format!("http://{}/admin/dashboard", portico.admin)).await;
    let wait_for = |what: &'static str, check: fn(&Value) -> bool| {
        let browser = &browser;
        async move {
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let seen = browser.script(CANARY).await;
                if check(&seen) {
                    return seen;
                }
                assert!(Instant::now() < deadline, "{what}: {seen}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    let shown = wait_for("the canary line", |v| v["text"].as_str().is_some_and(|t| t.contains("30%"))).await;
    assert_eq!(shown["badges"], json!(["web-canary"]));
    assert_eq!(shown["aborted"], false);

    for bucket in 0..100u32 {
        let cookie = format!("portico_canary={}", bucket * 100);
        portico.http.get(portico.url("/web")).header("cookie", cookie).send().await.expect("answer");
    }
    let aborted = wait_for("the abort event", |v| v["aborted"] == true).await;
    let text = aborted["text"].as_str().unwrap_or_default();
    assert!(text.contains("canary aborted") && text.contains("exceeds the stable side"), "{text}");
    let png = browser.screenshot().await;
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard-canary.png");
    std::fs::write(&path, &png).expect("save screenshot");
    println!("screenshot: {}", path.display());
}
