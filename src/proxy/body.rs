//! The body of a response streamed from an instance.
//!
//! An upstream body carries the instance's in-flight guard, so the instance
//! counts as busy until the last byte has been sent (or the client went away),
//! not merely until the headers arrived. It also carries the connection it
//! arrives on ([`Lease`]): polling the body drives an HTTP/1.1 connection,
//! and once the body has ended the connection goes back to the instance's
//! idle queue ([`crate::upstream::pool`]), or its HTTP/2 stream is released.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

use super::exchange::Exchange;
use crate::log_throttle::LogThrottle;
use crate::server::BoxError;
use crate::upstream::{InFlight, Lease};

static STALLED: LogThrottle = LogThrottle::new(std::time::Duration::from_secs(1));

/// A response of the proxy listener: written by Portico, or streamed from an instance.
pub type ProxyBody = crate::server::Body<UpstreamBody>;

/// A response body streamed from an instance. Releases its in-flight slot
/// and records the exchange when dropped.
#[derive(Debug)]
pub struct UpstreamBody {
    body: Incoming,
    /// The connection the body arrives on, driven while it streams (`None`
    /// once it closed, or for a connection that carries a tunnel).
    conn: Option<Lease>,
    /// Held, not read: the instance counts as busy until the body is dropped.
    _in_flight: InFlight,
    exchange: Exchange,
}

impl UpstreamBody {
    /// The body of a response that came over `conn`.
    pub fn new(body: Incoming, conn: Option<Lease>, in_flight: InFlight, exchange: Exchange) -> UpstreamBody {
        UpstreamBody { body, conn, _in_flight: in_flight, exchange }
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
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
        if let (Some(conn), Some(endpoint)) = (self.conn.take(), self.exchange.endpoint()) {
            conn.release(endpoint);
        }
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.get_mut().poll_next(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
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
