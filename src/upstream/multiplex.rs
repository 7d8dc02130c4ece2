//! HTTP/2 connections to instances (`portico.proto=h2c|h2|grpc|grpcs`),
//! shared by many requests at once.
//!
//! Unlike an HTTP/1.1 connection ([`super::pool`]), an HTTP/2 connection
//! carries streams for many requests at a time, so it cannot be driven by
//! one request's task: each runs as a task of its own, on the proxy thread
//! that opened it. Each instance keeps a short list of them per proxy thread
//! (a [`Lane`]); a request takes a stream on the first connection with room,
//! room being the smaller of [`STREAMS_PER_CONNECTION`] and the instance's
//! own `SETTINGS_MAX_CONCURRENT_STREAMS` ([`super::peer_limit`]). When all
//! are full, another is opened, up to [`CONNECTIONS_PER_LANE`]; past that,
//! the least busy one takes the stream and hyper queues it until the
//! instance makes room. Finding a stream is a lock-free read; only opening
//! a connection is serialised, so a burst opens one connection, not one per
//! request.
//!
//! A connection the instance sends GOAWAY on, or that ended, is draining:
//! it takes no new stream, finishes those it carries, and leaves the list.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use arc_swap::ArcSwap;
use http::uri::Authority;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};

use super::idle::{IdleTimer, Stalled};
use super::outbound::Outbound;
use super::peer_limit::{PeerLimit, Watched};
use super::pool::{open_stream, thread_slot, ConnectError, SendError, SLOTS};
use super::state::clock_ms;
use super::stream::UpstreamTls;

/// Streams one connection carries at most, even when the instance allows more.
pub const STREAMS_PER_CONNECTION: u32 = 100;
/// Connections to one instance per proxy thread before streams queue.
pub const CONNECTIONS_PER_LANE: usize = 4;
/// A connection with streams in flight is pinged this often, and closed
/// when a ping goes unanswered this long: a vanished instance is noticed.
const PING_EVERY: Duration = Duration::from_secs(20);
const PING_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest response header block taken from an instance (h2's default is
/// 16 MiB); a larger one fails that request with a 502.
const MAX_HEADER_LIST: u32 = 256 * 1024;

/// One HTTP/2 connection to an instance.
pub struct Multiplexed {
    sender: http2::SendRequest<Outbound>,
    authority: Authority,
    /// The TLS settings it was made with (`None`: plain).
    tls: Option<u32>,
    /// Streams in flight.
    streams: AtomicU32,
    limit: Arc<PeerLimit>,
    /// GOAWAY received, or the connection ended: no new streams.
    draining: AtomicBool,
    /// When the last stream ended ([`clock_ms`]).
    idle_since_ms: AtomicU64,
}

impl Multiplexed {
    /// Streams it may carry now.
    fn room(&self) -> u32 {
        self.limit.get().map_or(STREAMS_PER_CONNECTION, |peer| peer.min(STREAMS_PER_CONNECTION))
    }

    fn takes_streams_for(&self, authority: &Authority, tls: Option<u32>) -> bool {
        !self.draining.load(Ordering::Relaxed)
            && !self.sender.is_closed()
            && self.tls == tls
            && &self.authority == authority
    }

    /// Reserves a stream if there is room.
    fn reserve(&self) -> bool {
        if self.streams.fetch_add(1, Ordering::Relaxed) < self.room() {
            return true;
        }
        self.streams.fetch_sub(1, Ordering::Relaxed);
        false
    }

    fn idle_longer_than(&self, max_age: Duration) -> bool {
        self.streams.load(Ordering::Relaxed) == 0
            && clock_ms().saturating_sub(self.idle_since_ms.load(Ordering::Relaxed)) >= max_age.as_millis() as u64
    }
}

/// One stream on a shared connection, held until the response body ends.
pub struct StreamLease {
    conn: Arc<Multiplexed>,
    /// Watches the response body for a stall.
    body_idle: IdleTimer,
}

impl std::fmt::Debug for StreamLease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamLease").field("authority", &self.conn.authority).finish()
    }
}

