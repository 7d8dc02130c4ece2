//! TLS termination through the HTTPS listener: SNI, ALPN, reload, redirect.
//! Certificates are generated here, at test time.

mod common;
#[path = "common/tls.rs"]
mod tls_support;

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use common::Portico;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use portico::config::edge::TlsSettings;
use portico_testkit::consul::ttl_service;
use portico_testkit::{Backend, ConsulAgent};
use rustls::pki_types::ServerName;
use tls_support::{cert, client_config, connect_tls, overwrite, presented, Cert};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

async fn connect(portico: &Portico, sni: &str, roots: &[&Cert], alpn: &[&[u8]]) -> TlsStream<TcpStream> {
    connect_tls(portico.tls_addr.expect("tls listener"), sni, roots, alpn).await
}

async fn start(certs: &[&Cert], redirect_http: bool) -> (ConsulAgent, Backend, Portico) {
    let consul = ConsulAgent::start().await;
    let backend = Backend::start("web-1").await;
    consul.register(&ttl_service("web", "web-1", backend.port(), &["portico.route=/web"])).await;
    let mut config = common::config(&consul.addr());
    let certificates = certs.iter().map(|c| c.pair.clone()).collect();
    config.edge.tls = Some(TlsSettings { listen: "127.0.0.1:0".parse().expect("addr"), certificates, redirect_http });
    let portico = Portico::start(config).await;
    portico.wait_instances("/web", &["web-1"], Duration::from_secs(5)).await;
    (consul, backend, portico)
}

type Sender = hyper::client::conn::http1::SendRequest<Empty<Bytes>>;

async fn http1(stream: TlsStream<TcpStream>) -> Sender {
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.expect("http1");
    tokio::spawn(connection);
    sender
}

async fn get(sender: &mut Sender, host: &str, path: &str) -> (u16, serde_json::Value) {
    let request = http::Request::get(path).header("host", host).body(Empty::new()).expect("request");
    let response = sender.send_request(request).await.expect("response");
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.expect("body").to_bytes();
    (status, serde_json::from_slice(&body).unwrap_or_default())
}

fn dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().to_path_buf();
    (dir, path)
}

#[tokio::test]
async fn sni_picks_the_certificate_and_alpn_negotiates_h2_or_http1() {
    let (_keep, path) = dir();
    let (a, b) = (cert(&path, "a", &["a.test"]), cert(&path, "b", &["*.b.test"]));
    let (_consul, _backend, portico) = start(&[&a, &b], false).await;
    let roots = [&a, &b];
    assert_eq!(presented(&connect(&portico, "a.test", &roots, &[b"h2"]).await), a.der);
    assert_eq!(presented(&connect(&portico, "shop.b.test", &roots, &[b"h2"]).await), b.der);

    let h2 = connect(&portico, "a.test", &roots, &[b"h2", b"http/1.1"]).await;
    assert_eq!(h2.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(h2)).await.expect("h2");
    tokio::spawn(connection);
    let request = http::Request::get("https://a.test/web/x").body(Empty::<Bytes>::new()).expect("request");
    let response = sender.send_request(request).await.expect("response");
    assert_eq!(response.status(), 200);
    let body = response.into_body().collect().await.expect("body").to_bytes();
    let seen: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(seen["headers"]["x-forwarded-proto"], "https");

    let h1 = connect(&portico, "a.test", &roots, &[b"http/1.1"]).await;
    assert_eq!(h1.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    assert_eq!(get(&mut http1(h1).await, "a.test", "/web/y").await.0, 200);
}

#[tokio::test]
async fn a_name_no_certificate_has_gets_the_first_one() {
    let (_keep, path) = dir();
    let (a, b) = (cert(&path, "a", &["a.test"]), cert(&path, "b", &["b.test"]));
    let (_consul, _backend, portico) = start(&[&a, &b], false).await;
    // The client asks for other.test; Portico answers with a.test's certificate,
    // which the client then refuses for the name: the handshake fails on the client side.
    let tcp = TcpStream::connect(portico.tls_addr.expect("tls")).await.expect("connect");
    let name = ServerName::try_from("other.test").expect("name");
    let Err(error) = TlsConnector::from(client_config(&[&a], &[])).connect(name, tcp).await else {
        panic!("the handshake should fail on the name");
    };
    assert!(error.to_string().contains("only valid for DnsName(\"a.test\")"), "{error}");
}

#[tokio::test]
async fn reload_swaps_certificates_and_open_connections_keep_working() {
    let (_keep, path) = dir();
    let (old, new) = (cert(&path, "live", &["a.test"]), cert(&path, "next", &["a.test"]));
    let (_consul, _backend, portico) = start(&[&old], false).await;
    let roots = [&old, &new];
    let mut open = http1(connect(&portico, "a.test", &roots, &[b"http/1.1"]).await).await;
    assert_eq!(get(&mut open, "a.test", "/web/1").await.0, 200);

    overwrite(&old.pair, &new);
    portico.reload.notify_one();
    let mut swapped = false;
    for _ in 0..200 {
        if presented(&connect(&portico, "a.test", &roots, &[]).await) == new.der {
            swapped = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(swapped, "new handshakes get the new certificate");
    assert_eq!(get(&mut open, "a.test", "/web/2").await.0, 200, "the connection opened before the reload still works");

    std::fs::write(&old.pair.cert, "not a certificate").expect("break the file");
    portico.reload.notify_one();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(presented(&connect(&portico, "a.test", &roots, &[]).await), new.der, "a bad reload keeps what works");
}

#[tokio::test]
async fn the_plain_listener_redirects_to_https_when_asked() {
    let (_keep, path) = dir();
    let a = cert(&path, "a", &["shop.test"]);
    let (_consul, backend, portico) = start(&[&a], true).await;
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let response =
        client.get(portico.url("/web/cart?id=7")).header("host", "shop.test:8080").send().await.expect("answer");
    assert_eq!(response.status(), 308);
    let port = portico.tls_addr.expect("tls").port();
    assert_eq!(response.headers()["location"], format!("https://shop.test:{port}/web/cart?id=7").as_str());
    assert_eq!(backend.requests(), 0, "nothing was served in plain HTTP");
}

#[tokio::test]
async fn plain_http_or_garbage_on_the_tls_port_is_dropped_and_service_goes_on() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (_keep, path) = dir();
    let a = cert(&path, "a", &["a.test"]);
    let (_consul, backend, portico) = start(&[&a], false).await;
    let tls = portico.tls_addr.expect("tls");
    for junk in [&b"GET /web/x HTTP/1.1\r\nHost: a.test\r\n\r\n"[..], &[0x16, 0x03, 0x01, 0xff, 0xff, 0, 0, 0][..]] {
        let mut stream = TcpStream::connect(tls).await.expect("connect");
        stream.write_all(junk).await.expect("write");
        let mut buf = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut buf)).await;
        assert!(read.is_ok(), "the connection is closed, not left hanging");
        assert!(!String::from_utf8_lossy(&buf).contains("HTTP/1.1 200"), "nothing served without TLS");
    }
    assert_eq!(backend.requests(), 0);
    let mut sender = http1(connect(&portico, "a.test", &[&a], &[b"http/1.1"]).await).await;
    assert_eq!(get(&mut sender, "a.test", "/web/after").await.0, 200);
}

