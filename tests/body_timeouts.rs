//! Bodies that stop arriving: a request body or a response body that stalls
//! longer than `body_idle_timeout` ends its exchange, and the connection and
//! the instance's in-flight slot are freed.

mod common;

use std::time::{Duration, Instant};

use common::{config, one_web_instance, Portico};
use portico_testkit::consul::ttl_service;
use portico_testkit::ConsulAgent;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const IDLE: Duration = Duration::from_millis(400);

/// Reads what the server sends until it closes (or 5 s pass): the text, and
/// whether it closed.
async fn read_until_closed(stream: &mut TcpStream) -> (String, bool) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&buf).into_owned(), true),
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => return (String::from_utf8_lossy(&buf).into_owned(), false),
        }
    }
}

#[tokio::test]
async fn a_stalled_request_body_gets_408_and_reaches_no_instance() {
    let (_consul, backend, portico) = one_web_instance(|c| c.proxy.body_idle_timeout = IDLE).await;
    let mut stream = TcpStream::connect(portico.addr).await.expect("connect");
    stream.write_all(b"POST /web HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly ten b").await.expect("write");
    let started = Instant::now();
    let (answer, _) = read_until_closed(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(3), "answered after {:?}", started.elapsed());
    assert_eq!(backend.requests(), 0, "nothing was forwarded");
    assert_eq!(portico.who("/web").await.as_deref(), Ok("web-1"), "service goes on");
}

#[tokio::test]
async fn a_streamed_request_body_that_stalls_gets_408_and_frees_the_instance() {
    let (_consul, _backend, portico) = one_web_instance(|c| c.proxy.body_idle_timeout = IDLE).await;
    let mut stream = TcpStream::connect(portico.addr).await.expect("connect");
    let head = b"PUT /web/upload HTTP/1.1\r\nHost: x\r\nContent-Length: 300000\r\n\r\n";
    stream.write_all(head).await.expect("write head");
    stream.write_all(&vec![b'x'; 100_000]).await.expect("write past the 64 KiB buffer");
    let (answer, closed) = read_until_closed(&mut stream).await;
    // The test instance echoes as it reads, so its answer may have begun:
    // then the client's stream is cut short instead.
    let cut_short = answer.starts_with("HTTP/1.1 200") && closed && answer.len() < 300_000;
    assert!(answer.starts_with("HTTP/1.1 408") || cut_short, "{}", &answer[..answer.len().min(300)]);
    wait_in_flight_zero(&portico, "/web").await;
}

/// An origin that answers every request with a head promising 1000 bytes,
/// sends ten, and then nothing, keeping the connection open.
async fn stalling_origin() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf).await;
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\nten bytes!").await;
                tokio::time::sleep(Duration::from_secs(30)).await;
            });
        }
    });
    port
}

#[tokio::test]
async fn a_stalled_response_body_is_cut_and_the_instance_freed() {
    let consul = ConsulAgent::start().await;
    let port = stalling_origin().await;
    consul.register(&ttl_service("stall", "stall-1", port, &["portico.route=/stall"])).await;
    let mut config = config(&consul.addr());
    config.proxy.body_idle_timeout = IDLE;
    let portico = Portico::start(config).await;
    portico.wait_instances("/stall", &["stall-1"], Duration::from_secs(5)).await;

    let mut stream = TcpStream::connect(portico.addr).await.expect("connect");
    stream.write_all(b"GET /stall HTTP/1.1\r\nHost: x\r\n\r\n").await.expect("write");
    let started = Instant::now();
    let (answer, closed) = read_until_closed(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 200") && answer.ends_with("ten bytes!"), "{answer}");
    assert!(closed, "the client's connection is closed, not left hanging");
    assert!(started.elapsed() < Duration::from_secs(3), "closed after {:?}", started.elapsed());
    wait_in_flight_zero(&portico, "/stall").await;
}

async fn wait_in_flight_zero(portico: &Portico, prefix: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let routes = portico.routes().await;
        let route = routes["routes"].as_array().into_iter().flatten().find(|r| r["prefix"] == prefix).cloned();
        let in_flight: i64 = route
            .and_then(|r| r["instances"].as_array().cloned())
            .map(|list| list.iter().map(|i| i["in_flight"].as_i64().unwrap_or(-1)).sum())
            .unwrap_or(-1);
        if in_flight == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "{prefix}: {in_flight} request(s) still in flight");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