impl StreamLease {
    /// Sends `request` on this stream and waits for the response head.
    pub async fn send(&mut self, request: Request<Outbound>) -> Result<Response<Incoming>, SendError> {
        self.body_idle.progress();
        let mut sender = self.conn.sender.clone();
        match sender.try_send_request(request).await {
            Ok(response) => Ok(response),
            Err(mut e) => match e.take_message() {
                Some(request) => Err(SendError::NotSent(Box::new(request), e.into_error())),
                None => Err(SendError::Failed(e.into_error())),
            },
        }
    }

    /// The instance refused streams on this connection (GOAWAY): no more go to it.
    pub fn drain(&self) {
        self.conn.draining.store(true, Ordering::Relaxed);
    }

    /// To be called while the response body waits: true once it has
    /// waited longer than the body idle timeout.
    pub fn body_stalled(&mut self, cx: &mut std::task::Context<'_>) -> bool {
        self.body_idle.stalled(cx)
    }

    /// The response body made progress.
    pub fn body_progressed(&mut self) {
        self.body_idle.progress();
    }

    /// The error a stalled response body ends with.
    pub fn stall_error(&self) -> Stalled {
        self.body_idle.error()
    }
}

impl Drop for StreamLease {
    fn drop(&mut self) {
        if self.conn.streams.fetch_sub(1, Ordering::Relaxed) == 1 {
            self.conn.idle_since_ms.store(clock_ms(), Ordering::Relaxed);
        }
    }
}

/// An instance's HTTP/2 connections, per proxy thread.
#[derive(Default)]
pub struct Lanes {
    /// Allocated on first use: instances of HTTP/1.1 routes pay one pointer.
    per_thread: OnceLock<Box<[OnceLock<Box<Lane>>; SLOTS]>>,
}

impl std::fmt::Debug for Lanes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lanes").field("open", &self.open()).finish()
    }
}

/// One proxy thread's connections to one instance.
#[derive(Default)]
struct Lane {
    conns: ArcSwap<Vec<Arc<Multiplexed>>>,
    /// Held while a connection is being opened.
    opening: tokio::sync::Mutex<LastOpen>,
    /// Connections this lane tried to open, read without the lock.
    attempts: AtomicU64,
}

/// How the lane's last attempt to open a connection ended.
#[derive(Default)]
struct LastOpen {
    failed: Option<Arc<ConnectError>>,
}

/// How new connections are made.
#[derive(Debug, Clone, Copy)]
pub struct Dial<'a> {
    pub tls: Option<&'a UpstreamTls>,
    pub connect_timeout: Duration,
    pub body_idle: Duration,
}

impl Lanes {
    /// A stream to the instance at `authority`, on a shared connection with
    /// room, or on a new one. Requests that wait while a connection is being
    /// opened share its outcome: a failure to connect fails them at once.
    pub async fn lease(&self, authority: &Authority, dial: Dial<'_>) -> Result<StreamLease, ConnectError> {
        let (lane, tls) = (self.lane(), dial.tls.map(UpstreamTls::id));
        let lease = |conn| StreamLease { conn, body_idle: IdleTimer::new(dial.body_idle) };
        if let Some(conn) = lane.reserve(authority, tls, false) {
            return Ok(lease(conn));
        }
        let seen = lane.attempts.load(Ordering::Acquire);
        let mut last = lane.opening.lock().await;
        if let Some(conn) = lane.reserve(authority, tls, false) {
            return Ok(lease(conn));
        }
        if let (true, Some(failed)) = (lane.attempts.load(Ordering::Acquire) != seen, &last.failed) {
            return Err(ConnectError::Shared(Arc::clone(failed)));
        }
        if lane.open_count(authority, tls) >= CONNECTIONS_PER_LANE {
            if let Some(conn) = lane.reserve(authority, tls, true) {
                return Ok(lease(conn));
            }
        }
        lane.attempts.fetch_add(1, Ordering::Release);
        match open(authority, dial).await {
            Ok(conn) => {
                last.failed = None;
                lane.add(Arc::clone(&conn));
                Ok(lease(conn))
            }
            Err(error) => {
                let error = Arc::new(error);
                last.failed = Some(Arc::clone(&error));
                Err(ConnectError::Shared(error))
            }
        }
    }

    /// Open connections over all threads.
    pub fn open(&self) -> usize {
        self.lanes().map(|lane| lane.conns.load().iter().filter(|c| !c.sender.is_closed()).count()).sum()
    }

