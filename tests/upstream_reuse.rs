//! Upstream connections that real servers close while Portico holds them
//! idle: the server's `Keep-Alive: timeout` is honoured, and a request that
//! lands on a connection the server is closing goes out again on a new one.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{config, Portico};
use portico_testkit::consul::ttl_service;
use portico_testkit::node::NodeOrigin;
use portico_testkit::ConsulAgent;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// An origin that answers the first request of each connection and then,
/// on the next one, reads it whole and closes without a word: the race of a
/// server closing an idle connection, made certain. Counts its answers.
async fn closing_origin() -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let answered = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&answered);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve_once_then_drop(stream, Arc::clone(&count)));
        }
    });
    (port, answered)
}

async fn serve_once_then_drop(stream: TcpStream, answered: Arc<AtomicUsize>) {
    let mut reader = BufReader::new(stream);
    for first in [true, false] {
        let Some(length) = read_request(&mut reader).await else { return };
        let mut body = vec![0u8; length];
        if reader.read_exact(&mut body).await.is_err() {
            return;
        }
        if !first {
            return; // read, never answered: the connection closes here
        }
        answered.fetch_add(1, Ordering::SeqCst);
        let reply = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", body.len());
        let stream = reader.get_mut();
        if stream.write_all(reply.as_bytes()).await.is_err() || stream.write_all(&body).await.is_err() {
            return;
        }
    }
}

/// Reads a request head; returns its Content-Length (0 without one).
async fn read_request(reader: &mut BufReader<TcpStream>) -> Option<usize> {
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            return Some(length);
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().ok()?;
            }
        }
    }
}

async fn portico_for(port: u16) -> (ConsulAgent, Portico) {
    let consul = ConsulAgent::start().await;
    consul.register(&ttl_service("flaky", "flaky-1", port, &["portico.route=/flaky"])).await;
    let mut config = config(&consul.addr());
    config.proxy.max_retries = 0; // no other instance, and no retry to hide behind
    let portico = Portico::start(config).await;
    portico.wait_instances("/flaky", &["flaky-1"], Duration::from_secs(5)).await;
    (consul, portico)
}

#[tokio::test]
async fn a_request_on_a_connection_the_origin_drops_goes_out_again_on_a_new_one() {
    let (port, answered) = closing_origin().await;
    let (_consul, portico) = portico_for(port).await;
    let url = portico.url("/flaky/item");
    for round in 0..3 {
        let requests = [
            ("GET", portico.http.get(&url)),
            ("PUT", portico.http.put(&url).body("put-body")),
            ("POST", portico.http.post(&url).body("buffered post body")),
        ];
        for (method, request) in requests {
            let response = request.send().await.expect("answer");
            assert_eq!(response.status(), 200, "round {round}: {method} failed: {:?}", response.text().await);
        }
    }
    assert_eq!(answered.load(Ordering::SeqCst), 9, "every request was answered once, each on a fresh connection");
}

#[tokio::test]
async fn a_node_origin_with_default_keep_alive_sees_no_error_for_a_minute() {
    const HANDLER: &str = "(req, res) => { req.resume(); req.on('end', () => res.end('node ok')); }";
    let Some(mut node) = NodeOrigin::required(HANDLER).await else { return };
    let (_consul, portico) = portico_for(node.port).await;
    let url = portico.url("/flaky/n");
    let mut errors = Vec::new();
    let mut sent = 0;
    // Gaps that straddle Node's 5 s idle timeout, a minute in all.
    for gap_ms in [4500u64, 4900, 5000, 5050, 5100, 4950, 5000, 5200, 4800, 5000, 5020, 4980] {
        for _ in 0..3 {
            sent += 1;
            match portico.http.get(&url).send().await {
                Ok(r) if r.status() == 200 => {}
                Ok(r) => errors.push(format!("status {}: {:?}", r.status(), r.text().await)),
                Err(e) => errors.push(e.to_string()),
            }
        }
        tokio::time::sleep(Duration::from_millis(gap_ms)).await;
    }
    let _ = node.child.kill().await;
    println!("{sent} requests to a Node.js origin around its keep-alive timeout, {} errors", errors.len());
    assert!(errors.is_empty(), "{errors:?}");
}
