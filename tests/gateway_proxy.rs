//! What a client sees through the proxy: headers, errors, streaming,
//! upgrades, HTTP/2, path normalization and graceful shutdown.

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::Portico;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use portico_testkit::backend::Zeros;
use portico_testkit::consul::ttl_service;
use portico_testkit::{Backend, ConsulAgent};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use common::one_web_instance as setup_with;

async fn setup() -> (ConsulAgent, Backend, Portico) {
    setup_with(|_| {}).await
}

#[tokio::test]
async fn forwarding_headers_are_set_and_hop_by_hop_headers_dropped() {
    let (_consul, _backend, portico) = setup().await;
    let response = portico
        .http
        .get(portico.url("/web/x"))
        .header("x-forwarded-for", "203.0.113.9")
        .header("connection", "keep-alive, x-private")
        .header("x-private", "secret")
        .header("x-request-id", "trace-42")
        .send()
        .await
        .expect("answer");
    assert_eq!(response.headers()["x-request-id"], "trace-42");
    let body: Value = response.json().await.expect("json");
    let h = &body["headers"];
    assert_eq!(h["x-forwarded-for"], "203.0.113.9, 127.0.0.1");
    assert_eq!(h["x-forwarded-proto"], "http");
    assert_eq!(h["x-forwarded-host"], portico.addr.to_string());
    assert_eq!(h["host"], portico.addr.to_string(), "the client's Host is kept");
    assert_eq!(h["x-request-id"], "trace-42");
    assert!(h.get("x-private").is_none(), "headers named in Connection are hop-by-hop");

    let generated = portico.get("/web").await;
    let id = generated.headers()["x-request-id"].to_str().expect("ascii").to_string();
    assert!(!id.is_empty());
    let body: Value = generated.json().await.expect("json");
    assert_eq!(body["headers"]["x-request-id"], id, "the generated ID reaches the upstream too");
}

#[tokio::test]
async fn paths_are_normalized_before_matching_and_forwarding() {
    let (_consul, _backend, portico) = setup().await;
    let path_seen = |body: Value| body["path"].as_str().unwrap_or_default().to_string();
    let raw = |path: &str| {
        let url = portico.url(path);
        let http = portico.http.clone();
        async move { http.get(url).send().await.expect("answer") }
    };
    assert_eq!(path_seen(raw("/web//a/./b").await.json().await.expect("json")), "/web/a/b");
    assert_eq!(path_seen(raw("/web/%2e%2e/web/c").await.json().await.expect("json")), "/web/c");
    // Traversal out of /web lands where the normalized path says: nowhere.
    assert_eq!(raw("/web/%2e%2e/admin").await.status(), 404);
    // An encoded slash is data, not a separator.
    assert_eq!(raw("/web%2Fx").await.status(), 404);
    assert_eq!(raw("/web/a%zz").await.status(), 400);
}

/// Sends raw bytes and returns the status line and everything read.
async fn raw_exchange(addr: std::net::SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request).await.expect("write");
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
        .await
        .expect("answer in time")
        .expect("read");
    String::from_utf8_lossy(&buf[..n]).to_string()
}

#[tokio::test]
async fn websocket_style_upgrades_are_tunnelled() {
    let (_consul, _backend, portico) = setup().await;
    let mut stream = TcpStream::connect(portico.addr).await.expect("connect");
    stream
        .write_all(b"GET /web/socket HTTP/1.1\r\nHost: shop\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
        .await
        .expect("write");
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        stream.read_exact(&mut byte).await.expect("response head");
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(head.contains("upgrade: echo"), "{head}");
    for message in [&b"hello"[..], b"over the tunnel"] {
        stream.write_all(message).await.expect("write");
        let mut back = vec![0u8; message.len()];
        stream.read_exact(&mut back).await.expect("echo");
        assert_eq!(back, message);
    }
}

#[tokio::test]
async fn h2c_requests_are_served() {
    let (_consul, _backend, portico) = setup().await;
    let stream = TcpStream::connect(portico.addr).await.expect("connect");
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream)).await.expect("h2c handshake");
    tokio::spawn(connection);
    let request =
        http::Request::get(format!("http://{}/web/h2", portico.addr)).body(Empty::<Bytes>::new()).expect("request");
    let response = sender.send_request(request).await.expect("h2 response");
    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), http::Version::HTTP_2);
    assert_eq!(response.headers()["x-instance-id"], "web-1");
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

const BIG: u64 = 200 * 1024 * 1024;