    /// Closes the connections idle for `max_age`, and forgets those that ended.
    pub fn sweep(&self, max_age: Duration) {
        let done = |c: &Arc<Multiplexed>| c.sender.is_closed() || c.idle_longer_than(max_age);
        for lane in self.lanes() {
            if lane.conns.load().iter().any(done) {
                lane.conns.rcu(|conns| conns.iter().filter(|c| !done(c)).cloned().collect::<Vec<_>>());
            }
        }
    }

    fn lane(&self) -> &Lane {
        let lanes = self.per_thread.get_or_init(|| Box::new(std::array::from_fn(|_| OnceLock::new())));
        lanes[thread_slot()].get_or_init(Box::default)
    }

    fn lanes(&self) -> impl Iterator<Item = &Lane> {
        self.per_thread.get().into_iter().flat_map(|lanes| lanes.iter().filter_map(|l| l.get().map(|b| &**b)))
    }
}

impl Lane {
    /// A stream on a connection with room; with `overcommit`, on the least
    /// busy one even if it is full.
    fn reserve(&self, authority: &Authority, tls: Option<u32>, overcommit: bool) -> Option<Arc<Multiplexed>> {
        let conns = self.conns.load();
        let mut usable = conns.iter().filter(|c| c.takes_streams_for(authority, tls));
        if overcommit {
            let least = usable.min_by_key(|c| c.streams.load(Ordering::Relaxed))?;
            least.streams.fetch_add(1, Ordering::Relaxed);
            return Some(Arc::clone(least));
        }
        usable.find(|c| c.reserve()).cloned()
    }

    fn open_count(&self, authority: &Authority, tls: Option<u32>) -> usize {
        self.conns.load().iter().filter(|c| c.takes_streams_for(authority, tls)).count()
    }

    /// Adds `conn`, dropping the connections that ended.
    fn add(&self, conn: Arc<Multiplexed>) {
        self.conns.rcu(|conns| {
            let mut kept: Vec<_> = conns.iter().filter(|c| !c.sender.is_closed()).cloned().collect();
            kept.push(Arc::clone(&conn));
            kept
        });
    }
}

/// Opens an HTTP/2 connection and starts its task; one stream is reserved
/// on it for the caller.
async fn open(authority: &Authority, dial: Dial<'_>) -> Result<Arc<Multiplexed>, ConnectError> {
    let stream = open_stream(authority, dial.tls, dial.connect_timeout, true).await?;
    let limit = Arc::new(PeerLimit::default());
    let io = TokioIo::new(Watched::new(stream, Arc::clone(&limit)));
    let (sender, driver) = http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .keep_alive_interval(PING_EVERY)
        .keep_alive_timeout(PING_TIMEOUT)
        .max_header_list_size(MAX_HEADER_LIST)
        .handshake(io)
        .await?;
    let conn = Arc::new(Multiplexed {
        sender,
        authority: authority.clone(),
        tls: dial.tls.map(UpstreamTls::id),
        streams: AtomicU32::new(1),
        limit,
        draining: AtomicBool::new(false),
        idle_since_ms: AtomicU64::new(clock_ms()),
    });
    let watch = Arc::downgrade(&conn);
    tokio::spawn(async move {
        if let Err(error) = driver.await {
            tracing::debug!(%error, "HTTP/2 upstream connection ended with an error");
        }
        if let Some(conn) = watch.upgrade() {
            conn.draining.store(true, Ordering::Relaxed);
        }
    });
    // Streams go out only once the instance's SETTINGS are known: sent
    // before, beyond its limit, they would be refused. An instance that
    // does not answer with SETTINGS does not speak HTTP/2 (often an
    // HTTP/1.1 server behind a route marked h2c): a clear error, early.
    let settled = tokio::time::timeout(dial.connect_timeout, conn.limit.first_frame()).await;
    match (settled, conn.limit.get()) {
        (Ok(()), Some(_)) => Ok(conn),
        (Ok(()), None) => Err(ConnectError::NotHttp2),
        (Err(_), _) => Err(ConnectError::TimedOut(dial.connect_timeout)),
    }
}

#[cfg(test)]
mod tests;
