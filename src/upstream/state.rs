//! An instance's live counters, which outlive snapshot swaps: in-flight
//! requests, failures, passive outlier ejection, slow start. The balancer
//! reads them to choose; the request path writes them. (The snapshot's
//! registry carries them from one snapshot to the next.)

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Live counters of one instance.
#[derive(Debug)]
pub struct InstanceState {
    /// When Portico first saw the instance, on [`clock_ms`] (for slow start).
    born: u64,
    /// Requests sent and not yet finished (response body not yet ended).
    in_flight: AtomicUsize,
    /// Requests ever sent to this instance.
    requests: AtomicU64,
    /// Requests that failed: no response, or a 5xx.
    failures: AtomicU64,
    /// Failures in a row (connect errors, broken exchanges, 5xx); 0 after a success.
    consecutive: AtomicU32,
    /// Times ejected in a row; sets the next ejection's length.
    ejections: AtomicU32,
    /// Ejected until this time on [`clock_ms`]; 0 when not ejected.
    ejected_until: AtomicU64,
}

/// Milliseconds on a monotonic clock (tokio's, so paused-clock tests see it move).
pub fn clock_ms() -> u64 {
    static START: OnceLock<tokio::time::Instant> = OnceLock::new();
    let start = *START.get_or_init(tokio::time::Instant::now);
    tokio::time::Instant::now().saturating_duration_since(start).as_millis() as u64 + 1
}

/// When a failing instance is taken out of rotation (passive outlier detection).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ejection {
    /// Failures in a row that eject an instance (0: never eject).
    pub after_failures: u32,
    /// First ejection length; each further one doubles, up to `max`.
    pub base: Duration,
    /// Longest ejection.
    pub max: Duration,
    /// Never eject more than this share of a route's instances.
    pub max_share: f64,
}

impl Default for Ejection {
    fn default() -> Self {
        Ejection { after_failures: 5, base: Duration::from_secs(5), max: Duration::from_secs(120), max_share: 0.5 }
    }
}

impl Default for InstanceState {
    fn default() -> Self {
        InstanceState {
            born: clock_ms(),
            in_flight: AtomicUsize::new(0),
            requests: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            consecutive: AtomicU32::new(0),
            ejections: AtomicU32::new(0),
            ejected_until: AtomicU64::new(0),
        }
    }
}

impl InstanceState {
    /// Slow start: the share of its normal traffic a new instance should get
    /// now, ramping linearly from 10% to 100% over `ramp` (1.0 when off).
    pub fn warmth(&self, now_ms: u64, ramp: Duration) -> f64 {
        let ramp_ms = ramp.as_millis() as f64;
        if ramp_ms == 0.0 {
            return 1.0;
        }
        let age = now_ms.saturating_sub(self.born) as f64;
        (age / ramp_ms).clamp(0.1, 1.0)
    }

    /// Requests currently in flight.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Requests sent so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Failed requests so far.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Counts a failed request; true when it makes `after` failures in a row.
    pub fn record_failure(&self, after: u32) -> bool {
        self.failures.fetch_add(1, Ordering::Relaxed);
        let in_a_row = self.consecutive.fetch_add(1, Ordering::Relaxed) + 1;
        after > 0 && in_a_row >= after
    }

    /// Counts a good exchange: the failure streak ends.
    pub fn record_success(&self) {
        if self.consecutive.load(Ordering::Relaxed) != 0 {
            self.consecutive.store(0, Ordering::Relaxed);
            self.ejections.store(0, Ordering::Relaxed);
        }
    }

    /// True while the instance is ejected.
    pub fn is_ejected(&self, now_ms: u64) -> bool {
        self.ejected_until.load(Ordering::Relaxed) > now_ms
    }

    /// How long the instance stays ejected from `now_ms` (zero when it is not).
    pub fn ejected_for(&self, now_ms: u64) -> Duration {
        Duration::from_millis(self.ejected_until.load(Ordering::Relaxed).saturating_sub(now_ms))
    }

    /// Takes the instance out until a growing deadline; returns how long.
    pub fn eject(&self, now_ms: u64, policy: &Ejection) -> Duration {
        let times = self.ejections.fetch_add(1, Ordering::Relaxed).min(16);
        let length = policy.base.saturating_mul(1 << times).min(policy.max);
        self.ejected_until.store(now_ms + length.as_millis() as u64, Ordering::Relaxed);
        length
    }

    /// Counts a request as started; it ends when the guard is dropped.
    pub fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.requests.fetch_add(1, Ordering::Relaxed);
        InFlight(Arc::clone(self))
    }
}

/// Holds one in-flight slot of an instance until dropped. Attached to the
/// response body, so streamed responses count until their last byte.
#[derive(Debug)]
pub struct InFlight(Arc<InstanceState>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests;
