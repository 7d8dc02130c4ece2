//! What a response body holds on to while it streams: the HTTP/1.1
//! connection it arrives on (driven by the body, and put back idle at its
//! end), or its stream on a shared HTTP/2 connection (released at its end).

use std::task::Context;

use super::idle::Stalled;
use super::multiplex::StreamLease;
use super::pool::Connection;
use super::Endpoint;

/// The connection, or stream, a response arrives on.
#[derive(Debug)]
pub enum Lease {
    Http1(Box<Connection>),
    Http2(StreamLease),
}

impl Lease {
    /// Reads and writes what is pending on an HTTP/1.1 connection (an
    /// HTTP/2 connection has its own task); false once it is over.
    pub fn poll_drive(&mut self, cx: &mut Context<'_>) -> bool {
        match self {
            Lease::Http1(conn) => conn.poll_drive(cx),
            Lease::Http2(_) => true,
        }
    }

    /// True once the body has waited longer than the body idle timeout.
    pub fn body_stalled(&mut self, cx: &mut Context<'_>) -> bool {
        match self {
            Lease::Http1(conn) => conn.body_stalled(cx),
            Lease::Http2(stream) => stream.body_stalled(cx),
        }
    }

    /// The body made progress.
    pub fn body_progressed(&mut self) {
        match self {
            Lease::Http1(conn) => conn.body_progressed(),
            Lease::Http2(stream) => stream.body_progressed(),
        }
    }

    /// The error a stalled body ends with.
    pub fn stall_error(&self) -> Stalled {
        match self {
            Lease::Http1(conn) => conn.stall_error(),
            Lease::Http2(stream) => stream.stall_error(),
        }
    }

    /// The body ended cleanly: an HTTP/1.1 connection goes back to
    /// `endpoint`'s idle queue, an HTTP/2 stream is released.
    pub fn release(self, endpoint: &Endpoint) {
        if let Lease::Http1(conn) = self {
            endpoint.connections.put(conn);
        }
    }
}
