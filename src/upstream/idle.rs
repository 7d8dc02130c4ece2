//! A stall detector for bodies: a request or response body that makes no
//! progress for `body_idle_timeout` ends its exchange, so a peer that stops
//! sending mid-body cannot hold a connection and an in-flight slot forever.
//!
//! The timer is armed only when the body is waiting (`Pending`), and is
//! re-armed at most once per wait, not once per frame. It lives as long as
//! its owner: an upstream connection keeps one for all its responses.

use std::future::Future;
use std::pin::Pin;
use std::task::Context;
use std::time::Duration;

use tokio::time::{Instant, Sleep};

/// Watches one stream for a gap longer than its limit.
#[derive(Debug)]
pub struct IdleTimer {
    /// Zero: never stalls.
    limit: Duration,
    sleep: Option<Pin<Box<Sleep>>>,
    /// Set by [`IdleTimer::progress`]: the next wait starts a new gap.
    progressed: bool,
}

/// A body stalled longer than `body_idle_timeout`.
#[derive(Debug, thiserror::Error)]
#[error("body stalled for longer than {0:?}")]
pub struct Stalled(pub Duration);

impl IdleTimer {
    /// A timer for gaps longer than `limit` (zero: off).
    pub fn new(limit: Duration) -> IdleTimer {
        IdleTimer { limit, sleep: None, progressed: true }
    }

    /// The stream yielded something (or a new message starts on it).
    pub fn progress(&mut self) {
        self.progressed = true;
    }

    /// To be called when the stream returned `Pending`: true once it has made
    /// no progress for the limit. Registers `cx` to be woken then.
    pub fn stalled(&mut self, cx: &mut Context<'_>) -> bool {
        if self.limit.is_zero() {
            return false;
        }
        if self.progressed || self.sleep.is_none() {
            let deadline = Instant::now() + self.limit;
            match self.sleep.as_mut() {
                Some(sleep) => sleep.as_mut().reset(deadline),
                None => self.sleep = Some(Box::pin(tokio::time::sleep_until(deadline))),
            }
            self.progressed = false;
        }
        self.sleep.as_mut().is_some_and(|sleep| sleep.as_mut().poll(cx).is_ready())
    }

    /// The error a stalled body ends with.
    pub fn error(&self) -> Stalled {
        Stalled(self.limit)
    }
}

#[cfg(test)]
mod tests;
