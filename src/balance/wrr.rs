//! Smooth weighted round-robin, precomputed.
//!
//! nginx's smooth algorithm needs per-pick mutable weights, i.e. a lock. The
//! sequence it produces is periodic with period `sum(weights)`, so Portico
//! computes one period when the snapshot is built and the request path only
//! indexes it with an atomic cursor.

/// Longest schedule kept; larger weight sums are scaled down proportionally.
const MAX_SCHEDULE: u64 = 4096;

/// One period of nginx's smooth weighted round-robin over `weights`, as
/// indices into `weights`. Weights of 0 count as 1.
pub fn smooth_schedule(weights: &[u32]) -> Box<[u32]> {
    let weights = scaled(weights);
    let total: i64 = weights.iter().sum();
    let mut current = vec![0i64; weights.len()];
    let mut schedule = Vec::with_capacity(total as usize);
    for _ in 0..total {
        for (c, w) in current.iter_mut().zip(&weights) {
            *c += w;
        }
        let best = (0..current.len()).max_by_key(|&i| (current[i], std::cmp::Reverse(i)));
        let Some(best) = best else { break };
        current[best] -= total;
        schedule.push(best as u32);
    }
    schedule.into_boxed_slice()
}

/// Weights as i64, at least 1 each, scaled so their sum fits MAX_SCHEDULE.
fn scaled(weights: &[u32]) -> Vec<i64> {
    let sum: u64 = weights.iter().map(|&w| u64::from(w.max(1))).sum();
    let limit = MAX_SCHEDULE.max(weights.len() as u64);
    weights
        .iter()
        .map(|&w| {
            let w = u64::from(w.max(1));
            let w = if sum > limit { (w * limit / sum).max(1) } else { w };
            w as i64
        })
        .collect()
}

#[cfg(test)]
mod tests;
