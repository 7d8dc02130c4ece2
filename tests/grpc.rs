//! gRPC through Portico (`portico.proto=grpc|grpcs`), with a real gRPC
//! server and client on both sides (tonic, in the test crate): unary and
//! streaming calls, statuses in trailers, deadlines, gRPC errors from
//! Portico itself, balancing over shared HTTP/2 connections, an instance
//! that sends GOAWAY under load, a scale-down under load, and TLS on either
//! side.

mod common;
#[path = "common/pki.rs"]
mod pki;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::Portico;
use portico::client_tls::ClientTls;
use portico::config::edge::TlsSettings;
use portico::tls::CertPair;
use portico_testkit::consul::ttl_service;
use portico_testkit::grpc::{say, EchoClient, EchoRequest, GrpcInstance};
use portico_testkit::ConsulAgent;
use tokio_stream::StreamExt;
use tonic::transport::{Certificate, Channel, ClientTlsConfig};
use tonic::Code;

const ROUTE: &str = "/portico.test.Echo";
const GRPC: &[&str] = &["portico.route=/portico.test.Echo", "portico.proto=grpc"];

async fn register(consul: &ConsulAgent, instance: &GrpcInstance, tags: &[&str]) {
    consul.register(&ttl_service("echo", &instance.id, instance.addr.port(), tags)).await;
}

/// Consul, `n` gRPC instances (`g-1`…) and Portico routing to them.
async fn shop(n: usize) -> (ConsulAgent, Vec<GrpcInstance>, Portico) {
    let consul = ConsulAgent::start().await;
    let mut instances = Vec::new();
    for i in 1..=n {
        let instance = GrpcInstance::start(&format!("g-{i}")).await;
        register(&consul, &instance, GRPC).await;
        instances.push(instance);
    }
    let portico = Portico::start(common::config(&consul.addr())).await;
    let ids: Vec<&str> = instances.iter().map(|i| i.id.as_str()).collect();
    portico.wait_instances(ROUTE, &ids, Duration::from_secs(5)).await;
    (consul, instances, portico)
}

async fn client(portico: &Portico) -> EchoClient<Channel> {
    EchoClient::connect(format!("http://{}", portico.addr)).await.expect("h2c to portico")
}

#[tokio::test]
async fn unary_and_streaming_calls_pass_through_h2c() {
    let (_consul, _instances, portico) = shop(1).await;
    let mut echo = client(&portico).await;
    let reply = echo.unary(say("hello")).await.expect("unary").into_inner();
    assert_eq!((reply.message.as_str(), reply.instance.as_str()), ("hello", "g-1"));

    let request = EchoRequest { count: 50, ..say("tick") };
    let mut stream = echo.server_stream(request).await.expect("server stream").into_inner();
    let mut received = Vec::new();
    while let Some(reply) = stream.next().await {
        received.push(reply.expect("reply").message);
    }
    assert_eq!(received.len(), 50);
    assert_eq!(received[49], "tick 49");

    let parts = tokio_stream::iter(["a", "b", "c"].map(say));
    let joined = echo.client_stream(parts).await.expect("client stream").into_inner();
    assert_eq!(joined.message, "a,b,c");
    let routes = portico.routes().await;
    assert_eq!(routes["routes"][0]["proto"], "grpc");
}

#[tokio::test]
async fn an_instance_status_in_trailers_reaches_the_client() {
    let (_consul, _instances, portico) = shop(1).await;
    let mut echo = client(&portico).await;
    let status = echo.unary(EchoRequest { fail_code: 9, ..say("x") }).await.expect_err("fails");
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(status.message(), "asked to fail by g-1");
    let request = EchoRequest { count: 3, fail_code: 5, ..say("x") };
    let status = echo.server_stream(request).await.expect_err("fails");
    assert_eq!(status.code(), Code::NotFound);
}

