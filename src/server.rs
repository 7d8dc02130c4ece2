//! Serving HTTP, for every listener (public, TLS, admin): the accept loop
//! with its connection limits, the proxy threads it deals connections to
//! ([`workers`]), the [`Handler`] a listener answers with, the response
//! [`Body`] type, and JSON error responses. Nothing here knows what a route is.
//!
//! The caller binds the socket and passes a cancellation token, so tests bind
//! port 0 and stop the server at will. On cancellation the listener closes at
//! once, open connections finish their in-flight requests (HTTP/1 keep-alive
//! and HTTP/2 are told to close), and after `grace` whatever is left is cut.
//!
//! A plain connection goes first to the handler's own HTTP/1.1 path, if it
//! has one ([`Handler::serve_plain`]), and to hyper when the handler hands
//! it over with the bytes it has read ([`handoff`]).
//!
//! With a TLS acceptor the handshake runs in the connection's own task, under
//! the header timeout, so a slow handshake cannot stall the accept loop. With
//! [`Workers`], each connection's task runs on the next proxy thread.

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
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

pub mod body;
pub mod drain;
pub mod handoff;
pub mod workers;

use crate::log_throttle::LogThrottle;
pub use body::{json_response, Body, BoxError, NoStream};
use drain::{Drain, Watcher};
pub use handoff::{Handoff, PlainConnection};
use workers::Workers;

static ACCEPT_FAILED: LogThrottle = LogThrottle::new(Duration::from_secs(1));
static REFUSED: LogThrottle = LogThrottle::new(Duration::from_secs(1));

/// Connection-level limits.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// Clients must send their request headers within this time (slowloris);
    /// it also closes keep-alive connections idle that long.
    pub header_read_timeout: Duration,
    /// How long shutdown waits for in-flight requests.
    pub grace: Duration,
    /// Connections served at once; more are answered 503 and closed.
    pub max_connections: usize,
    /// Largest request head; 431 over it.
    pub max_header_bytes: usize,
    /// The threads that serve the connections; `None`: the accept loop's runtime.
    pub workers: Option<Arc<Workers>>,
}

/// What a connection over the limit gets before it is closed.
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: 56\r\n\r\n{\"error\":\"too many connections\",\"status\":503,\"retry\":1}\n";

/// What a handler learns about the connection a request came on.
#[derive(Debug, Clone)]
pub struct Conn {
    /// The peer's address.
    pub client: SocketAddr,
    /// True when the connection is TLS.
    pub tls: bool,
    /// The name the client asked for in the TLS handshake (SNI), lower-case.
    pub server_name: Option<Arc<str>>,
}

/// Something that answers requests.
pub trait Handler: Send + Sync + 'static {
    /// The body it streams of its own ([`NoStream`] when it writes every body whole).
    type Stream: http_body::Body<Data = bytes::Bytes, Error = BoxError> + Unpin + Send + 'static;

    fn call(&self, request: Request<Incoming>, conn: Conn)
        -> impl Future<Output = Response<Body<Self::Stream>>> + Send;

    /// Serves a plain-HTTP connection's requests itself, as long as it
    /// wants: `None` when the connection is over, else the connection and
    /// the bytes read from it, for hyper to serve from there. By default
    /// hyper serves it all.
    fn serve_plain(&self, plain: PlainConnection<'_>) -> impl Future<Output = Option<Handoff>> + Send {
        std::future::ready(Some(plain.hand_off()))
    }
}

/// Serves `listener` in plain HTTP until `stop` is cancelled, then drains.
pub async fn serve<H: Handler>(
    listener: TcpListener,
    handler: Arc<H>,
    settings: ServerSettings,
    stop: CancellationToken,
) {
    serve_with(listener, handler, settings, None, stop).await
}

/// Serves `listener` over TLS until `stop` is cancelled, then drains.
pub async fn serve_tls<H: Handler>(
    listener: TcpListener,
    handler: Arc<H>,
    settings: ServerSettings,
    acceptor: TlsAcceptor,
    stop: CancellationToken,
) {
    serve_with(listener, handler, settings, Some(acceptor), stop).await
}

async fn serve_with<H: Handler>(
    listener: TcpListener,
    handler: Arc<H>,
    settings: ServerSettings,
    tls: Option<TlsAcceptor>,
    stop: CancellationToken,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_read_timeout)
        .max_buf_size(settings.max_header_bytes.max(8192))
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(256)
        .max_header_list_size(settings.max_header_bytes as u32)
        .keep_alive_interval(Some(Duration::from_secs(30)));
    // One per proxy thread: every poll of a connection reads its signal,
    // and each connection's arrival and end write to it.
    let threads = settings.workers.as_ref().map_or(1, |w| w.len());
    let graceful: Vec<Drain> = (0..threads).map(|_| Drain::default()).collect();
    let slots = Arc::new(Semaphore::new(settings.max_connections));
    loop {
        let (stream, client) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    // Usually out of file descriptors: back off instead of spinning.
                    if let Some(suppressed) = ACCEPT_FAILED.admit() {
                        tracing::warn!(%error, suppressed, "accept failed");
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.cancelled() => break,
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            tokio::spawn(refuse(stream));
            continue;
        };
        let _ = stream.set_nodelay(true);
        let handler = Arc::clone(&handler);
        let conn = Conn { client, tls: tls.is_some(), server_name: None };
        let thread = settings.workers.as_ref().map_or(0, |w| w.next());
        let (watcher, workers) = (graceful[thread].watcher(), settings.workers.as_deref().map(|w| (w, thread)));
        // Plain and TLS connections are separate tasks: a plain connection's
        // task must not carry the (much larger) TLS state, which would cost
        // cache misses on every request once there are hundreds of connections.
        match &tls {
            None => {
                let builder = builder.clone();
                let limits = (settings.header_read_timeout, settings.max_header_bytes);
                place(workers, stream, move |stream| {
                    serve_plain(builder, stream, handler, conn, watcher, slot, limits)
                });
            }
            Some(acceptor) => {
                let secure = Secure {
                    acceptor: acceptor.clone(),
                    builder: builder.clone(),
                    timeout: settings.header_read_timeout,
                };
                place(workers, stream, move |stream| secure.serve(stream, handler, conn, watcher, slot));
            }
        }
    }
    drop(listener);
    drain(graceful, settings.grace).await;
}

