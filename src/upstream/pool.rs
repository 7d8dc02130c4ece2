//! Connections to instances, kept per instance and driven by the request
//! that is using them.
//!
//! A pooled client in the usual style (hyper-util's) runs each upstream
//! connection as a task of its own: a request travels to that task over a
//! channel, the response comes back over another, and one more task is spawned
//! per request to put the connection back. Here the request's own task polls
//! the connection: first while it waits for the response head, then from the
//! response body ([`crate::proxy::UpstreamBody`]) until the last byte, after
//! which the connection goes back to its instance's idle queue. A proxied
//! request so costs no extra task, channel or wake-up of another thread.
//!
//! Idle HTTP/1.1 connections wait in a lock-free queue on the instance's
//! [`Endpoint`](super::Endpoint), one per proxy thread, so they follow the
//! instance across snapshot swaps and close when it leaves, and each thread
//! reuses the connections its own runtime drives. Nothing polls an
//! idle connection: one the instance closed is noticed when it is taken (it
//! is then dropped and the next one tried) or by the periodic sweep ([`Connections::sweep`]).

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::Duration;

use crossbeam_queue::SegQueue;
use http::uri::Authority;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::idle::{IdleTimer, Stalled};
use super::multiplex::Lanes;
use super::outbound::Outbound;
use super::stream::{Stream, UpstreamTls};
use super::wake_flag::WakeFlag;
use super::wire::Wire;

/// Idle connections kept per instance and proxy thread; more are closed.
pub const MAX_IDLE_PER_INSTANCE: usize = 512;

type Driver = http1::Connection<TokioIo<Stream>, Outbound>;

/// One HTTP/1.1 connection to an instance.
pub struct Connection {
    sender: http1::SendRequest<Outbound>,
    driver: Option<Driver>,
    authority: Authority,
    /// The TLS settings it was made with (`None`: plain): an idle connection
    /// is reused only by a route that would make the same.
    tls: Option<u32>,
    idle_since: Instant,
    /// How long the instance keeps it open while idle, when it says so
    /// (`Keep-Alive: timeout=N`, as Node.js and Apache send).
    server_idle: Option<Duration>,
    /// Watches the response body now arriving for a stall.
    body_idle: IdleTimer,
    /// Raised when its socket stirred while it was idle.
    stirred: WakeFlag,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection").field("authority", &self.authority).finish()
    }
}

