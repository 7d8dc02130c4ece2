//! When a failed attempt may be tried again on another instance, and how
//! many retries the gateway can afford.
//!
//! A retry is safe when the instance provably saw nothing (the connection was
//! never made), or, for an idempotent method, when the connection broke
//! before any response byte arrived (a pooled connection the instance had
//! just closed). Either way the body must be replayable (buffered). The
//! budget keeps retries under a share of traffic, so an outage is not
//! amplified into a retry storm.

use std::error::Error as StdError;
use std::sync::atomic::{AtomicI64, Ordering};

use http::Method;

/// One retry, in budget units.
const UNIT: i64 = 1000;

/// Retries allowed as a share of requests (a token bucket fed by requests).
#[derive(Debug)]
pub struct RetryBudget {
    balance: AtomicI64,
    deposit: i64,
    cap: i64,
}

impl RetryBudget {
    /// Retries may reach `ratio` of requests, with a reserve of `reserve`
    /// retries for quiet periods.
    pub fn new(ratio: f64, reserve: u32) -> RetryBudget {
        let reserve = i64::from(reserve.max(1)) * UNIT;
        RetryBudget {
            balance: AtomicI64::new(reserve),
            deposit: (ratio.clamp(0.0, 1.0) * UNIT as f64) as i64,
            cap: reserve,
        }
    }

    /// Counts one request.
    pub fn deposit(&self) {
        // A full budget (no retries lately: the usual case) is only read, so
        // threads do not take turns writing the same cache line per request.
        if self.deposit == 0 || self.balance.load(Ordering::Relaxed) >= self.cap {
            return;
        }
        let after = self.balance.fetch_add(self.deposit, Ordering::Relaxed) + self.deposit;
        if after > self.cap {
            self.balance.store(self.cap, Ordering::Relaxed);
        }
    }

    /// Takes one retry from the budget; false when it is spent.
    pub fn withdraw(&self) -> bool {
        self.balance.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| (b >= UNIT).then_some(b - UNIT)).is_ok()
    }
}

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
    /// Anything else (the instance may have acted on the request).
    Other,
}

/// Classifies the error of a request sent on an open connection by walking
/// its causes. (A failed connect is [`Failure::Connect`] without asking.)
pub fn classify(error: &(dyn StdError + 'static)) -> Failure {
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
            Failure::Connect => true,
            Failure::NoResponse => idempotent(method),
            Failure::Other => false,
        }
}

#[cfg(test)]
mod tests;
