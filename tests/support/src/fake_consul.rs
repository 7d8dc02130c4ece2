//! A scripted stand-in for the Consul HTTP API, only for the faults a real
//! agent will not produce on demand: 500s, replies that hang past the read
//! timeout, an index that goes backwards without a restart, a reply claiming
//! there is no leader.
//!
//! Each endpoint (`/v1/catalog/services`, `/v1/health/service/<name>`) serves
//! its current [`Behaviour`]; a request whose `index` is not behind the
//! current reply blocks, like Consul, until the test changes the behaviour or
//! `wait` runs out. Every request is logged with its query and token.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What an endpoint does now.
#[derive(Debug, Clone)]
pub enum Behaviour {
    /// Answer 200 with this index, body and headers.
    Reply { index: u64, body: Value, headers: Vec<(&'static str, &'static str)> },
    /// Answer with an error status at once.
    Fail(u16),
    /// Never answer.
    Hang,
}

impl Behaviour {
    /// A normal reply.
    pub fn reply(index: u64, body: Value) -> Behaviour {
        Behaviour::Reply { index, body, headers: vec![("x-consul-knownleader", "true")] }
    }
}

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Logged {
    pub at: Instant,
    pub path: String,
    pub index: u64,
    pub token: Option<String>,
}

type Endpoints = Arc<Mutex<HashMap<String, watch::Sender<Behaviour>>>>;

/// The running fake; stops when dropped.
pub struct FakeConsul {
    pub addr: SocketAddr,
    endpoints: Endpoints,
    log: Arc<Mutex<Vec<Logged>>>,
    task: JoinHandle<()>,
}

impl FakeConsul {
    /// Starts on a free loopback port; unknown endpoints hang.
    pub async fn start() -> FakeConsul {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind fake consul");
        let addr = listener.local_addr().expect("addr");
        let endpoints: Endpoints = Arc::default();
        let log = Arc::new(Mutex::new(Vec::new()));
        let task = tokio::spawn(accept(listener, endpoints.clone(), log.clone()));
        FakeConsul { addr, endpoints, log, task }
    }

    /// `http://addr`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Sets what `path` (e.g. `/v1/catalog/services`) does from now on.
    pub fn set(&self, path: &str, behaviour: Behaviour) {
        let mut endpoints = self.endpoints.lock().unwrap_or_else(|e| e.into_inner());
        match endpoints.get(path) {
            Some(tx) => {
                tx.send_replace(behaviour);
            }
            None => {
                endpoints.insert(path.to_string(), watch::channel(behaviour).0);
            }
        }
    }

    /// Every request so far.
    pub fn log(&self) -> Vec<Logged> {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Requests so far to `path`.
    pub fn requests_to(&self, path: &str) -> Vec<Logged> {
        self.log().into_iter().filter(|l| l.path == path).collect()
    }
}

impl Drop for FakeConsul {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept(listener: TcpListener, endpoints: Endpoints, log: Arc<Mutex<Vec<Logged>>>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let (endpoints, log) = (endpoints.clone(), log.clone());
        let service = service_fn(move |request| answer(request, endpoints.clone(), log.clone()));
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

fn query_value(request: &Request<Incoming>, key: &str) -> Option<String> {
    request.uri().query()?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == key).then(|| v.to_string())
    })
}

fn parse_wait(value: Option<String>) -> Duration {
    let v = value.unwrap_or_default();
    let ms = v.strip_suffix("ms").and_then(|n| n.parse().ok());
    let s = v.strip_suffix('s').and_then(|n| n.parse::<u64>().ok()).map(|s| s * 1000);
    Duration::from_millis(ms.or(s).unwrap_or(300_000))
}

async fn answer(
    request: Request<Incoming>,
    endpoints: Endpoints,
    log: Arc<Mutex<Vec<Logged>>>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path().to_string();
    let index: u64 = query_value(&request, "index").and_then(|v| v.parse().ok()).unwrap_or(0);
    let wait = parse_wait(query_value(&request, "wait"));
    let token = request.headers().get("x-consul-token").and_then(|v| v.to_str().ok()).map(String::from);
    log.lock().unwrap_or_else(|e| e.into_inner()).push(Logged { at: Instant::now(), path: path.clone(), index, token });
    let rx = endpoints.lock().unwrap_or_else(|e| e.into_inner()).get(&path).map(|tx| tx.subscribe());
    let Some(mut rx) = rx else {
        return Ok(std::future::pending().await);
    };
    let current = rx.borrow_and_update().clone();
    let behaviour = match current {
        Behaviour::Hang => wait_for_change(&mut rx, None).await,
        Behaviour::Reply { index: now, .. } if index > 0 && now <= index => wait_for_change(&mut rx, Some(wait)).await,
        other => other,
    };
    Ok(render(behaviour))
}

async fn wait_for_change(rx: &mut watch::Receiver<Behaviour>, limit: Option<Duration>) -> Behaviour {
    let changed = async {
        loop {
            if rx.changed().await.is_err() {
                return std::future::pending().await;
            }
            let now = rx.borrow_and_update().clone();
            if !matches!(now, Behaviour::Hang) {
                return now;
            }
        }
    };
    let Some(limit) = limit else { return changed.await };
    match tokio::time::timeout(limit, changed).await {
        Ok(b) => b,
        Err(_) => match current(rx) {
            // Hanging means never answering, even when `wait` is over.
            Behaviour::Hang => std::future::pending().await,
            now => now,
        },
    }
}

fn current(rx: &watch::Receiver<Behaviour>) -> Behaviour {
    rx.borrow().clone()
}

fn render(behaviour: Behaviour) -> Response<Full<Bytes>> {
    match behaviour {
        Behaviour::Reply { index, body, headers } => {
            let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
            let h = response.headers_mut();
            h.insert("x-consul-index", index.into());
            h.insert("content-type", "application/json".parse().expect("static"));
            for (k, v) in headers {
                h.insert(k, v.parse().expect("static header"));
            }
            response
        }
        Behaviour::Fail(status) => {
            let mut response = Response::new(Full::new(Bytes::from_static(b"rpc error: No cluster leader")));
            *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            response
        }
        Behaviour::Hang => Response::new(Full::new(Bytes::new())),
    }
}

/// A `/v1/health/service` body with one instance per `(id, port)`.
pub fn health_body(instances: &[(&str, u16)]) -> Value {
    Value::Array(
        instances
            .iter()
            .map(|(id, port)| {
                serde_json::json!({
                    "Node": {"Node": "fake", "Address": "127.0.0.1"},
                    "Service": {"ID": id, "Service": "web", "Address": "127.0.0.1", "Port": port},
                    "Checks": []
                })
            })
            .collect(),
    )
}
