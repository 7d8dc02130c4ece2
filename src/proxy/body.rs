//! The response body type of both listeners, without boxing.
//!
//! An upstream body carries the instance's in-flight guard, so the instance
//! counts as busy until the last byte has been sent (or the client went away),
//! not merely until the headers arrived.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

use tokio::sync::mpsc;

use super::exchange::Exchange;
use crate::balance::InFlight;

/// A streamed upstream body or a body Portico wrote itself.
#[derive(Debug)]
// The large variant is the common one: boxing it would allocate per request.
#[allow(clippy::large_enum_variant)]
pub enum ProxyBody {
    /// Streamed from an instance; releases its in-flight slot and records the
    /// exchange when dropped.
    Upstream { body: Incoming, in_flight: InFlight, exchange: Exchange },
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
    type Error = hyper::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match self.get_mut() {
            ProxyBody::Upstream { body, exchange, .. } => {
                let frame = Pin::new(body).poll_frame(cx);
                if let Poll::Ready(Some(Ok(f))) = &frame {
                    exchange.bytes += f.data_ref().map_or(0, |d| d.len() as u64);
                }
                frame
            }
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
            ProxyBody::Upstream { body, .. } => body.is_end_stream(),
            ProxyBody::Full(bytes) => bytes.is_none(),
            ProxyBody::Channel(_) => false,
            ProxyBody::Prefixed(head, rest) => head.is_none() && rest.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ProxyBody::Upstream { body, .. } => body.size_hint(),
            ProxyBody::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            ProxyBody::Full(None) => SizeHint::with_exact(0),
            ProxyBody::Channel(_) | ProxyBody::Prefixed(..) => SizeHint::default(),
        }
    }
}
