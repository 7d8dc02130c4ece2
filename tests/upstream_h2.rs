//! HTTP/2 to instances (`portico.proto=h2c|h2`) against Node.js's `http2`
//! server: connections shared by many requests, trailers both ways (to
//! HTTP/2 and HTTP/1.1 clients), TLS with ALPN, and an HTTP/1.1 server
//! behind an h2c route, which is a clear 502 rather than a hang.

mod common;
#[path = "common/pki.rs"]
mod pki;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::Portico;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use portico::client_tls::ClientTls;
use portico_testkit::consul::ttl_service;
use portico_testkit::node::NodeOrigin;
use portico_testkit::ConsulAgent;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Answers after the request body ended (and 20 ms), saying what it saw;
/// the response carries a trailer.
const HANDLER: &str = "(req, res) => { const chunks = []; req.on('data', c => chunks.push(c)); \
    req.on('end', () => setTimeout(() => { \
      res.writeHead(200, {'x-instance-id': 'h2-1', 'x-sessions': String(sessions), \
        'x-http-version': req.httpVersion, 'x-te': req.headers['te'] || '', \
        'x-request-trailer': req.trailers['x-sum'] || '', 'trailer': 'x-checksum'}); \
      res.addTrailers({'x-checksum': 'abc'}); \
      res.end('body ' + Buffer.concat(chunks).length); }, 20)); }";

async fn gateway(consul: &ConsulAgent, port: u16, proto: &str, tls: ClientTls) -> Portico {
    let tags = ["portico.route=/h2", &format!("portico.proto={proto}")];
    consul.register(&ttl_service("h2", "h2-1", port, &tags)).await;
    let mut config = common::config(&consul.addr());
    config.upstream_tls = tls;
    let portico = Portico::start(config).await;
    portico.wait_instances("/h2", &["h2-1"], Duration::from_secs(5)).await;
    portico
}

#[tokio::test]
async fn many_requests_share_a_few_connections_to_an_h2c_instance() {
    let Some(node) = NodeOrigin::or_skip(NodeOrigin::http2(None, HANDLER).await) else { return };
    let consul = ConsulAgent::start().await;
    let portico = gateway(&consul, node.port, "h2c", ClientTls::default()).await;
    let calls: Vec<_> = (0..100)
        .map(|_| {
            let (http, url) = (portico.http.clone(), portico.url("/h2"));
            tokio::spawn(async move { http.get(url).send().await.expect("response") })
        })
        .collect();
    let mut most_sessions = 0;
    for call in calls {
        let response = call.await.expect("task");
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["x-http-version"], "2.0");
        let sessions: u32 = response.headers()["x-sessions"].to_str().expect("text").parse().expect("number");
        most_sessions = most_sessions.max(sessions);
    }
    // One per proxy thread; HTTP/1.1 would have needed one per request in flight.
    assert!(most_sessions <= 4, "100 concurrent requests opened {most_sessions} HTTP/2 connections");
}

#[tokio::test]
async fn trailers_pass_both_ways_for_an_http2_client() {
    let Some(node) = NodeOrigin::or_skip(NodeOrigin::http2(None, HANDLER).await) else { return };
    let consul = ConsulAgent::start().await;
    let portico = gateway(&consul, node.port, "h2c", ClientTls::default()).await;
    let tcp = tokio::net::TcpStream::connect(portico.addr).await.expect("connect");
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), hyper_util::rt::TokioIo::new(tcp))
            .await
            .expect("h2");
    tokio::spawn(conn);
    let mut trailers = http::HeaderMap::new();
    trailers.insert("x-sum", "42".parse().expect("value"));
    let frames = [Ok::<_, std::convert::Infallible>(Frame::data(Bytes::from("12345"))), Ok(Frame::trailers(trailers))];
    let request = http::Request::post(format!("http://{}/h2", portico.addr))
        .header("te", "trailers")
        .body(StreamBody::new(tokio_stream::iter(frames)))
        .expect("request");
    let response = sender.send_request(request).await.expect("response");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-request-trailer"], "42", "the client's trailer reached the instance");
    assert_eq!(response.headers()["x-te"], "trailers");
    let body = response.into_body().collect().await.expect("body");
    let trailers = body.trailers().cloned().expect("response trailers");
    assert_eq!(trailers["x-checksum"], "abc");
    assert_eq!(body.to_bytes(), "body 5");
}

#[tokio::test]
async fn an_http11_client_asking_for_trailers_gets_them_chunked() {
    let Some(node) = NodeOrigin::or_skip(NodeOrigin::http2(None, HANDLER).await) else { return };
    let consul = ConsulAgent::start().await;
    let portico = gateway(&consul, node.port, "h2c", ClientTls::default()).await;
    let mut tcp = tokio::net::TcpStream::connect(portico.addr).await.expect("connect");
    tcp.write_all(b"GET /h2 HTTP/1.1\r\nHost: shop\r\nTE: trailers\r\nConnection: close\r\n\r\n").await.expect("write");
    let mut raw = String::new();
    tcp.read_to_string(&mut raw).await.expect("read");
    assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
    let after_last_chunk = raw.split("\r\n0\r\n").nth(1).expect("chunked body");
    assert!(after_last_chunk.to_ascii_lowercase().contains("x-checksum: abc"), "{raw}");
}

#[tokio::test]
async fn an_h2_instance_over_tls_is_reached_by_alpn() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = pki::Authority::new(dir.path(), "ca");
    let leaf = ca.issue("instance", &["127.0.0.1"]);
    let origin = NodeOrigin::http2(Some((&leaf.cert, &leaf.key)), HANDLER).await;
    let Some(node) = NodeOrigin::or_skip(origin) else { return };
    let consul = ConsulAgent::start().await;
    let portico =
        gateway(&consul, node.port, "h2", ClientTls { ca_file: Some(ca.cert.clone()), ..Default::default() }).await;
    let response = portico.get("/h2").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-http-version"], "2.0");
    assert_eq!(portico.routes().await["routes"][0]["proto"], "h2");
}

#[tokio::test]
async fn an_http11_instance_behind_an_h2c_route_is_a_prompt_502() {
    let handler = "(req, res) => { res.end('http/1.1 only'); }";
    let Some(node) = NodeOrigin::required(handler).await else { return };
    let consul = ConsulAgent::start().await;
    let portico = gateway(&consul, node.port, "h2c", ClientTls::default()).await;
    let started = Instant::now();
    let response = portico.get("/h2").await;
    assert_eq!(response.status(), 502);
    assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["instance"], "h2-1");
}
