//! Prometheus metrics, served on the admin listener's `/metrics`.
//!
//! The request path never hashes a label set: the counters and histogram a
//! request touches are handles ([`RouteMetrics`]) created when the snapshot
//! is built. Gauges that describe state (in-flight, watch indices, staleness,
//! snapshot size) are read at scrape time by a collector that the caller
//! registers ([`Metrics::with_collector`]; the admin listener's reads the
//! snapshot and the watches), so they cost the request path nothing, and this
//! module depends on nothing else in the crate.

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

pub mod latency;

use latency::Latency;

/// A label set, in label order.
pub type Labels = Vec<(&'static str, String)>;

/// Status classes, in label order.
pub const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// Kinds of upstream failure.
#[derive(Debug, Clone, Copy)]
pub enum UpstreamErrorKind {
    Connect = 0,
    Failed = 1,
    Timeout = 2,
}

const ERROR_KINDS: [&str; 3] = ["connect", "failed", "timeout"];

/// The handles one route's requests touch.
#[derive(Debug, Clone)]
pub struct RouteMetrics {
    /// Request duration (until the response body ended).
    pub latency: Latency,
    /// Per endpoint (same order as the upstream's), per status class.
    pub by_instance: Box<[[Counter; 5]]>,
    /// Requests answered without an instance (503 no instance), per class.
    pub no_instance: [Counter; 5],
    /// Upstream failures by kind.
    pub errors: [Counter; 3],
    /// Attempts sent again to another instance.
    pub retries: Counter,
    /// Instances ejected by passive outlier detection.
    pub ejections: Counter,
    /// Edge-policy outcomes, for routes with policies (in [`EdgeOutcome`] order).
    pub edge: Option<Box<[Counter; 7]>>,
}

/// What an edge policy decided for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdgeOutcome {
    AuthAllowed,
    AuthDenied,
    RateAllowed,
    RateLimited,
    CacheHit,
    CacheMiss,
    CacheBypass,
}

const EDGE_LABELS: [(&str, &str); 7] = [
    ("auth", "allowed"),
    ("auth", "denied"),
    ("rate_limit", "allowed"),
    ("rate_limit", "limited"),
    ("cache", "hit"),
    ("cache", "miss"),
    ("cache", "bypass"),
];

/// Every metric Portico exports.
pub struct Metrics {
    registry: Registry,
    requests: Family<Labels, Counter>,
    latency: Family<Labels, Latency>,
    upstream_errors: Family<Labels, Counter>,
    retries: Family<Labels, Counter>,
    ejections: Family<Labels, Counter>,
    edge: Family<Labels, Counter>,
    propagation: Histogram,
    /// Label sets of per-route series in the current snapshot, to drop departed ones.
    live: Mutex<HashSet<Labels>>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("portico");
        let requests = Family::<Labels, Counter>::default();
        let latency = Family::<Labels, Latency>::default();
        let upstream_errors = Family::<Labels, Counter>::default();
        let retries = Family::<Labels, Counter>::default();
        let ejections = Family::<Labels, Counter>::default();
        let edge = Family::<Labels, Counter>::default();
        let propagation = Histogram::new(exponential_buckets(0.0001, 2.0, 16));
        registry.register("requests", "Requests by route, instance and status class", requests.clone());
        registry.register("request_duration_seconds", "Request duration by route", latency.clone());
        registry.register("upstream_errors", "Upstream failures by route and kind", upstream_errors.clone());
        registry.register("retries", "Attempts sent again to another instance, by route", retries.clone());
        registry.register("ejections", "Instances ejected by outlier detection, by route", ejections.clone());
        registry.register("edge_decisions", "Edge-policy outcomes by route, policy and outcome", edge.clone());
        registry.register(
            "snapshot_propagation_seconds",
            "Time from a Consul update to the snapshot swap",
            propagation.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            upstream_errors,
            retries,
            ejections,
            edge,
            propagation,
            live: Mutex::default(),
        }
    }
}

// The label sets of each family, one builder each: a series is removed with
// exactly the labels it was created with.

fn route_labels(route: &str) -> Labels {
    vec![("route", route.to_string())]
}

fn error_labels(route: &str, kind: &str) -> Labels {
    vec![("route", route.to_string()), ("kind", kind.to_string())]
}

fn edge_labels(route: &str, (policy, outcome): (&str, &str)) -> Labels {
    vec![("route", route.to_string()), ("policy", policy.to_string()), ("outcome", outcome.to_string())]
}

fn with_class(instance: &Labels, class: &str) -> Labels {
    let mut labels = instance.clone();
    labels.push(("class", class.to_string()));
    labels
}