/// Why a connection could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("connect timed out after {0:?}")]
    TimedOut(Duration),
    #[error("connect: {0}")]
    Io(#[from] std::io::Error),
    #[error("TLS handshake: {0}")]
    Tls(std::io::Error),
    #[error("HTTP handshake: {0}")]
    Handshake(#[from] hyper::Error),
    #[error("the instance does not speak HTTP/2: its first answer was not HTTP/2 SETTINGS (is the route's portico.proto right?)")]
    NotHttp2,
    /// The attempt another request was waiting on failed this way.
    #[error("{0}")]
    Shared(std::sync::Arc<ConnectError>),
}

impl ConnectError {
    /// True when the instance did not answer in time (a 504, not a 502).
    pub fn timed_out(&self) -> bool {
        match self {
            ConnectError::TimedOut(_) => true,
            ConnectError::Shared(inner) => inner.timed_out(),
            _ => false,
        }
    }
}

/// Why a request got no response head.
#[derive(Debug)]
pub enum SendError {
    /// The connection was closed before the request was written: it can go
    /// out again, unchanged, on another connection.
    NotSent(Box<Request<Outbound>>, hyper::Error),
    /// Anything after that.
    Failed(hyper::Error),
}

/// Opens the byte stream to `authority` within `timeout`: TCP, then TLS
/// when `tls` is set, offering HTTP/2 or HTTP/1.1 by ALPN as `http2` says.
pub(super) async fn open_stream(
    authority: &Authority,
    tls: Option<&UpstreamTls>,
    timeout: Duration,
    http2: bool,
) -> Result<Stream, ConnectError> {
    let opened = async {
        let tcp = connect_tcp(authority).await?;
        match tls {
            Some(tls) => tls.handshake(tcp, authority, http2).await.map_err(ConnectError::Tls),
            None => Ok(Stream::Plain(tcp)),
        }
    };
    tokio::time::timeout(timeout, opened).await.map_err(|_| ConnectError::TimedOut(timeout))?
}

/// A TCP connection to `authority`, without Nagle's delay.
pub(super) async fn connect_tcp(authority: &Authority) -> Result<TcpStream, ConnectError> {
    let tcp = TcpStream::connect(authority.as_str()).await?;
    tcp.set_nodelay(true)?;
    Ok(tcp)
}

/// A hyper connection over a plain connection the gateway's own HTTP/1.1
/// path let go of (an HTTP/1 handshake does no I/O).
pub async fn adopt(wire: Box<Wire>, body_idle: Duration) -> Result<Box<Connection>, ConnectError> {
    let (authority, server_idle) = (wire.authority().clone(), wire.server_idle_timeout());
    Connection::over(Stream::Plain(wire.stream), (authority, None), server_idle, body_idle).await
}

/// Opens a connection to `authority` within `timeout`; a response body on
/// it that stalls for `body_idle` ends with an error.
pub async fn connect(
    authority: &Authority,
    tls: Option<&UpstreamTls>,
    timeout: Duration,
    body_idle: Duration,
) -> Result<Box<Connection>, ConnectError> {
    let stream = open_stream(authority, tls, timeout, false).await?;
    Connection::over(stream, (authority.clone(), tls.map(UpstreamTls::id)), None, body_idle).await
}

impl Connection {
    /// HTTP/1.1 over `stream`, open to `authority` with the TLS settings
    /// `tls` names (`None`: plain).
    async fn over(
        stream: Stream,
        (authority, tls): (Authority, Option<u32>),
        server_idle: Option<Duration>,
        body_idle: Duration,
    ) -> Result<Box<Connection>, ConnectError> {
        let (sender, driver) = http1::Builder::new().handshake(TokioIo::new(stream)).await?;
        Ok(Box::new(Connection {
            sender,
            driver: Some(driver),
            authority,
            tls,
            idle_since: Instant::now(),
            server_idle,
            body_idle: IdleTimer::new(body_idle),
            stirred: WakeFlag::default(),
        }))
    }

    /// Sends `request` and waits for the response head, driving the
    /// connection meanwhile. The connection comes back with the response;
    /// its [`Connection::poll_drive`] must be called until the body ends.
    pub async fn send(
        mut self: Box<Self>,
        request: Request<Outbound>,
    ) -> Result<(Response<Incoming>, Box<Connection>), SendError> {
        self.body_idle.progress();
        let mut sent = std::pin::pin!(self.sender.try_send_request(request));
        // Driven where it lies: moving hyper's connection state (about
        // 700 bytes) into this future and back cost two copies a request.
        let driver = &mut self.driver;
        let result = poll_fn(|cx| {
            drive(driver, cx);
            sent.as_mut().poll(cx)
        })
        .await;
        match result {
            Ok(response) => {
                if let Some(timeout) = keep_alive_timeout(response.headers()) {
                    self.server_idle = Some(timeout);
                }
                Ok((response, self))
            }
            Err(mut e) => match e.take_message() {
                Some(request) => Err(SendError::NotSent(Box::new(request), e.into_error())),
                None => Err(SendError::Failed(e.into_error())),
            },
        }
    }

    /// The plain connection under an idle, plain connection, for the
    /// gateway's own HTTP/1.1 path (`None` for TLS, or bytes left unread).
    pub fn into_wire(mut self: Box<Self>) -> Option<Box<Wire>> {
        let parts = self.driver.take()?.into_parts();
        match (parts.io.into_inner(), parts.read_buf.is_empty()) {
            (Stream::Plain(tcp), true) => Some(Wire::from_stream(tcp, self.authority.clone(), self.server_idle)),
            _ => None,
        }
    }

    /// Moves the connection's I/O into a task of its own, for a request that
    /// may switch protocols: the tunnel outlives the response.
    pub fn detach_for_upgrade(mut self: Box<Self>) -> http1::SendRequest<Outbound> {
        if let Some(driver) = self.driver.take() {
            tokio::spawn(async move {
                if let Err(error) = driver.with_upgrades().await {
                    tracing::debug!(%error, "upstream upgrade connection ended with an error");
                }
            });
        }
        self.sender
    }

    /// To be called while the response body waits: true once it has
    /// waited longer than the body idle timeout.
    pub fn body_stalled(&mut self, cx: &mut Context<'_>) -> bool {
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

    /// Reads and writes what is pending; false once the connection is over.
    pub fn poll_drive(&mut self, cx: &mut Context<'_>) -> bool {
        drive(&mut self.driver, cx)
    }

    /// True when it has been idle less than `max_age` and another request
    /// can go out on it now.
    fn fresh(&mut self, max_age: Duration) -> bool {
        if self.idle_since.elapsed() >= idle_limit(max_age, self.server_idle) {
            return false;
        }
        // Nothing arrived while it sat idle: it is as it was when it was put back.
        match self.stirred.raised() {
            false => self.sender.is_ready(),
            true => self.reusable(),
        }
    }

    /// True when another request can go out on it now. Polled with a waker
    /// that raises `stirred`, so that whatever arrives next is noticed.
    fn reusable(&mut self) -> bool {
        let mut cx = Context::from_waker(self.stirred.lower());
        drive(&mut self.driver, &mut cx) && self.sender.is_ready()
    }
}

/// The `timeout` of a `Keep-Alive` header (`timeout=5, max=100`), if any.
fn keep_alive_timeout(headers: &http::HeaderMap) -> Option<Duration> {
    crate::http1::response::keep_alive_timeout(headers.get(&KEEP_ALIVE)?.as_bytes())
}

static KEEP_ALIVE: http::HeaderName = http::HeaderName::from_static("keep-alive");

/// How long an idle connection is used: `max_age`, and when its server
/// closes idle connections after `server`, a second less than that (half
/// of it below two seconds), so a request is never sent into the moment
/// the server closes.
pub(super) fn idle_limit(max_age: Duration, server: Option<Duration>) -> Duration {
    let Some(server) = server else { return max_age };
    let before_close = if server >= Duration::from_secs(2) { server - Duration::from_secs(1) } else { server / 2 };
    max_age.min(before_close)
}

/// Polls the connection if it is still open; false (and dropped) once it ended.
fn drive(driver: &mut Option<Driver>, cx: &mut Context<'_>) -> bool {
    let Some(d) = driver.as_mut() else { return false };
    match Pin::new(d).poll(cx) {
        Poll::Pending => true,
        Poll::Ready(result) => {
            if let Err(error) = result {
                tracing::debug!(%error, "upstream connection ended with an error");
            }
            *driver = None;
            false
        }
    }
}

/// Idle queues per instance: one per proxy thread ([`set_thread_slot`]),
/// so a thread takes back the connections it used, registered with its own
/// runtime, and threads do not share a queue or a counter.
pub(super) const SLOTS: usize = 32;

thread_local! {
    static SLOT: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// This thread's slot in per-instance, per-thread structures.
pub(super) fn thread_slot() -> usize {
    SLOT.with(|s| s.get())
}

/// Makes this thread use idle queue `slot` (threads beyond `SLOTS` share).
/// Threads that never call it share slot 0.
pub fn set_thread_slot(slot: usize) {
    SLOT.with(|s| s.set(slot % SLOTS));
}

/// The connections of one instance: idle HTTP/1.1 ones, and the HTTP/2
/// ones requests share ([`Lanes`]).
pub struct Connections {
    /// Allocated when the first connection is left here, each queue when
    /// its thread first leaves one: an instance that never carried traffic
    /// costs one pointer.
    slots: OnceLock<Box<Slots>>,
    /// HTTP/2 connections, for the routes that speak it.
    pub multiplexed: Lanes,
}

type Slots = [OnceLock<Box<Slot>>; SLOTS];

/// One thread's idle connections to one instance, of both kinds.
#[derive(Default)]
struct Slot {
    /// hyper's.
    hyper: Queue<Box<Connection>>,
    /// The fast path's own ([`Wire`]).
    wires: Queue<Box<Wire>>,
}

/// A lock-free queue that knows its length.
struct Queue<T> {
    items: SegQueue<T>,
    len: AtomicUsize,
}

impl<T> Default for Queue<T> {
    fn default() -> Self {
        Queue { items: SegQueue::new(), len: AtomicUsize::new(0) }
    }
}

impl Default for Connections {
    fn default() -> Self {
        Connections { slots: OnceLock::new(), multiplexed: Lanes::default() }
    }
}

impl std::fmt::Debug for Connections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connections").field("len", &self.len()).finish()
    }
}

impl Connections {
    /// Idle HTTP/1.1 connections waiting, over all threads.
    pub fn len(&self) -> usize {
        self.queues().map(|s| s.hyper.len() + s.wires.len()).sum()
    }

    /// True when none is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// An open connection to `authority` idle for less than `max_age`, from
    /// this thread's queue, if any; the closed, stale or misdirected ones met
    /// on the way are dropped.
    pub fn take(&self, authority: &Authority, tls: Option<u32>, max_age: Duration) -> Option<Box<Connection>> {
        let slot = self.slots.get()?[thread_slot()].get()?;
        while let Some(mut conn) = slot.hyper.pop() {
            if &conn.authority == authority && conn.tls == tls && conn.fresh(max_age) {
                return Some(conn);
            }
        }
        None
    }

    /// Puts `conn` back in this thread's queue if its last exchange ended
    /// cleanly and there is room; otherwise it is closed.
    pub fn put(&self, mut conn: Box<Connection>) {
        let slot = self.own_slot();
        if slot.hyper.len() >= MAX_IDLE_PER_INSTANCE || !conn.reusable() {
            return;
        }
        conn.idle_since = Instant::now();
        slot.hyper.push(conn);
    }

    /// A plain connection to `authority` idle for less than `max_age`, from
    /// this thread's queue, if any; stale ones met on the way are closed.
    pub fn take_wire(&self, authority: &Authority, max_age: Duration, now: Instant) -> Option<Box<Wire>> {
        let slot = self.slots.get()?[thread_slot()].get()?;
        while let Some(wire) = slot.wires.pop() {
            if wire.authority() == authority && wire.fresh(max_age, now) {
                return Some(wire);
            }
        }
        None
    }

    /// Puts `wire`, whose last exchange ended cleanly, back in this thread's
    /// queue if there is room; otherwise it is closed.
    pub fn put_wire(&self, mut wire: Box<Wire>, now: Instant) {
        let slot = self.own_slot();
        if slot.wires.len() >= MAX_IDLE_PER_INSTANCE {
            return;
        }
        wire.idle_from(now);
        slot.wires.push(wire);
    }

    /// This thread's queues, made on first use.
    fn own_slot(&self) -> &Slot {
        let slots = self.slots.get_or_init(|| Box::new(std::array::from_fn(|_| OnceLock::new())));
        slots[thread_slot()].get_or_init(Box::default)
    }

    /// The queues threads have left connections in.
    fn queues(&self) -> impl Iterator<Item = &Slot> {
        self.slots.get().into_iter().flat_map(|slots| slots.iter().filter_map(|s| s.get().map(|b| &**b)))
    }

    /// Closes the connections idle for `max_age` or closed by the instance.
    pub fn sweep(&self, max_age: Duration) {
        self.multiplexed.sweep(max_age);
        let now = Instant::now();
        for slot in self.queues() {
            slot.hyper.retain(|conn| conn.fresh(max_age));
            slot.wires.retain(|wire| wire.fresh(max_age, now));
        }
    }
}

impl<T> Queue<T> {
    fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    fn push(&self, item: T) {
        self.len.fetch_add(1, Ordering::Relaxed);
        self.items.push(item);
    }

    fn pop(&self) -> Option<T> {
        let item = self.items.pop()?;
        self.len.fetch_sub(1, Ordering::Relaxed);
        Some(item)
    }

    /// Passes over the items once, keeping those `keep` accepts.
    fn retain(&self, mut keep: impl FnMut(&mut T) -> bool) {
        for _ in 0..self.len() {
            let Some(mut item) = self.pop() else { break };
            if keep(&mut item) {
                self.push(item);
            }
        }
    }
}

#[cfg(test)]
mod tests;
