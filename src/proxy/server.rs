//! The accept loop shared by the public and admin listeners.
//!
//! The caller binds the socket and passes a cancellation token, so tests bind
//! port 0 and stop the server at will. On cancellation the listener closes at
//! once, open connections finish their in-flight requests (HTTP/1 keep-alive
//! and HTTP/2 are told to close), and after `grace` whatever is left is cut.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::body::ProxyBody;

/// Connection-level limits.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// Clients must send their request headers within this time.
    pub header_read_timeout: Duration,
    /// How long shutdown waits for in-flight requests.
    pub grace: Duration,
}

/// Something that answers requests.
pub trait Handler: Send + Sync + 'static {
    fn call(&self, request: Request<Incoming>, client: SocketAddr) -> impl Future<Output = Response<ProxyBody>> + Send;
}

/// Serves `listener` until `stop` is cancelled, then drains.
pub async fn serve<H: Handler>(
    listener: TcpListener,
    handler: Arc<H>,
    settings: ServerSettings,
    stop: CancellationToken,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(settings.header_read_timeout).keep_alive(true);
    builder.http2().timer(TokioTimer::new()).max_concurrent_streams(256);
    let graceful = GracefulShutdown::new();
    loop {
        let (stream, client) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    // Usually out of file descriptors: back off instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.cancelled() => break,
        };
        let _ = stream.set_nodelay(true);
        let handler = Arc::clone(&handler);
        let service = service_fn(move |request| {
            let handler = Arc::clone(&handler);
            async move { Ok::<_, Infallible>(handler.call(request, client).await) }
        });
        let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service).into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, %client, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => tracing::debug!("all connections drained"),
        _ = tokio::time::sleep(settings.grace) => tracing::warn!("shutdown grace period over; closing remaining connections"),
    }
}
