//! The response body type of both listeners, without boxing.
//!
//! An upstream body carries the instance's in-flight guard, so the instance
//! counts as busy until the last byte has been sent (or the client went away),
//! not merely until the headers arrived. It also carries the connection it
//! arrives on: polling the body drives that connection, and once the body has
//! ended the connection goes back to the instance's idle queue
//! ([`super::pool`]).

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

use tokio::sync::mpsc;

use super::exchange::Exchange;
use super::outbound::BoxError;
use super::pool::Connection;
use crate::balance::InFlight;
use crate::log_throttle::LogThrottle;

static STALLED: LogThrottle = LogThrottle::new(std::time::Duration::from_secs(1));

/// A streamed upstream body or a body Portico wrote itself.
#[derive(Debug)]
// The large variant is the common one: boxing it would allocate per request.
#[allow(clippy::large_enum_variant)]
pub enum ProxyBody {
    /// Streamed from an instance.
    Upstream(UpstreamBody),
    /// Written by Portico (errors, admin pages).
    Full(Option<Bytes>),
    /// Produced over time (server-sent events on the admin listener).
    Channel(mpsc::Receiver<Bytes>),
    /// Bytes already read, then the rest of a body (a response too large to cache).
    Prefixed(Option<Bytes>, Box<ProxyBody>),
}

impl ProxyBody {
    /// A body with these bytes.
    pub fn full(bytes: impl Into<Bytes>) -> ProxyBody {
        ProxyBody::Full(Some(bytes.into()))
    }

    /// No body.
    pub fn empty() -> ProxyBody {
        ProxyBody::Full(None)
    }
}

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            ProxyBody::Upstream(upstream) => upstream.poll_frame(cx),
            ProxyBody::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            ProxyBody::Channel(rx) => rx.poll_recv(cx).map(|b| b.map(|b| Ok(Frame::data(b)))),
            ProxyBody::Prefixed(head, rest) => match head.take() {
                Some(bytes) => Poll::Ready(Some(Ok(Frame::data(bytes)))),
                None => Pin::new(rest.as_mut()).poll_frame(cx),
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ProxyBody::Upstream(upstream) => upstream.body.is_end_stream(),
            ProxyBody::Full(bytes) => bytes.is_none(),
            ProxyBody::Channel(_) => false,
            ProxyBody::Prefixed(head, rest) => head.is_none() && rest.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ProxyBody::Upstream(upstream) => upstream.body.size_hint(),
            ProxyBody::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            ProxyBody::Full(None) => SizeHint::with_exact(0),
            ProxyBody::Channel(_) | ProxyBody::Prefixed(..) => SizeHint::default(),
        }
    }
}

/// A response body streamed from an instance. Releases its in-flight slot
/// and records the exchange when dropped.
#[derive(Debug)]
pub struct UpstreamBody {
    body: Incoming,
    /// The connection the body arrives on, driven while it streams (`None`
    /// once it closed, or for a connection that carries a tunnel).
    conn: Option<Box<Connection>>,
    in_flight: InFlight,
    exchange: Exchange,
}

impl UpstreamBody {
    /// The body of a response that came over `conn`.
    pub fn new(body: Incoming, conn: Option<Box<Connection>>, in_flight: InFlight, exchange: Exchange) -> UpstreamBody {
        UpstreamBody { body, conn, in_flight, exchange }
    }

    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Some(conn) = self.conn.as_mut() {
            if !conn.poll_drive(cx) {
                self.conn = None;
            }
        }
        let frame = Pin::new(&mut self.body).poll_frame(cx);
        match &frame {
            Poll::Ready(Some(Ok(f))) => self.exchange.bytes += f.data_ref().map_or(0, |d| d.len() as u64),
            Poll::Ready(None) => self.release(),
            Poll::Ready(Some(Err(_))) => {}
            Poll::Pending => return self.waiting(cx),
        }
        if let Some(conn) = self.conn.as_mut() {
            conn.body_progressed();
        }
        frame.map_err(BoxError::from)
    }

    /// The body is waiting for the instance: an error once it has waited
    /// longer than the body idle timeout (the client's stream is then cut,
    /// and the connection, which is mid-message, closes with the body).
    fn waiting(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let Some(conn) = self.conn.as_mut() else { return Poll::Pending };
        if !conn.body_stalled(cx) {
            return Poll::Pending;
        }
        if let Some(suppressed) = STALLED.admit() {
            tracing::warn!(instance = self.exchange.instance_id(), suppressed, "response body stalled; ending it");
        }
        let error = conn.stall_error();
        self.conn = None;
        Poll::Ready(Some(Err(Box::new(error))))
    }

    /// Hands the connection back to its instance (it is closed instead if
    /// its exchange did not end cleanly).
    fn release(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.in_flight.instance().connections.put(conn);
        }
    }
}

impl Drop for UpstreamBody {
    fn drop(&mut self) {
        // A body dropped before its end leaves the connection mid-message:
        // it cannot carry another request and closes with the drop.
        if self.body.is_end_stream() {
            self.release();
        }
    }
}
