//! Retries, request-body limits and buffering, end to end against real Consul.

mod common;

use std::time::Duration;

use common::Portico;
use portico_testkit::consul::ttl_service;
use portico_testkit::ports::free_port;
use portico_testkit::{Backend, ConsulAgent};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test]
async fn a_dead_instance_is_retried_around_even_for_posts_with_a_body() {
    let consul = ConsulAgent::start().await;
    let live = Backend::start("web-live").await;
    consul.register(&ttl_service("web", "web-live", live.port(), &["portico.route=/web"])).await;
    consul.register(&ttl_service("web", "web-dead", free_port(), &["portico.route=/web"])).await;
    let portico = Portico::for_consul(&consul.addr()).await;
    portico.wait_instances("/web", &["web-dead", "web-live"], Duration::from_secs(5)).await;

    for i in 0..20 {
        let body = format!("order {i}");
        let response = portico.http.post(portico.url("/web/echo")).body(body.clone()).send().await.expect("answer");
        assert_eq!(response.status(), 200, "POST {i} was retried on the live instance");
        assert_eq!(response.headers()["x-instance-id"], "web-live");
        assert_eq!(response.text().await.expect("body"), body, "the replayed body is intact");
    }
    let routes = portico.routes().await;
    let dead =
        routes["routes"][0]["instances"].as_array().and_then(|l| l.iter().find(|i| i["id"] == "web-dead").cloned());
    assert_eq!(dead.map(|d| d["state"].clone()), Some("ejected".into()), "{routes}");
}

async fn raw(portico: &Portico, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(portico.addr).await.expect("connect");
    stream.write_all(request).await.expect("write");
    let mut buf = vec![0u8; 2048];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await.expect("in time").unwrap_or(0);
    String::from_utf8_lossy(&buf[..n]).to_string()
}

#[tokio::test]
async fn a_route_body_limit_answers_413_and_forwards_nothing() {
    let consul = ConsulAgent::start().await;
    let backend = Backend::start("up-1").await;
    let tags = ["portico.route=/upload", "portico.max-body=100000"];
    consul.register(&ttl_service("up", "up-1", backend.port(), &tags)).await;
    let portico = Portico::for_consul(&consul.addr()).await;
    portico.wait_instances("/upload", &["up-1"], Duration::from_secs(5)).await;

    let small = portico.http.post(portico.url("/upload")).body(vec![b'x'; 50_000]).send().await.expect("answer");
    assert_eq!(small.status(), 200);
    let before = backend.requests();
    let declared = portico.http.post(portico.url("/upload")).body(vec![b'x'; 150_000]).send().await.expect("answer");
    assert_eq!(declared.status(), 413);
    let body: serde_json::Value = declared.json().await.expect("json");
    assert_eq!(body["limit_bytes"], 100_000);
    assert_eq!(backend.requests(), before, "refused by Content-Length before anything was forwarded");

    let mut chunked = b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..4 {
        chunked.extend_from_slice(format!("{:x}\r\n", 40_000).as_bytes());
        chunked.extend(std::iter::repeat_n(b'y', 40_000));
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let answer = raw(&portico, &chunked).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
}