#[tokio::test]
async fn a_200_mb_download_and_upload_stream_with_bounded_memory() {
    let (_consul, _backend, portico) = setup().await;
    let before = rss_kib();
    let stream = TcpStream::connect(portico.addr).await.expect("connect");
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.expect("handshake");
    tokio::spawn(connection);

    let download =
        http::Request::get(format!("/web/download/{BIG}")).header("host", "shop").body(Zeros(0)).expect("request");
    let mut body = sender.send_request(download).await.expect("response").into_body();
    let mut received = 0u64;
    let mut peak = 0;
    while let Some(frame) = body.frame().await {
        received += frame.expect("frame").data_ref().map_or(0, |d| d.len() as u64);
        peak = peak.max(rss_kib());
    }
    assert_eq!(received, BIG);

    let upload = http::Request::post("/web/echo").header("host", "shop").body(Zeros(BIG)).expect("request");
    let mut body = sender.send_request(upload).await.expect("response").into_body();
    let mut echoed = 0u64;
    while let Some(frame) = body.frame().await {
        echoed += frame.expect("frame").data_ref().map_or(0, |d| d.len() as u64);
        peak = peak.max(rss_kib());
    }
    assert_eq!(echoed, BIG);
    let growth_mib = peak.saturating_sub(before) / 1024;
    println!("streamed 2 x 200 MiB; resident memory grew by {growth_mib} MiB");
    assert!(growth_mib < 64, "memory grew by {growth_mib} MiB: something buffers whole bodies");
}

#[tokio::test]
async fn a_dead_instance_is_a_502_and_a_slow_one_a_504() {
    let (consul, _backend, portico) = setup_with(|c| c.proxy.response_timeout = Duration::from_millis(300)).await;
    let closed = portico_testkit::ports::free_port();
    consul.register(&ttl_service("dead", "dead-1", closed, &["portico.route=/dead"])).await;
    portico.wait_instances("/dead", &["dead-1"], Duration::from_secs(5)).await;
    let response = portico.get("/dead").await;
    assert_eq!(response.status(), 502);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["instance"], "dead-1");

    let start = Instant::now();
    let response = portico.get("/web/slow/2000").await;
    assert_eq!(response.status(), 504);
    assert!(start.elapsed() < Duration::from_millis(1500));
    assert_eq!(portico.get("/web").await.status(), 200, "and the gateway keeps serving");
}

#[tokio::test]
async fn connections_to_an_instance_are_reused_from_one_request_to_the_next() {
    let (_consul, backend, portico) = setup().await;
    for _ in 0..20 {
        let response = portico.get("/web").await;
        assert_eq!(response.status(), 200);
        response.bytes().await.expect("body");
    }
    let head = portico.http.head(portico.url("/web")).send().await.expect("HEAD");
    assert_eq!(head.status(), 200);
    let download = portico.get("/web/download/1048576").await.bytes().await.expect("1 MiB");
    assert_eq!(download.len(), 1 << 20);
    let echoed = portico.http.post(portico.url("/web/echo")).body("hello").send().await.expect("POST");
    assert_eq!(echoed.text().await.expect("echo"), "hello");
    assert_eq!(portico.get("/web").await.status(), 200);
    assert_eq!(backend.requests(), 24);
    assert_eq!(backend.connections(), 1, "one sequential client needs one upstream connection");
}

/// An instance that answers one request per connection and then closes it,
/// without saying so (no `Connection: close`), as servers with a short
/// keep-alive timeout do. Counts the connections it accepted.
async fn one_shot_instance() -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = std::sync::Arc::clone(&accepted);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").await;
            });
        }
    });
    (port, accepted)
}

#[tokio::test]
async fn an_instance_that_closes_idle_connections_causes_no_error() {
    let (consul, _backend, portico) = setup().await;
    let (port, accepted) = one_shot_instance().await;
    consul.register(&ttl_service("closer", "closer-1", port, &["portico.route=/closer"])).await;
    portico.wait_instances("/closer", &["closer-1"], Duration::from_secs(5)).await;
    for i in 0..10 {
        let response = portico.get("/closer").await;
        assert_eq!(response.status(), 200, "request {i}");
        assert_eq!(response.text().await.expect("body"), "ok");
    }
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 10, "each request needed a new connection");
}

#[tokio::test]
async fn connect_is_refused_and_the_connection_stays_usable() {
    let (_consul, _backend, portico) = setup().await;
    let answer = raw_exchange(portico.addr, b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 405") || answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert_eq!(portico.get("/web").await.status(), 200);
}

#[tokio::test]
async fn shutdown_lets_in_flight_requests_finish() {
    let (_consul, _backend, portico) = setup().await;
    let url = portico.url("/web/slow/500");
    let http = portico.http.clone();
    let slow = tokio::spawn(async move { http.get(url).send().await.map(|r| r.status().as_u16()) });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let addr = portico.addr;
    let stopped = tokio::spawn(portico.shutdown());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(TcpStream::connect(addr).await.is_err(), "no new connection is accepted while draining");
    assert_eq!(slow.await.expect("task").expect("in-flight request completes"), 200);
    tokio::time::timeout(Duration::from_secs(5), stopped).await.expect("drained quickly").expect("clean");
}