/// Runs `serve(stream)` on proxy thread `thread`, or on this runtime when
/// there are no proxy threads. The stream moves to the thread's own runtime.
fn place<F, Fut>(workers: Option<(&Workers, usize)>, stream: TcpStream, serve: F)
where
    F: FnOnce(TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some((workers, thread)) = workers else {
        tokio::spawn(serve(stream));
        return;
    };
    match stream.into_std() {
        Ok(moving) => workers.spawn_on(thread, async move {
            match TcpStream::from_std(moving) {
                Ok(stream) => serve(stream).await,
                Err(error) => tracing::warn!(%error, "cannot register a connection with its proxy thread"),
            }
        }),
        Err(error) => tracing::warn!(%error, "cannot hand a connection to a proxy thread"),
    }
}

/// The requests of one connection, answered by `handler`.
fn service<H: Handler>(
    handler: Arc<H>,
    conn: Conn,
) -> impl hyper::service::Service<
    Request<Incoming>,
    Response = Response<Body<H::Stream>>,
    Error = Infallible,
    Future: Send + 'static,
> + Send
       + 'static {
    service_fn(move |request| {
        let handler = Arc::clone(&handler);
        let conn = conn.clone();
        async move { Ok::<_, Infallible>(handler.call(request, conn).await) }
    })
}

/// Serves one plain-HTTP connection until it closes or shutdown drains it:
/// the handler first, then hyper, if the handler hands it over.
async fn serve_plain<H: Handler>(
    builder: auto::Builder<TokioExecutor>,
    stream: TcpStream,
    handler: Arc<H>,
    conn: Conn,
    mut watcher: Watcher,
    slot: OwnedSemaphorePermit,
    (header_read_timeout, max_header_bytes): (Duration, usize),
) {
    let client = conn.client;
    let plain = PlainConnection { stream, conn: &conn, header_read_timeout, max_header_bytes, shutdown: &mut watcher };
    let Some(handoff) = handler.serve_plain(plain).await else { return drop(slot) };
    let io = TokioIo::new(handoff::Rewind::new(handoff));
    let connection = builder.serve_connection_with_upgrades(io, service(handler, conn));
    if let Err(error) = watcher.watch(connection).await {
        tracing::debug!(%error, %client, "connection ended with an error");
    }
    drop(slot);
}

/// What a TLS connection's task needs: the handshake, then the same server.
struct Secure {
    acceptor: TlsAcceptor,
    builder: auto::Builder<TokioExecutor>,
    timeout: Duration,
}

impl Secure {
    async fn serve<H: Handler>(
        self,
        stream: TcpStream,
        handler: Arc<H>,
        mut conn: Conn,
        watcher: Watcher,
        slot: OwnedSemaphorePermit,
    ) {
        let client = conn.client;
        let result = match tokio::time::timeout(self.timeout, self.acceptor.accept(stream)).await {
            Ok(Ok(stream)) => {
                conn.server_name = stream.get_ref().1.server_name().map(|name| name.to_ascii_lowercase().into());
                // ALPN settled the protocol: an h2 connection that does not
                // open with the HTTP/2 preface is closed (RFC 9113 §3.4), not
                // sniffed and answered in HTTP/1.1.
                // (Only the upgrade-less server honours `http2_only`; HTTP/2
                // has no HTTP/1.1-style upgrades anyway.)
                if stream.get_ref().1.alpn_protocol() == Some(b"h2") {
                    let h2 = self.builder.http2_only();
                    watcher.watch(h2.serve_connection(TokioIo::new(stream), service(handler, conn))).await
                } else {
                    let io = TokioIo::new(stream);
                    watcher.watch(self.builder.serve_connection_with_upgrades(io, service(handler, conn))).await
                }
            }
            Ok(Err(error)) => Err(format!("TLS handshake failed: {error}").into()),
            Err(_) => Err("TLS handshake timed out".into()),
        };
        if let Err(error) = result {
            tracing::debug!(%error, %client, "TLS connection ended with an error");
        }
        drop(slot);
    }
}

/// Answers a connection over the limit with a 503 and closes it.
async fn refuse(mut stream: TcpStream) {
    if let Some(suppressed) = REFUSED.admit() {
        tracing::warn!(suppressed, "connection limit reached; refusing a connection");
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(BUSY)).await;
    let _ = stream.shutdown().await;
}

async fn drain(graceful: Vec<Drain>, grace: Duration) {
    let all = async {
        for g in graceful {
            g.shutdown().await;
        }
    };
    tokio::select! {
        _ = all => tracing::debug!("all connections drained"),
        _ = tokio::time::sleep(grace) => tracing::warn!("shutdown grace period over; closing remaining connections"),
    }
}
