//! A rate limit for blocking-query loops (governor's GCRA, on tokio's clock).
//!
//! A reply is no proof of change (timeouts, idempotent writes, output-only
//! check updates all wake a watcher), so a loop must never spin on Consul.
//! Instead of a fixed sleep, which would delay every real change, each watch
//! may make `burst` requests back to back and then `rate` per second.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

use crate::ratelimit::clock::{Tick, TokioClock};

type Direct = RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<Tick>>;

/// `burst` requests at once, then `rate` per second.
#[derive(Debug)]
pub struct TokenBucket {
    limiter: Direct,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(rate: f64, burst: u32) -> TokenBucket {
        let rate = if rate.is_finite() && rate > 0.0 { rate } else { 1.0 };
        let interval = Duration::from_secs_f64(1.0 / rate).max(Duration::from_nanos(1));
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::with_period(interval).unwrap_or(Quota::per_second(NonZeroU32::MIN)).allow_burst(burst);
        TokenBucket { limiter: RateLimiter::direct_with_clock(quota, TokioClock) }
    }

    /// Waits for a token and takes it.
    pub async fn acquire(&mut self) {
        while let Err(not_until) = self.limiter.check() {
            tokio::time::sleep(not_until.wait_time_from(TokioClock.now())).await;
        }
    }
}

#[cfg(test)]
mod tests;
