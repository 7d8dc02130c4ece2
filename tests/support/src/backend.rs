//! A small in-process HTTP/1.1 service that says who answered.
//!
//! - every response carries `X-Instance-Id`;
//! - `GET /health` → 200;
//! - `POST`/`PUT` anything → the request body streamed back (echo);
//! - `GET .../download/<bytes>` → that many bytes, streamed in 64 KiB chunks;
//! - `GET .../slow/<ms>` → answers after a delay;
//! - `Connection: upgrade` → `101`, then echoes raw bytes (a tunnel test);
//! - anything else → JSON with the instance, path, request headers and the
//!   request's number;
//! - a request header `X-Reply-<Name>: value` comes back as `<Name>: value`
//!   (how tests make an instance send `Cache-Control`, `Vary`, `Set-Cookie`),
//!   and `X-Reply-Status: 304` sets the status.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

type ResponseBody = BoxBody<Bytes, hyper::Error>;

/// A running backend; stops accepting when dropped.
pub struct Backend {
    pub id: String,
    pub addr: SocketAddr,
    requests: Arc<AtomicU64>,
    seen: Arc<Seen>,
    task: JoinHandle<()>,
}

/// When the first and the last request (health checks excluded) arrived.
#[derive(Debug, Default)]
pub struct Seen {
    first: std::sync::OnceLock<Instant>,
    last: std::sync::Mutex<Option<Instant>>,
    connections: AtomicU64,
}

impl Backend {
    /// Starts a backend named `id` on a free loopback port.
    pub async fn start(id: &str) -> Backend {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind backend");
        let addr = listener.local_addr().expect("backend addr");
        let requests = Arc::new(AtomicU64::new(0));
        let seen = Arc::new(Seen::default());
        let task = tokio::spawn(accept(listener, id.to_string(), Arc::clone(&requests), Arc::clone(&seen)));
        Backend { id: id.to_string(), addr, requests, seen, task }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Requests answered so far (health checks excluded).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// When the first request arrived.
    pub fn first_request_at(&self) -> Option<Instant> {
        self.seen.first.get().copied()
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.seen.connections.load(Ordering::Relaxed)
    }

    /// When the latest request arrived.
    pub fn last_request_at(&self) -> Option<Instant> {
        *self.seen.last.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept(listener: TcpListener, id: String, requests: Arc<AtomicU64>, seen: Arc<Seen>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        seen.connections.fetch_add(1, Ordering::Relaxed);
        let id = id.clone();
        let (requests, seen) = (Arc::clone(&requests), Arc::clone(&seen));
        let service = service_fn(move |request| {
            if request.uri().path() != "/health" {
                let now = Instant::now();
                let _ = seen.first.set(now);
                *seen.last.lock().unwrap_or_else(|e| e.into_inner()) = Some(now);
            }
            answer(request, id.clone(), Arc::clone(&requests))
        });
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades()
                .await;
        });
    }
}

async fn answer(
    mut request: Request<Incoming>,
    id: String,
    requests: Arc<AtomicU64>,
) -> Result<Response<ResponseBody>, Infallible> {
    let path = request.uri().path().to_string();
    if path == "/health" {
        return Ok(respond(&id, StatusCode::OK, full("ok")));
    }
    let number = requests.fetch_add(1, Ordering::Relaxed) + 1;
    if request.headers().contains_key(http::header::UPGRADE) {
        let upgrade = hyper::upgrade::on(&mut request);
        tokio::spawn(async move {
            if let Ok(upgraded) = upgrade.await {
                let mut io = TokioIo::new(upgraded);
                let mut buf = [0u8; 1024];
                while let Ok(n) = io.read(&mut buf).await {
                    if n == 0 || io.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            }
        });
        let mut response = respond(&id, StatusCode::SWITCHING_PROTOCOLS, full(""));
        response.headers_mut().insert("connection", "upgrade".parse().expect("static"));
        response.headers_mut().insert("upgrade", "echo".parse().expect("static"));
        return Ok(response);
    }
    if request.method() == http::Method::POST || request.method() == http::Method::PUT {
        return Ok(respond(&id, StatusCode::OK, request.into_body().boxed()));
    }
    if let Some(n) = after(&path, "/download/").and_then(|n| n.parse::<u64>().ok()) {
        return Ok(respond(&id, StatusCode::OK, Zeros(n).boxed()));
    }
    if let Some(ms) = after(&path, "/slow/").and_then(|n| n.parse::<u64>().ok()) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let headers: serde_json::Map<String, serde_json::Value> =
        request.headers().iter().map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into())).collect();
    let body = serde_json::json!({
        "instance": id,
        "path": request.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/"),
        "method": request.method().as_str(),
        "headers": headers,
        "n": number,
    });
    let mut response = respond(&id, StatusCode::OK, full(body.to_string()));
    for (name, value) in request.headers() {
        let reply = name.as_str().strip_prefix("x-reply-").and_then(|n| http::HeaderName::try_from(n).ok());
        match reply {
            Some(reply) if reply == "status" => {
                let status = value.to_str().ok().and_then(|v| v.parse::<u16>().ok());
                if let Some(status) = status.and_then(|s| StatusCode::from_u16(s).ok()) {
                    *response.status_mut() = status;
                }
            }
            Some(reply) => {
                response.headers_mut().append(reply, value.clone());
            }
            None => {}
        }
    }
    Ok(response)
}

/// What follows `marker` anywhere in the path, so routes with or without
/// strip-prefix reach the same behaviour.
fn after<'a>(path: &'a str, marker: &str) -> Option<&'a str> {
    path.find(marker).map(|i| &path[i + marker.len()..])
}

fn respond(id: &str, status: StatusCode, body: ResponseBody) -> Response<ResponseBody> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    if let Ok(value) = id.parse() {
        response.headers_mut().insert("x-instance-id", value);
    }
    response
}

fn full(text: impl Into<Bytes>) -> ResponseBody {
    Full::new(text.into()).map_err(|never| match never {}).boxed()
}

/// `n` zero bytes, produced in chunks as the reader asks for them.
pub struct Zeros(pub u64);

static CHUNK: [u8; 65536] = [0u8; 65536];

impl Body for Zeros {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        if self.0 == 0 {
            return Poll::Ready(None);
        }
        let n = self.0.min(CHUNK.len() as u64);
        self.0 -= n;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(&CHUNK[..n as usize])))))
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        hyper::body::SizeHint::with_exact(self.0)
    }
}