/// The labels of one instance's series on one route.
pub fn labels(route: &str, node: &str, instance: &str) -> Labels {
    vec![("route", route.to_string()), ("instance", instance.to_string()), ("node", node.to_string())]
}

impl Metrics {
    /// Also exports what `collector` reads at each scrape.
    pub fn with_collector(mut self, collector: Box<dyn Collector>) -> Metrics {
        self.registry.register_collector(collector);
        self
    }

    /// Handles for a route with these endpoints, as (node, ID).
    pub fn route(&self, route: &str, instances: &[(&str, &str)]) -> RouteMetrics {
        {
            let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
            live.insert(labels(route, "", "none"));
            live.extend(instances.iter().map(|(node, id)| labels(route, node, id)));
        }
        let classes = |node: &str, instance: &str| -> [Counter; 5] {
            let instance = labels(route, node, instance);
            CLASSES.map(|class| self.requests.get_or_create(&with_class(&instance, class)).clone())
        };
        let errors = ERROR_KINDS.map(|kind| self.upstream_errors.get_or_create(&error_labels(route, kind)).clone());
        RouteMetrics {
            latency: self.latency.get_or_create(&route_labels(route)).clone(),
            by_instance: instances.iter().map(|(node, id)| classes(node, id)).collect(),
            no_instance: classes("", "none"),
            errors,
            retries: self.retries.get_or_create(&route_labels(route)).clone(),
            ejections: self.ejections.get_or_create(&route_labels(route)).clone(),
            edge: None,
        }
    }

    /// Edge-policy counters for `route` (only routes with policies get them).
    pub fn edge(&self, route: &str) -> Box<[Counter; 7]> {
        Box::new(EDGE_LABELS.map(|decision| self.edge.get_or_create(&edge_labels(route, decision)).clone()))
    }

    /// Drops the series of routes and instances that left, once a snapshot
    /// is built: every per-route family forgets a route that is gone, and the
    /// per-instance counters forget an instance that is gone. `serving` lists
    /// (route, node, instance) of every endpoint of the new snapshot, and
    /// `routes` every route.
    pub fn retain<'a>(
        &self,
        routes: impl IntoIterator<Item = &'a str>,
        serving: impl IntoIterator<Item = (&'a str, &'a str, &'a str)>,
    ) {
        let mut now: HashSet<Labels> = routes.into_iter().map(|route| labels(route, "", "none")).collect();
        now.extend(serving.into_iter().map(|(route, node, id)| labels(route, node, id)));
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        for gone in live.difference(&now) {
            for class in CLASSES {
                self.requests.remove(&with_class(gone, class));
            }
        }
        let routes_now: HashSet<&str> = now.iter().map(|l| l[0].1.as_str()).collect();
        let routes_gone: HashSet<&str> =
            live.iter().map(|l| l[0].1.as_str()).filter(|r| !routes_now.contains(r)).collect();
        for route in routes_gone {
            self.forget_route(route);
        }
        *live = now;
    }

    /// Removes every per-route series of `route`.
    fn forget_route(&self, route: &str) {
        let by_route = route_labels(route);
        self.latency.remove(&by_route);
        self.retries.remove(&by_route);
        self.ejections.remove(&by_route);
        for kind in ERROR_KINDS {
            self.upstream_errors.remove(&error_labels(route, kind));
        }
        for decision in EDGE_LABELS {
            self.edge.remove(&edge_labels(route, decision));
        }
    }

    /// Records how long an update took to reach the snapshot.
    pub fn observe_propagation(&self, seconds: f64) {
        self.propagation.observe(seconds);
    }

    /// The exposition text (the registered collectors read their state now).
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Err(error) = encode(&mut out, &self.registry) {
            tracing::error!(%error, "metrics could not be encoded");
            out.clear();
        }
        out
    }
}

impl RouteMetrics {
    /// Counts a finished request on endpoint `index` (None: no instance) and its duration.
    pub fn record(&self, index: Option<usize>, status: u16, seconds: f64) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        let counters = index.and_then(|i| self.by_instance.get(i)).unwrap_or(&self.no_instance);
        counters[class].inc();
        self.latency.observe(seconds);
    }

    /// Counts an upstream failure.
    pub fn upstream_error(&self, kind: UpstreamErrorKind) {
        self.errors[kind as usize].inc();
    }

    /// Counts an edge-policy decision (a no-op on routes without policies).
    pub fn edge(&self, outcome: EdgeOutcome) {
        if let Some(counters) = &self.edge {
            counters[outcome as usize].inc();
        }
    }
}

#[cfg(test)]
mod tests;
