//! A Prometheus histogram that records without a lock.
//!
//! prometheus-client's `Histogram` takes a write lock on every observation.
//! Every proxied request records its duration, and requests on the same route
//! run on all cores at once, so the request path would queue on that lock.
//! Here each bucket and the sum are atomics of their own (the count is the
//! buckets' total, summed at scrape time); a scrape may see an observation in
//! its bucket a moment before it shows in the sum, which Prometheus tolerates
//! (the next scrape agrees).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::{MetricType, TypedMetric};

/// Upper bounds, in seconds: 0.5 ms doubling to about 16 s.
fn bounds() -> impl Iterator<Item = f64> {
    (0..16).map(|i| 0.0005 * f64::from(1u32 << i))
}

/// Request durations per route.
#[derive(Debug, Clone)]
pub struct Latency(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    bounds: Box<[f64]>,
    /// One per bound, and one more for everything above the last.
    buckets: Box<[AtomicU64]>,
    /// Sum of the observations, in nanoseconds.
    sum_nanos: AtomicU64,
}

impl Default for Latency {
    fn default() -> Self {
        let bounds: Box<[f64]> = bounds().collect();
        let buckets = (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect();
        Latency(Arc::new(Inner { bounds, buckets, sum_nanos: AtomicU64::new(0) }))
    }
}

impl Latency {
    /// Records one duration.
    pub fn observe(&self, seconds: f64) {
        let inner = &*self.0;
        let bucket = inner.bounds.iter().position(|&b| seconds <= b).unwrap_or(inner.bounds.len());
        inner.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        inner.sum_nanos.fetch_add((seconds * 1e9) as u64, Ordering::Relaxed);
    }
}

impl TypedMetric for Latency {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for Latency {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let inner = &*self.0;
        let mut buckets: Vec<(f64, u64)> =
            inner.bounds.iter().zip(inner.buckets.iter()).map(|(&b, n)| (b, n.load(Ordering::Relaxed))).collect();
        buckets.push((f64::MAX, inner.buckets[inner.bounds.len()].load(Ordering::Relaxed)));
        let sum = inner.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        let count = buckets.iter().map(|(_, n)| n).sum();
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

#[cfg(test)]
mod tests {
    use prometheus_client::encoding::text::encode;
    use prometheus_client::registry::Registry;

    use super::*;

    #[test]
    fn observations_land_in_cumulative_buckets_with_count_and_sum() {
        let latency = Latency::default();
        let mut registry = Registry::default();
        registry.register("request_duration_seconds", "test", latency.clone());
        for seconds in [0.0002, 0.0007, 0.0007, 100.0] {
            latency.observe(seconds);
        }
        let mut text = String::new();
        encode(&mut text, &registry).expect("encodes");
        assert!(text.contains("request_duration_seconds_bucket{le=\"0.0005\"} 1\n"), "{text}");
        assert!(text.contains("request_duration_seconds_bucket{le=\"0.001\"} 3\n"), "{text}");
        assert!(text.contains("request_duration_seconds_bucket{le=\"16.384\"} 3\n"), "{text}");
        assert!(text.contains("request_duration_seconds_bucket{le=\"+Inf\"} 4\n"), "{text}");
        assert!(text.contains("request_duration_seconds_count 4\n"), "{text}");
        assert!(text.contains("request_duration_seconds_sum 100.0016"), "{text}");
    }
}
