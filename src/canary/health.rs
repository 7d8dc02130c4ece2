//! The canary's health against the stable side's, and the automatic abort.
//!
//! Both sides' requests and 5xx answers are counted in a sliding window of
//! six slots (a 60 s window moves every 10 s). Counting is a few relaxed
//! atomic adds on the request path; a verdict is taken on canary answers
//! only. When the canary has seen enough requests in the window and
//! its 5xx rate exceeds the stable side's by more than the margin, the canary
//! is aborted: its share is 0 from then on. The abort is kept with the
//! route's state across snapshots, keyed by the canary instances' tags and
//! versions, so it lasts until those change (a new canary build).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use super::{CanarySpec, Share, Side};

const SLOTS: u64 = 6;

/// One slot's counts: stable requests, stable errors, canary requests, canary errors.
#[derive(Debug, Default)]
struct Slot {
    epoch: AtomicU64,
    counts: [AtomicU32; 4],
}

/// Requests and 5xx answers per side over the window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Rates {
    pub stable_requests: u32,
    pub stable_errors: u32,
    pub canary_requests: u32,
    pub canary_errors: u32,
}

impl Rates {
    fn rate(errors: u32, requests: u32) -> f64 {
        if requests == 0 {
            0.0
        } else {
            f64::from(errors) / f64::from(requests)
        }
    }

    /// The stable side's 5xx rate (0 with no request).
    pub fn stable_rate(&self) -> f64 {
        Rates::rate(self.stable_errors, self.stable_requests)
    }

    /// The canary's 5xx rate (0 with no request).
    pub fn canary_rate(&self) -> f64 {
        Rates::rate(self.canary_errors, self.canary_requests)
    }
}

/// Why and when a canary was aborted.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Abort {
    /// `clock_ms` of the abort.
    pub at_ms: u64,
    pub rates: Rates,
    pub reason: String,
}

/// The window and the abort of one route's canary.
#[derive(Debug, Default)]
pub struct CanaryHealth {
    slots: [Slot; SLOTS as usize],
    aborted: Mutex<Option<Abort>>,
    /// Non-zero once aborted: read on every request without the mutex.
    aborted_flag: AtomicU64,
}

impl CanaryHealth {
    /// True once the canary was aborted.
    pub fn is_aborted(&self) -> bool {
        self.aborted_flag.load(Ordering::Relaxed) != 0
    }

    /// The abort, if there was one.
    pub fn abort(&self) -> Option<Abort> {
        self.aborted.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// The share in force: the configured one, or 0 once aborted.
    pub fn effective(&self, configured: Share) -> Share {
        if self.is_aborted() {
            Share::default()
        } else {
            configured
        }
    }

    /// Counts one answer of `side`; returns the abort if this answer caused it.
    pub fn record(&self, side: Side, server_error: bool, now_ms: u64, spec: &CanarySpec) -> Option<Abort> {
        let slot_ms = (spec.window.as_millis() as u64 / SLOTS).max(1);
        let epoch = now_ms / slot_ms;
        let slot = &self.slots[(epoch % SLOTS) as usize];
        let seen = slot.epoch.load(Ordering::Acquire);
        if seen != epoch && slot.epoch.compare_exchange(seen, epoch, Ordering::AcqRel, Ordering::Acquire).is_ok() {
            slot.counts.iter().for_each(|c| c.store(0, Ordering::Relaxed));
        }
        let base = if side == Side::Canary { 2 } else { 0 };
        slot.counts[base].fetch_add(1, Ordering::Relaxed);
        if server_error {
            slot.counts[base + 1].fetch_add(1, Ordering::Relaxed);
        }
        // Judged on every canary answer: the canary is a small share, and a
        // verdict must not wait for its next failure.
        (side == Side::Canary && !self.is_aborted()).then(|| self.judge(now_ms, spec)).flatten()
    }

    /// Sums the slots still inside the window ending at `now_ms`.
    pub fn rates(&self, now_ms: u64, window: Duration) -> Rates {
        let slot_ms = (window.as_millis() as u64 / SLOTS).max(1);
        let current = now_ms / slot_ms;
        let mut sum = [0u32; 4];
        for slot in &self.slots {
            if current.saturating_sub(slot.epoch.load(Ordering::Acquire)) < SLOTS {
                for (total, count) in sum.iter_mut().zip(&slot.counts) {
                    *total += count.load(Ordering::Relaxed);
                }
            }
        }
        Rates { stable_requests: sum[0], stable_errors: sum[1], canary_requests: sum[2], canary_errors: sum[3] }
    }

    fn judge(&self, now_ms: u64, spec: &CanarySpec) -> Option<Abort> {
        let margin = spec.abort_margin?.ratio();
        let rates = self.rates(now_ms, spec.window);
        if rates.canary_requests < spec.min_requests || rates.canary_rate() - rates.stable_rate() <= margin {
            return None;
        }
        let reason = format!(
            "canary 5xx rate {:.1}% over {} requests exceeds the stable side's {:.1}% by more than {}",
            rates.canary_rate() * 100.0,
            rates.canary_requests,
            rates.stable_rate() * 100.0,
            spec.abort_margin.unwrap_or_default(),
        );
        let abort = Abort { at_ms: now_ms, rates, reason };
        let mut slot = self.aborted.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.is_some() {
            return None;
        }
        *slot = Some(abort.clone());
        self.aborted_flag.store(now_ms.max(1), Ordering::Relaxed);
        Some(abort)
    }
}

#[cfg(test)]
mod tests;
