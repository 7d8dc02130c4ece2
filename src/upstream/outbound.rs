//! The request body as sent upstream.
//!
//! The first `buffer` bytes (64 KiB by default) are read before anything is
//! forwarded. A body that fits is kept whole: it can be replayed on a retry,
//! and a malformed one (bad chunking, a client that hangs up) is refused with
//! a 400 without ever reaching an instance. A larger body streams on, its
//! buffered head first. A route's size limit is enforced on both, and so is
//! `body_idle_timeout`: a body that stops arriving ends the exchange (408).
//! Trailers the client sends after its body go upstream with it.

use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{header, HeaderMap};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::idle::IdleTimer;

/// Error type of a streamed body.
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why a request body was refused before or while it was sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("request body over the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("malformed request body: {0}")]
    Malformed(String),
    #[error("request body not received in time")]
    Timeout,
}

/// A streamed body went over the route's limit.
#[derive(Debug, thiserror::Error)]
#[error("request body over the route's limit")]
pub struct TooLarge;

/// A request body on its way upstream.
#[derive(Debug)]
pub enum Outbound {
    /// Read whole: replayable.
    Full(Option<Bytes>),
    /// Read whole, with trailers after the data (gRPC clients may send them).
    WithTrailers(Box<(Option<Bytes>, Option<HeaderMap>)>),
    /// Too big to keep: the buffered head, then the rest as it arrives.
    Stream(Streaming),
}

/// The streamed case.
#[derive(Debug)]
pub struct Streaming {
    head: Option<Bytes>,
    body: Incoming,
    /// Bytes still allowed by the route's limit.
    allowance: u64,
    /// Why the stream was cut, so the error can become a 413 or a 408.
    fault: Arc<AtomicU8>,
    idle: IdleTimer,
}

/// Why a streamed body was cut short ([`Outbound::fault_flag`]).
const OVER_LIMIT: u8 = 1;
const STALLED: u8 = 2;

/// Shared with the streamed body: what went wrong with it, if anything.
#[derive(Debug, Clone)]
pub struct FaultFlag(Arc<AtomicU8>);

impl FaultFlag {
    /// The client's fault that cut the body, as the error to answer with.
    pub fn error(&self, limit: Option<u64>) -> Option<BodyError> {
        match self.0.load(Ordering::Relaxed) {
            OVER_LIMIT => Some(BodyError::TooLarge { limit: limit.unwrap_or(u64::MAX) }),
            STALLED => Some(BodyError::Timeout),
            _ => None,
        }
    }
}

/// How a request body is read.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    /// Bytes read whole before forwarding.
    pub buffer: usize,
    /// Largest body accepted.
    pub max: Option<u64>,
    /// The whole buffered read must finish within this.
    pub total: Duration,
    /// No gap between two pieces may be longer than this (zero: no limit).
    pub idle: Duration,
}

impl Outbound {
    /// Reads up to `limits.buffer` bytes of `body`, within its time limits and size limit.
    pub async fn read(headers: &HeaderMap, mut body: Incoming, limits: BodyLimits) -> Result<Outbound, BodyError> {
        let (buffer, limit) = (limits.buffer, limits.max.unwrap_or(u64::MAX));
        if declared_length(headers).is_some_and(|n| n > limit) {
            return Err(BodyError::TooLarge { limit });
        }
        if body.is_end_stream() {
            return Ok(Outbound::Full(None));
        }
        let mut head = BytesMut::new();
        let mut trailers = None;
        let read = async {
            while head.len() <= buffer {
                match next_frame(&mut body, limits.idle).await? {
                    None => return Ok(true),
                    Some(Ok(frame)) => match frame.into_data() {
                        Ok(data) => head.extend_from_slice(&data),
                        Err(frame) => trailers = frame.into_trailers().ok(),
                    },
                    Some(Err(e)) => return Err(BodyError::Malformed(e.to_string())),
                }
                if head.len() as u64 > limit {
                    return Err(BodyError::TooLarge { limit });
                }
            }
            Ok(false)
        };
        let complete = tokio::time::timeout(limits.total, read).await.map_err(|_| BodyError::Timeout)??;
        let head = (!head.is_empty()).then(|| head.freeze());
        if complete {
            return Ok(match trailers {
                None => Outbound::Full(head),
                Some(trailers) => Outbound::WithTrailers(Box::new((head, Some(trailers)))),
            });
        }
        let allowance = limit - head.as_ref().map_or(0, |h| h.len() as u64);
        let (fault, idle) = (Arc::default(), IdleTimer::new(limits.idle));
        Ok(Outbound::Stream(Streaming { head, body, allowance, fault, idle }))
    }

    /// A copy for another attempt, if the body was read whole.
    pub fn replay(&self) -> Option<Outbound> {
        match self {
            Outbound::Full(bytes) => Some(Outbound::Full(bytes.clone())),
            Outbound::WithTrailers(whole) => Some(Outbound::WithTrailers(whole.clone())),
            Outbound::Stream(_) => None,
        }
    }

    /// What cut the streamed body short, once something did.
    pub fn fault_flag(&self) -> Option<FaultFlag> {
        match self {
            Outbound::Stream(s) => Some(FaultFlag(Arc::clone(&s.fault))),
            Outbound::Full(_) | Outbound::WithTrailers(_) => None,
        }
    }
}

/// The next frame of `body`, if it comes within `idle` (zero: no limit).
async fn next_frame(
    body: &mut Incoming,
    idle: Duration,
) -> Result<Option<Result<Frame<Bytes>, hyper::Error>>, BodyError> {
    if idle.is_zero() {
        return Ok(body.frame().await);
    }
    tokio::time::timeout(idle, body.frame()).await.map_err(|_| BodyError::Timeout)
}

/// The `Content-Length` a message declares, if it is a number.
pub fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(header::CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

impl Body for Outbound {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            Outbound::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Outbound::WithTrailers(whole) => {
                let (data, trailers) = &mut **whole;
                let frame = data.take().map(Frame::data).or_else(|| trailers.take().map(Frame::trailers));
                Poll::Ready(frame.map(Ok))
            }
            Outbound::Stream(s) => s.poll_next(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, Outbound::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Outbound::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            Outbound::Full(None) => SizeHint::with_exact(0),
            Outbound::WithTrailers(whole) => SizeHint::with_exact(whole.0.as_ref().map_or(0, |b| b.len() as u64)),
            Outbound::Stream(s) => {
                let rest = s.body.size_hint();
                let head = s.head.as_ref().map_or(0, |h| h.len() as u64);
                let mut hint = SizeHint::new();
                if let Some(upper) = rest.upper() {
                    hint.set_upper(upper + head);
                }
                hint.set_lower(rest.lower() + head);
                hint
            }
        }
    }
}

impl Streaming {
    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Some(head) = self.head.take() {
            return Poll::Ready(Some(Ok(Frame::data(head))));
        }
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        if polled.is_pending() {
            if self.idle.stalled(cx) {
                self.fault.store(STALLED, Ordering::Relaxed);
                return Poll::Ready(Some(Err(Box::new(self.idle.error()))));
            }
            return Poll::Pending;
        }
        self.idle.progress();
        match polled {
            Poll::Ready(Some(Ok(frame))) => {
                let len = frame.data_ref().map_or(0, |d| d.len() as u64);
                if len > self.allowance {
                    self.fault.store(OVER_LIMIT, Ordering::Relaxed);
                    return Poll::Ready(Some(Err(Box::new(TooLarge))));
                }
                self.allowance -= len;
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(Box::new(e)))),
            Poll::Ready(None) | Poll::Pending => Poll::Ready(None),
        }
    }
}
