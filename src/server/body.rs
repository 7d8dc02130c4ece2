//! The response body type of every listener, without boxing: bytes written
//! whole, bytes produced over time (server-sent events), bytes already read
//! followed by the rest, or a stream of the listener's own (`S`: the proxy's
//! body streamed from an instance; nothing for the admin listener).

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use http_body::{Frame, SizeHint};
use tokio::sync::mpsc;

/// Error type of a streamed body.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A response body.
#[derive(Debug)]
// The streamed variant is the proxy's common one: boxing it would allocate per request.
#[allow(clippy::large_enum_variant)]
pub enum Body<S = NoStream> {
    /// The listener's own stream.
    Streamed(S),
    /// Written whole (errors, pages).
    Full(Option<Bytes>),
    /// Produced over time (server-sent events).
    Channel(mpsc::Receiver<Bytes>),
    /// Bytes already read, then the rest of a body (a response too large to cache).
    Prefixed(Option<Bytes>, Box<Body<S>>),
}

/// The stream of a listener that has none: it cannot be made.
#[derive(Debug)]
pub enum NoStream {}

impl<S> Body<S> {
    /// A body with these bytes.
    pub fn full(bytes: impl Into<Bytes>) -> Body<S> {
        Body::Full(Some(bytes.into()))
    }

    /// No body.
    pub fn empty() -> Body<S> {
        Body::Full(None)
    }
}

impl<S> http_body::Body for Body<S>
where
    S: http_body::Body<Data = Bytes, Error = BoxError> + Unpin,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            Body::Streamed(stream) => Pin::new(stream).poll_frame(cx),
            Body::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Body::Channel(rx) => rx.poll_recv(cx).map(|b| b.map(|b| Ok(Frame::data(b)))),
            Body::Prefixed(head, rest) => match head.take() {
                Some(bytes) => Poll::Ready(Some(Ok(Frame::data(bytes)))),
                None => Pin::new(rest.as_mut()).poll_frame(cx),
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Body::Streamed(stream) => stream.is_end_stream(),
            Body::Full(bytes) => bytes.is_none(),
            Body::Channel(_) => false,
            Body::Prefixed(head, rest) => head.is_none() && rest.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Streamed(stream) => stream.size_hint(),
            Body::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            Body::Full(None) => SizeHint::with_exact(0),
            Body::Channel(_) | Body::Prefixed(..) => SizeHint::default(),
        }
    }
}

impl http_body::Body for NoStream {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match *self {}
    }
}

impl From<Infallible> for NoStream {
    fn from(never: Infallible) -> NoStream {
        match never {}
    }
}

/// A JSON response with the right content type: how every error is written.
pub fn json_response<S>(status: StatusCode, value: &serde_json::Value) -> Response<Body<S>> {
    let mut bytes = serde_json::to_vec(value).unwrap_or_default();
    bytes.push(b'\n');
    let mut response = Response::new(Body::full(bytes));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
