//! governor's clock, read from tokio so paused-time tests drive the limiter.

use std::ops::Add;

use governor::clock::{Clock, Reference};
use governor::nanos::Nanos;

/// Reads `tokio::time::Instant::now()`.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioClock;

/// A tokio instant governor can do arithmetic on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Tick(tokio::time::Instant);

impl Add<Nanos> for Tick {
    type Output = Tick;
    fn add(self, other: Nanos) -> Tick {
        Tick(self.0 + std::time::Duration::from(other))
    }
}

impl Reference for Tick {
    fn duration_since(&self, earlier: Self) -> Nanos {
        self.0.saturating_duration_since(earlier.0).into()
    }

    fn saturating_sub(&self, duration: Nanos) -> Self {
        Tick(self.0.checked_sub(duration.into()).unwrap_or(self.0))
    }
}

impl Clock for TokioClock {
    type Instant = Tick;
    fn now(&self) -> Tick {
        Tick(tokio::time::Instant::now())
    }
}
