//! How many retries a route can afford: a token bucket fed by its requests,
//! so retries stay under a share of traffic and an outage is not amplified
//! into a retry storm.
//!
//! One budget per route, carried across snapshot swaps and shared by every
//! listener (plain and TLS) and proxy thread, so the share holds for the
//! route as a whole. It counts what has been *spent*: a budget nobody draws
//! on stays at zero and is only read, never written, per request.

use std::sync::atomic::{AtomicI64, Ordering};

/// One retry, in budget units.
const UNIT: i64 = 1000;

/// The retries one route has spent, net of what its requests paid back.
#[derive(Debug, Default)]
pub struct RetryBudget {
    spent: AtomicI64,
}

/// The terms every route's budget runs on.
#[derive(Debug, Clone, Copy)]
pub struct BudgetPolicy {
    /// Paid back per request, in units.
    deposit: i64,
    /// Most that may be spent at once, in units (the reserve).
    cap: i64,
}

impl BudgetPolicy {
    /// Retries may reach `ratio` of requests, with a reserve of `reserve`
    /// retries for quiet periods.
    pub fn new(ratio: f64, reserve: u32) -> BudgetPolicy {
        BudgetPolicy { deposit: (ratio.clamp(0.0, 1.0) * UNIT as f64) as i64, cap: i64::from(reserve.max(1)) * UNIT }
    }
}

impl RetryBudget {
    /// Counts one request.
    pub fn deposit(&self, policy: &BudgetPolicy) {
        // A full budget (no retries lately: the usual case) is only read, so
        // threads do not take turns writing the same cache line per request.
        if policy.deposit == 0 || self.spent.load(Ordering::Relaxed) <= 0 {
            return;
        }
        let after = self.spent.fetch_sub(policy.deposit, Ordering::Relaxed) - policy.deposit;
        if after < 0 {
            self.spent.store(0, Ordering::Relaxed);
        }
    }

    /// Takes one retry from the budget; false when it is spent.
    pub fn withdraw(&self, policy: &BudgetPolicy) -> bool {
        let cap = policy.cap;
        self.spent.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |s| (s + UNIT <= cap).then_some(s + UNIT)).is_ok()
    }
}

#[cfg(test)]
mod tests;