#[tokio::test]
async fn an_h2_connection_without_the_http2_preface_is_closed_not_answered_in_http1() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (_keep, path) = dir();
    let a = cert(&path, "a", &["a.test"]);
    let (_consul, backend, portico) = start(&[&a], false).await;
    let mut h2 = connect(&portico, "a.test", &[&a], &[b"h2"]).await;
    assert_eq!(h2.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    h2.write_all(b"GET /web HTTP/1.1\r\nHost: a.test\r\n\r\n").await.expect("write");
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), h2.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the connection is closed (RFC 9113 §3.4)");
    assert!(!answer.starts_with(b"HTTP/1.1"), "answered in HTTP/1.1: {:?}", String::from_utf8_lossy(&answer));
    assert_eq!(backend.requests(), 0);
}

#[tokio::test]
async fn the_retry_budget_of_a_route_is_shared_by_the_plain_and_tls_listeners() {
    let (_keep, path) = dir();
    let a = cert(&path, "a", &["a.test"]);
    let consul = ConsulAgent::start().await;
    for id in ["dead-1", "dead-2"] {
        let port = portico_testkit::ports::free_port(); // nothing listens: connect refused, safe to retry
        consul.register(&ttl_service("dead", id, port, &["portico.route=/dead"])).await;
    }
    let mut config = common::config(&consul.addr());
    config.edge.tls = Some(TlsSettings {
        listen: "127.0.0.1:0".parse().expect("addr"),
        certificates: vec![a.pair.clone()],
        redirect_http: false,
    });
    (config.proxy.retry_budget, config.proxy.retry_reserve, config.proxy.max_retries) = (0.0, 1, 1);
    let portico = Portico::start(config).await;
    portico.wait_instances("/dead", &["dead-1", "dead-2"], Duration::from_secs(5)).await;

    assert_eq!(portico.get("/dead").await.status(), 502, "plain: tried both, spending the one retry");
    let tls = connect(&portico, "a.test", &[&a], &[b"http/1.1"]).await;
    assert_eq!(get(&mut http1(tls).await, "a.test", "/dead").await.0, 502, "TLS: tried one, no retry left");
    let metrics = portico.http.get(format!("http://{}/metrics", portico.admin)).send().await.expect("metrics");
    let text = metrics.text().await.expect("text");
    assert!(text.contains(r#"portico_retries_total{route="/dead"} 1"#), "one retry for the route in all:\n{text}");
}

/// RFC 9110 §15.5.20: a request for a host that has a certificate of its
/// own, sent on a connection set up for another name, is misdirected (421).
/// A host the connection's certificate also covers, or one without a
/// certificate of its own, is served.
#[tokio::test]
async fn a_request_for_another_certificates_host_is_refused_with_421() {
    let (_keep, path) = dir();
    let (a, b) = (cert(&path, "a", &["a.test", "alias.a.test"]), cert(&path, "b", &["*.b.test"]));
    let (_consul, _backend, portico) = start(&[&a, &b], false).await;
    let roots = [&a, &b];
    let mut on_a = http1(connect(&portico, "a.test", &roots, &[b"http/1.1"]).await).await;
    let (status, body) = get(&mut on_a, "shop.b.test", "/web").await;
    assert_eq!(status, 421, "{body}");
    assert!(body["error"].as_str().is_some_and(|e| e.contains("misdirected")), "{body}");
    assert_eq!(get(&mut on_a, "A.TEST:443", "/web").await.0, 200);
    assert_eq!(get(&mut on_a, "alias.a.test", "/web").await.0, 200, "same certificate: connection reuse is fine");
    assert_eq!(get(&mut on_a, "unknown.example", "/web").await.0, 200, "no certificate of its own");
    let mut on_b = http1(connect(&portico, "x.b.test", &roots, &[b"http/1.1"]).await).await;
    assert_eq!(get(&mut on_b, "y.b.test", "/web").await.0, 200, "one wildcard certificate covers both");
    assert_eq!(get(&mut on_b, "a.test", "/web").await.0, 421);
}
