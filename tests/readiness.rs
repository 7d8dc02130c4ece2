//! Readiness: Portico says it is not ready (503 on `/healthz`, 503 with
//! `Retry-After` on the proxy instead of 404) until it has read Consul, and
//! again while it drains after a stop, during which it still serves.

mod common;

use std::time::{Duration, Instant};

use common::{one_web_instance, Portico};
use portico_testkit::fake_consul::{health_body, Behaviour, FakeConsul};
use portico_testkit::Backend;
use serde_json::{json, Value};

async fn healthz(portico: &Portico) -> (u16, Value) {
    let response = portico.http.get(format!("http://{}/healthz", portico.admin)).send().await.expect("admin answers");
    (response.status().as_u16(), response.json().await.expect("json"))
}

async fn wait_healthz(portico: &Portico, status: u16) -> Value {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (got, body) = healthz(portico).await;
        if got == status {
            return body;
        }
        assert!(Instant::now() < deadline, "/healthz stayed {got}: {body}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn before_consul_is_read_healthz_and_the_proxy_say_503_not_404() {
    let backend = Backend::start("web-1").await;
    let fake = FakeConsul::start().await;
    fake.set("/v1/catalog/services", Behaviour::Hang); // answers once the test says so
    let portico = Portico::for_consul(&fake.url()).await;

    let (status, body) = healthz(&portico).await;
    assert_eq!((status, body["status"].as_str()), (503, Some("starting")), "{body}");
    let early = portico.get("/web/x").await;
    assert_eq!(early.status(), 503, "an unknown path before the first sync may yet be routed");
    assert_eq!(early.headers()["retry-after"], "1");
    let error: Value = early.json().await.expect("json");
    assert!(error["error"].as_str().is_some_and(|e| e.contains("not ready")), "{error}");

    fake.set("/v1/health/service/web", Behaviour::reply(7, health_body(&[("web-1", backend.port())])));
    fake.set("/v1/catalog/services", Behaviour::reply(7, json!({"web": ["portico.route=/web"]})));
    let body = wait_healthz(&portico, 200).await;
    assert_eq!(body["status"], "ok");
    portico.wait_instances("/web", &["web-1"], Duration::from_secs(5)).await;
    assert_eq!(portico.get("/nothing").await.status(), 404, "after the sync an unknown path is a plain 404");
}

#[tokio::test]
async fn after_a_stop_it_keeps_serving_through_the_drain_delay_while_healthz_says_503() {
    let (_consul, backend, portico) = one_web_instance(|c| c.proxy.drain_delay = Duration::from_secs(2)).await;
    assert_eq!(healthz(&portico).await.0, 200);
    portico.stop.cancel();
    let body = wait_healthz(&portico, 503).await;
    assert_eq!(body["status"], "draining");
    let before = backend.requests();
    for _ in 0..5 {
        assert_eq!(portico.who("/web").await.as_deref(), Ok("web-1"), "served during the drain delay");
    }
    assert_eq!(backend.requests() - before, 5);
    let addr = portico.addr;
    portico.shutdown().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "the listener is closed once the delay is over");
}