#[tokio::test]
async fn portico_answers_grpc_clients_with_grpc_statuses() {
    let (consul, instances, portico) = shop(1).await;
    let mut echo = client(&portico).await;

    // The client's deadline bounds Portico's wait for the instance. (A
    // raw HTTP/2 call: tonic's client would answer its own deadline first.)
    let slow = EchoRequest { delay_ms: 3_000, ..say("slow") };
    let started = std::time::Instant::now();
    let (status, message) = raw_call(&portico, "/portico.test.Echo/Unary", &slow, "300m").await;
    assert_eq!(status, "4", "DEADLINE_EXCEEDED: {message}");
    assert_eq!(message, "upstream timed out: g-1");
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());

    // No route for another gRPC service.
    let channel = Channel::from_shared(format!("http://{}", portico.addr)).expect("uri").connect().await.expect("ch");
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.expect("ready");
    let codec: tonic::codec::ProstCodec<EchoRequest, portico_testkit::grpc::EchoReply> = Default::default();
    let path = http::uri::PathAndQuery::from_static("/other.Service/Call");
    let status = grpc.unary(tonic::Request::new(say("x")), path, codec).await.expect_err("no route");
    assert_eq!(status.code(), Code::Unimplemented);

    // The route is known but its only instance is failing its check.
    consul.ttl(&format!("{}-ttl", instances[0].id), "fail").await;
    portico.wait_instances(ROUTE, &[], Duration::from_secs(5)).await;
    let status = echo.unary(say("x")).await.expect_err("no instance");
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(status.message(), "no live instance: echo");
}

/// One gRPC call over a plain HTTP/2 client with `grpc-timeout: timeout`;
/// the `grpc-status` and `grpc-message` of the answer (headers or trailers).
async fn raw_call(portico: &Portico, path: &str, message: &EchoRequest, timeout: &str) -> (String, String) {
    use http_body_util::BodyExt;
    use prost::Message;
    let tcp = tokio::net::TcpStream::connect(portico.addr).await.expect("connect");
    let io = hyper_util::rt::TokioIo::new(tcp);
    let executor = hyper_util::rt::TokioExecutor::new();
    let (mut sender, conn) = hyper::client::conn::http2::handshake(executor, io).await.expect("h2");
    tokio::spawn(conn);
    let encoded = message.encode_to_vec();
    let mut framed = vec![0u8];
    framed.extend_from_slice(&(encoded.len() as u32).to_be_bytes());
    framed.extend_from_slice(&encoded);
    let request = http::Request::post(format!("http://{}{path}", portico.addr))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("grpc-timeout", timeout)
        .body(http_body_util::Full::new(bytes::Bytes::from(framed)))
        .expect("request");
    let response = sender.send_request(request).await.expect("response");
    let mut headers = response.headers().clone();
    let collected = response.into_body().collect().await.expect("body");
    headers.extend(collected.trailers().cloned().unwrap_or_default());
    let field = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    (field("grpc-status"), field("grpc-message"))
}

/// Calls from `tasks` clients in a loop until `stop`; counts the
/// successes, failures and the calls each instance answered.
struct Load {
    ok: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
    stop: tokio_util::sync::CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<Vec<String>>>,
}

/// What a load run saw.
struct Outcome {
    ok: usize,
    failed: usize,
    /// Per client, the instances that answered, in order.
    answered: Vec<Vec<String>>,
}

impl Load {
    async fn start(portico: &Portico, tasks: usize) -> Load {
        let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let stop = tokio_util::sync::CancellationToken::new();
        let mut handles = Vec::new();
        for _ in 0..tasks {
            let (mut echo, ok, failed, stop) = (client(portico).await, ok.clone(), failed.clone(), stop.clone());
            handles.push(tokio::spawn(async move {
                let mut answered = Vec::new();
                while !stop.is_cancelled() {
                    match echo.unary(say("load")).await {
                        Ok(reply) => {
                            ok.fetch_add(1, Ordering::SeqCst);
                            answered.push(reply.into_inner().instance);
                        }
                        Err(status) => {
                            failed.fetch_add(1, Ordering::SeqCst);
                            eprintln!("failed call: {status:?}");
                        }
                    }
                }
                answered
            }));
        }
        Load { ok, failed, stop, tasks: handles }
    }

