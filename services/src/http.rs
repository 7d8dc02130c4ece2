//! The HTTP side every service shares: the accept loop (each response gets
//! `X-Instance-Id`), JSON responses and errors, and request bodies read with a
//! size limit so a hostile client cannot make a service buffer gigabytes.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Every response body in the shop.
pub type Body = Full<Bytes>;

/// A service's request handler.
pub trait Handler: Send + Sync + 'static {
    fn handle(&self, request: Request<Incoming>) -> impl Future<Output = Response<Body>> + Send;
}

/// A JSON response.
pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Response<Body> {
    let mut bytes = serde_json::to_vec(value).unwrap_or_default();
    bytes.push(b'\n');
    let mut response = Response::new(Full::new(Bytes::from(bytes)));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// A JSON error: `{"error": message}`.
pub fn error(status: StatusCode, message: impl Into<String>) -> Response<Body> {
    json(status, &serde_json::json!({ "error": message.into() }))
}

/// Reads a JSON body of at most `limit` bytes; the error is the response to send.
pub async fn read_json<T: DeserializeOwned>(request: Request<Incoming>, limit: usize) -> Result<T, Response<Body>> {
    let mut body = request.into_body();
    let mut bytes = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| error(StatusCode::BAD_REQUEST, format!("could not read the body: {e}")))?;
        if let Some(data) = frame.data_ref() {
            if bytes.len() + data.len() > limit {
                discard(body).await;
                return Err(too_large(limit));
            }
            bytes.extend_from_slice(data);
        }
    }
    serde_json::from_slice(&bytes).map_err(|e| error(StatusCode::BAD_REQUEST, format!("malformed JSON: {e}")))
}

/// Reads and drops the rest of an oversize body (up to 8 MiB or 2 s), so the
/// client, or the gateway streaming it, gets the 413 instead of a reset.
async fn discard(mut body: Incoming) {
    let mut left: usize = 8 * 1024 * 1024;
    let drain = async {
        while let Some(Ok(frame)) = body.frame().await {
            left = left.saturating_sub(frame.data_ref().map_or(0, |d| d.len()));
            if left == 0 {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), drain).await;
}

fn too_large(limit: usize) -> Response<Body> {
    error(StatusCode::PAYLOAD_TOO_LARGE, format!("body larger than {limit} bytes"))
}

/// Path segments after the leading slash, without empty ones.
pub fn segments(path: &str) -> Vec<&str> {
    path.split('/').filter(|s| !s.is_empty()).collect()
}

/// The value of a query parameter, percent-decoded.
pub fn query_param(request: &Request<Incoming>, name: &str) -> Option<String> {
    let query = request.uri().query()?;
    let url = reqwest::Url::parse(&format!("http://x/?{query}")).ok()?;
    url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// A share of requests answered 500 instead of served (`SHOP_FAIL_RATE`),
/// spread evenly; `/health` always answers, so Consul keeps the instance and
/// only the gateway can tell it fails.
#[derive(Debug, Default)]
pub struct Failing {
    rate: f64,
    seen: std::sync::atomic::AtomicU64,
}

impl Failing {
    pub fn new(rate: f64) -> Arc<Failing> {
        Arc::new(Failing { rate, seen: Default::default() })
    }

    /// True when this request should fail.
    fn now(&self, path: &str) -> bool {
        if self.rate <= 0.0 || path == "/health" {
            return false;
        }
        let n = self.seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed) as f64;
        ((n + 1.0) * self.rate).floor() > (n * self.rate).floor()
    }
}

/// Serves until `stop`, then lets in-flight requests finish (up to 10 s).
pub async fn serve<H: Handler>(
    listener: TcpListener,
    handler: Arc<H>,
    instance_id: HeaderValue,
    failing: Arc<Failing>,
    stop: CancellationToken,
) {
    let graceful = GracefulShutdown::new();
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.cancelled() => break,
        };
        let (handler, id, failing) = (handler.clone(), instance_id.clone(), failing.clone());
        let service = service_fn(move |request: Request<Incoming>| {
            let (handler, id, failing) = (handler.clone(), id.clone(), failing.clone());
            async move {
                let mut response = match failing.now(request.uri().path()) {
                    true => error(StatusCode::INTERNAL_SERVER_ERROR, "failing on purpose (SHOP_FAIL_RATE)"),
                    false => handler.handle(request).await,
                };
                response.headers_mut().insert("x-instance-id", id);
                Ok::<_, Infallible>(response)
            }
        });
        let connection = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            let _ = connection.await;
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(Duration::from_secs(10), graceful.shutdown()).await;
}
