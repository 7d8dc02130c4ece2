//! Plain HTTP/1.1 connections to instances that the gateway's own HTTP/1.1
//! path reads and writes itself (no hyper state, no buffer of their own:
//! the request that uses one brings its buffers). Idle ones wait in the
//! same per-instance, per-thread queues as hyper's ([`super::pool`]).
//!
//! Nothing reads an idle connection. Before reuse, its socket's readiness
//! (what the thread's event loop last heard, no system call) tells whether
//! the instance closed it or sent stray bytes meanwhile; either way it is dropped.
//!
//! A connection moves between the two kinds: when a thread's queue of one
//! kind is empty, an idle connection of the other kind is taken and
//! converted ([`super::pool::Connection::into_wire`], [`super::pool::adopt`]),
//! so a client whose requests take both paths still needs one connection.

use std::io;
use std::time::Duration;

use http::uri::Authority;
use tokio::io::Interest;
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::pool::ConnectError;

/// One plain connection to an instance, between two exchanges or in one.
#[derive(Debug)]
pub struct Wire {
    pub stream: TcpStream,
    authority: Authority,
    idle_since: Instant,
    /// How long the instance keeps it open while idle, when it says so.
    server_idle: Option<Duration>,
}

impl Wire {
    /// Connects to `authority` within `timeout`.
    pub async fn connect(authority: &Authority, timeout: Duration) -> Result<Box<Wire>, ConnectError> {
        let connecting = super::pool::connect_tcp(authority);
        let stream = tokio::time::timeout(timeout, connecting).await.map_err(|_| ConnectError::TimedOut(timeout))??;
        Ok(Box::new(Wire { stream, authority: authority.clone(), idle_since: Instant::now(), server_idle: None }))
    }

    /// A connection already open (one hyper's client let go of).
    pub fn from_stream(stream: TcpStream, authority: Authority, server_idle: Option<Duration>) -> Box<Wire> {
        Box::new(Wire { stream, authority, idle_since: Instant::now(), server_idle })
    }

    /// The instance said how long it keeps an idle connection (`Keep-Alive: timeout=N`).
    pub fn server_idle(&mut self, timeout: Duration) {
        self.server_idle = Some(timeout);
    }

    /// How long the instance keeps it open while idle, if it said.
    pub fn server_idle_timeout(&self) -> Option<Duration> {
        self.server_idle
    }

    /// The instance it goes to.
    pub fn authority(&self) -> &Authority {
        &self.authority
    }

    /// Marks the start of an idle spell. The socket's readiness still
    /// says "readable" from the answer just read (it is cleared only by a
    /// read that would block): it is cleared here, without a system call,
    /// so that what arrives from now on is noticed. (A close that came with
    /// the answer is missed; the request sent on it then gets nothing back
    /// and goes out again on a new connection.)
    pub(super) fn idle_from(&mut self, now: Instant) {
        self.idle_since = now;
        mark_drained(&self.stream);
    }

    /// True when, at `now`, it has been idle less than `max_age` (and less
    /// than the instance keeps it) and nothing arrived on it meanwhile.
    pub(super) fn fresh(&self, max_age: Duration, now: Instant) -> bool {
        now.saturating_duration_since(self.idle_since) < super::pool::idle_limit(max_age, self.server_idle)
            && self.quiet()
    }

    /// Nothing arrived (no close, no stray byte) since its last exchange:
    /// the socket is not marked readable. (Asked with `try_io`, which reads
    /// the mark without a system call and without leaving a waker.)
    fn quiet(&self) -> bool {
        self.stream.try_io(Interest::READABLE, || Ok(())).is_err()
    }
}

/// Clears `stream`'s readable mark, without a system call, once a read has
/// emptied it: tokio clears the mark only when a read would block, so the
/// next wait would otherwise begin with a read that finds nothing. Bytes
/// that arrive later raise the mark again (the event loop has not yet
/// seen them).
pub fn mark_drained(stream: &TcpStream) {
    let nothing_left = || Err::<(), _>(io::Error::from(io::ErrorKind::WouldBlock));
    let _ = stream.try_io(Interest::READABLE, nothing_left);
}