    /// Waits until `n` more calls have succeeded.
    async fn after(&self, n: usize) {
        let target = self.ok.load(Ordering::SeqCst) + n;
        while self.ok.load(Ordering::SeqCst) < target {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Stops, and says what happened.
    async fn finish(self) -> Outcome {
        self.stop.cancel();
        let mut answered = Vec::new();
        for task in self.tasks {
            answered.push(task.await.expect("load task"));
        }
        Outcome { ok: self.ok.load(Ordering::SeqCst), failed: self.failed.load(Ordering::SeqCst), answered }
    }
}

#[tokio::test]
async fn calls_are_balanced_over_three_instances() {
    let (_consul, instances, portico) = shop(3).await;
    let load = Load::start(&portico, 8).await;
    load.after(600).await;
    let Outcome { ok, failed, answered } = load.finish().await;
    assert_eq!(failed, 0);
    for instance in &instances {
        let share = answered.iter().flatten().filter(|id| **id == instance.id).count();
        assert!(share * 5 > ok, "{} answered {share} of {ok}", instance.id);
    }
}

#[tokio::test]
async fn an_instance_sending_goaway_under_load_loses_no_call() {
    let (_consul, mut instances, portico) = shop(2).await;
    let load = Load::start(&portico, 8).await;
    load.after(300).await;
    // Still registered and passing in Consul: Portico learns only from the
    // instance's GOAWAY, then from its refused connections.
    let leaving = instances.remove(0);
    leaving.shutdown().await;
    load.after(300).await;
    let Outcome { ok, failed, answered } = load.finish().await;
    assert_eq!(failed, 0, "{failed} of {} calls failed", ok + failed);
    for client in answered {
        assert!(client.iter().rev().take(20).all(|id| id == "g-2"), "g-1 still answered: {client:?}");
    }
}

#[tokio::test]
async fn scaling_three_to_one_under_grpc_load_fails_no_call() {
    let (consul, mut instances, portico) = shop(3).await;
    let load = Load::start(&portico, 8).await;
    load.after(300).await;
    // As the shop's services stop: deregister, then stop serving.
    for leaving in instances.drain(1..) {
        consul.deregister(&leaving.id).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        leaving.shutdown().await;
    }
    portico.wait_instances(ROUTE, &["g-1"], Duration::from_secs(5)).await;
    load.after(300).await;
    let Outcome { ok, failed, .. } = load.finish().await;
    assert_eq!(failed, 0, "{failed} of {} calls failed", ok + failed);
}

#[tokio::test]
async fn grpc_over_tls_on_both_sides() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = pki::Authority::new(dir.path(), "ca");
    let instance_cert = ca.issue("instance", &["127.0.0.1"]);
    let edge_cert = ca.issue("edge", &["grpc.test"]);
    let read = |p: &std::path::Path| std::fs::read(p).expect("read pem");
    let instance = GrpcInstance::start_tls("g-tls", &read(&instance_cert.cert), &read(&instance_cert.key)).await;
    let consul = ConsulAgent::start().await;
    register(&consul, &instance, &["portico.route=/portico.test.Echo", "portico.proto=grpcs"]).await;
    let mut config = common::config(&consul.addr());
    config.upstream_tls = ClientTls { ca_file: Some(ca.cert.clone()), ..ClientTls::default() };
    let pair = CertPair { cert: edge_cert.cert.clone(), key: edge_cert.key.clone() };
    let listen = "127.0.0.1:0".parse().expect("addr");
    config.edge.tls = Some(TlsSettings { listen, certificates: vec![pair], redirect_http: false });
    let portico = Portico::start(config).await;
    portico.wait_instances(ROUTE, &["g-tls"], Duration::from_secs(5)).await;

    let tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read(&ca.cert))).domain_name("grpc.test");
    let url = format!("https://{}", portico.tls_addr.expect("tls listener"));
    let channel = Channel::from_shared(url).expect("uri").tls_config(tls).expect("tls").connect().await.expect("h2");
    let reply = EchoClient::new(channel).unary(say("secret")).await.expect("unary over TLS").into_inner();
    assert_eq!((reply.message.as_str(), reply.instance.as_str()), ("secret", "g-tls"));
    let plain = client(&portico).await.unary(say("x")).await.expect("h2c client, grpcs instance").into_inner();
    assert_eq!(plain.instance, "g-tls");
}
