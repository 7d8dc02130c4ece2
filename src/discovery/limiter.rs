//! A token bucket for blocking-query loops.
//!
//! A reply is no proof of change (timeouts, idempotent writes, output-only
//! check updates all wake a watcher), so a loop must never spin on Consul.
//! Instead of a fixed sleep, which would delay every real change, each watch
//! may make `burst` requests back to back and then `rate` per second.

use std::time::Duration;

use tokio::time::Instant;

/// Refills continuously at `rate` tokens per second, up to `capacity`.
#[derive(Debug)]
pub struct TokenBucket {
    capacity: f64,
    rate: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(rate: f64, burst: u32) -> TokenBucket {
        let capacity = f64::from(burst.max(1));
        TokenBucket { capacity, rate: if rate > 0.0 { rate } else { 1.0 }, tokens: capacity, last: Instant::now() }
    }

    /// Waits for a token and takes it.
    pub async fn acquire(&mut self) {
        self.refill();
        if self.tokens < 1.0 {
            let missing = 1.0 - self.tokens;
            tokio::time::sleep(Duration::from_secs_f64(missing / self.rate)).await;
            self.refill();
        }
        self.tokens = (self.tokens - 1.0).max(0.0);
    }

    fn refill(&mut self) {
        let now = Instant::now();
        let earned = now.duration_since(self.last).as_secs_f64() * self.rate;
        self.tokens = (self.tokens + earned).min(self.capacity);
        self.last = now;
    }
}

#[cfg(test)]
mod tests;
