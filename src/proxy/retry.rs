//! When a failed attempt may be tried again on another instance, and how
//! many retries the gateway can afford.
//!
//! A retry is safe when the instance provably saw nothing (the connection was
//! never made), or, for an idempotent method, when the connection broke
//! before any response byte arrived (a pooled connection the instance had
//! just closed). Either way the body must be replayable (buffered). How many
//! retries a route can afford is its [`crate::upstream::RetryBudget`].

use http::Method;
use std::error::Error as StdError;

/// Methods whose repetition has the same effect as one request (RFC 9110 §9.2.2).
pub fn idempotent(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE)
}

/// What is known about a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// No connection was made: the instance saw nothing.
    Connect,
    /// The connection broke before any response byte arrived.
    NoResponse,
    /// An HTTP/2 instance refused the stream unprocessed (`REFUSED_STREAM`,
    /// or a stream above the last one its GOAWAY accepted, RFC 9113 §8.7).
    Refused,
    /// Anything else (the instance may have acted on the request).
    Other,
}

/// True when an HTTP/2 instance said it did not process the request.
pub fn refused(error: &(dyn StdError + 'static)) -> bool {
    let mut cause: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(c) = cause {
        if let Some(h2) = c.downcast_ref::<h2::Error>() {
            return h2.reason() == Some(h2::Reason::REFUSED_STREAM) || (h2.is_go_away() && h2.is_remote());
        }
        cause = c.source();
    }
    false
}

/// Classifies the error of a request sent on an open connection by walking
/// its causes. (A failed connect is [`Failure::Connect`] without asking.)
pub fn classify(error: &(dyn StdError + 'static)) -> Failure {
    if refused(error) {
        return Failure::Refused;
    }
    let mut cause: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(c) = cause {
        if let Some(h) = c.downcast_ref::<hyper::Error>() {
            if h.is_incomplete_message() || h.is_canceled() || h.is_closed() {
                return Failure::NoResponse;
            }
        }
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            if matches!(io.kind(), ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof) {
                return Failure::NoResponse;
            }
        }
        cause = c.source();
    }
    Failure::Other
}

/// True when an attempt that failed this way may be sent again.
pub fn may_retry(failure: Failure, method: &Method, replayable: bool) -> bool {
    replayable
        && match failure {
            Failure::Connect | Failure::Refused => true,
            Failure::NoResponse => idempotent(method),
            Failure::Other => false,
        }
}

#[cfg(test)]
mod tests;
