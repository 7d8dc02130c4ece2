//! Exponential backoff with jitter for failed Consul queries.
//!
//! Retries go on forever (Consul comes back; Portico must follow it), but
//! spaced out, and jittered so a fleet of gateways does not retry in step.

use std::time::Duration;

/// Doubles from `base` up to `max`; each delay is drawn from [d/2, d].
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    /// A backoff whose first delay is about `base`.
    pub fn new(base: Duration, max: Duration) -> Backoff {
        Backoff { base: base.max(Duration::from_millis(1)), max: max.max(base), attempt: 0 }
    }

    /// The delay before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.ceiling();
        self.attempt = self.attempt.saturating_add(1);
        let half = ceiling / 2;
        half + half.mul_f64(fastrand::f64())
    }

    /// The longest delay (for an error that waiting a little will not fix).
    pub fn longest(&self) -> Duration {
        self.max
    }

    /// Back to the shortest delay, after a success.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    fn ceiling(&self) -> Duration {
        let factor = 1u32.checked_shl(self.attempt.min(20)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.max)
    }
}

#[cfg(test)]
mod tests;
