//! Warnings on hot failure paths, rate limited.
//!
//! When an instance dies under load, every request to it fails the same way;
//! a warning per request would flood the log (and cost the request path a
//! formatted line each). Each call site owns a [`LogThrottle`]: at most one
//! line per interval gets through, and it carries how many were suppressed
//! since the last one, so nothing is hidden. Lock-free: two atomics.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use tokio::time::Instant;

/// One call site's budget of log lines.
#[derive(Debug)]
pub struct LogThrottle {
    interval_ms: u64,
    /// When the last line went out, on [`now_ms`] (0: never).
    last_ms: AtomicU64,
    /// Lines held back since then.
    suppressed: AtomicU64,
}

impl LogThrottle {
    /// At most one line per `interval`.
    pub const fn new(interval: Duration) -> LogThrottle {
        LogThrottle {
            interval_ms: interval.as_millis() as u64,
            last_ms: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// `Some(suppressed)` when a line may go out now, with the number held
    /// back since the last one; `None` (and one more counted) otherwise.
    pub fn admit(&self) -> Option<u64> {
        let now = now_ms();
        let last = self.last_ms.load(Ordering::Relaxed);
        let due = last == 0 || now.saturating_sub(last) >= self.interval_ms;
        if due && self.last_ms.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok() {
            return Some(self.suppressed.swap(0, Ordering::Relaxed));
        }
        self.suppressed.fetch_add(1, Ordering::Relaxed);
        None
    }
}

/// Milliseconds on tokio's clock, from 1 (so 0 can mean "never").
fn now_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    let start = *START.get_or_init(Instant::now);
    Instant::now().saturating_duration_since(start).as_millis() as u64 + 1
}

#[cfg(test)]
mod tests;
