//! Prometheus metrics, served on the admin listener's `/metrics`.
//!
//! The request path hashes a label set at most once per series and snapshot:
//! the counters and histogram a request touches are handles
//! ([`RouteMetrics`]) that a route's first request of each kind creates and
//! keeps, so ten thousand routes that carry no traffic cost no series. Gauges that describe state (in-flight, watch indices, staleness,
//! snapshot size) are read at scrape time by a collector that the caller
//! registers ([`Metrics::with_collector`]; the admin listener's reads the
//! snapshot and the watches), so they cost the request path nothing, and this
//! module depends on nothing else in the crate.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

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

/// The handles one route's requests touch, each created on first use.
#[derive(Debug)]
pub struct RouteMetrics {
    route: Box<str>,
    families: Arc<Families>,
    /// (node, ID) of each endpoint, in the upstream's order.
    endpoints: Box<[(Box<str>, Box<str>)]>,
    /// Per endpoint, per status class.
    by_instance: Box<[OnceLock<[Counter; 5]>]>,
    /// Requests answered without an instance (503 no instance), per class.
    no_instance: OnceLock<[Counter; 5]>,
    /// Request duration (until the response body ended).
    latency: OnceLock<Latency>,
    /// Upstream failures by kind.
    errors: OnceLock<[Counter; 3]>,
    /// Attempts sent again to another instance.
    retries: OnceLock<Counter>,
    /// Instances ejected by passive outlier detection.
    ejections: OnceLock<Counter>,
    /// Canary aborts.
    canary_aborts: OnceLock<Counter>,
    /// Edge-policy outcomes, for routes with policies (in [`EdgeOutcome`] order).
    pub edge: Option<Box<[Counter; 7]>>,
}

/// The per-route families, shared by every route's handles.
#[derive(Debug, Default)]
struct Families {
    requests: Family<Labels, Counter>,
    latency: Family<Labels, Latency>,
    upstream_errors: Family<Labels, Counter>,
    retries: Family<Labels, Counter>,
    ejections: Family<Labels, Counter>,
    canary_aborts: Family<Labels, Counter>,
    edge: Family<Labels, Counter>,
    /// Routes that have series, each with the (node, ID) of its instances
    /// that have request counters: what [`Metrics::retain`] may have to
    /// remove. Written only when a series is first created.
    created: Mutex<Created>,
}

/// Route → (node, ID) of its instances with request counters.
type Created = HashMap<Box<str>, HashSet<(Box<str>, Box<str>)>>;

impl Families {
    fn lock_created(&self) -> std::sync::MutexGuard<'_, Created> {
        self.created.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records that `route` has series (and `instance`'s request counters, if given).
    fn note(&self, route: &str, instance: Option<(&str, &str)>) {
        let mut created = self.lock_created();
        let instances = created.entry(route.into()).or_default();
        if let Some((node, id)) = instance {
            instances.insert((node.into(), id.into()));
        }
    }
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
    families: Arc<Families>,
    propagation: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("portico");
        let f = Families::default();
        let propagation = Histogram::new(exponential_buckets(0.0001, 2.0, 16));
        registry.register("requests", "Requests by route, instance and status class", f.requests.clone());
        registry.register("request_duration_seconds", "Request duration by route", f.latency.clone());
        registry.register("upstream_errors", "Upstream failures by route and kind", f.upstream_errors.clone());
        registry.register("retries", "Attempts sent again to another instance, by route", f.retries.clone());
        registry.register("ejections", "Instances ejected by outlier detection, by route", f.ejections.clone());
        registry.register(
            "canary_aborts",
            "Canary releases aborted for their 5xx rate, by route",
            f.canary_aborts.clone(),
        );
        registry.register("edge_decisions", "Edge-policy outcomes by route, policy and outcome", f.edge.clone());
        registry.register(
            "snapshot_propagation_seconds",
            "Time from a Consul update to the snapshot swap",
            propagation.clone(),
        );
        Metrics { registry, families: Arc::new(f), propagation }
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

    /// Handles for a route with these endpoints, as (node, ID); its series
    /// appear when they are first used.
    pub fn route(&self, route: &str, instances: &[(&str, &str)]) -> RouteMetrics {
        RouteMetrics {
            route: route.into(),
            families: Arc::clone(&self.families),
            endpoints: instances.iter().map(|(node, id)| (Box::from(*node), Box::from(*id))).collect(),
            by_instance: instances.iter().map(|_| OnceLock::new()).collect(),
            no_instance: OnceLock::new(),
            latency: OnceLock::new(),
            errors: OnceLock::new(),
            retries: OnceLock::new(),
            ejections: OnceLock::new(),
            canary_aborts: OnceLock::new(),
            edge: None,
        }
    }

    /// Edge-policy counters for `route` (only routes with policies get them).
    pub fn edge(&self, route: &str) -> Box<[Counter; 7]> {
        let edge = &self.families.edge;
        self.families.note(route, None);
        Box::new(EDGE_LABELS.map(|decision| edge.get_or_create(&edge_labels(route, decision)).clone()))
    }

    /// Drops the series of routes and instances that left, once a snapshot
    /// is built: every per-route family forgets a route that is gone, and the
    /// per-instance counters forget an instance that is gone. Only series that
    /// were created are looked at, so routes without traffic cost nothing here.
    pub fn retain(&self, live_route: impl Fn(&str) -> bool, live_instance: impl Fn(&str, &str, &str) -> bool) {
        let families = &self.families;
        families.lock_created().retain(|route, instances| {
            let route_lives = live_route(route);
            instances.retain(|(node, id)| {
                let no_instance = node.is_empty() && &**id == "none";
                let keep = route_lives && (no_instance || live_instance(route, node, id));
                if !keep {
                    let gone = labels(route, node, id);
                    for class in CLASSES {
                        families.requests.remove(&with_class(&gone, class));
                    }
                }
                keep
            });
            if !route_lives {
                forget_route(families, route);
            }
            route_lives
        });
    }
}

/// Removes every per-route series of `route`.
fn forget_route(f: &Families, route: &str) {
    {
        let by_route = route_labels(route);
        f.latency.remove(&by_route);
        f.retries.remove(&by_route);
        f.ejections.remove(&by_route);
        f.canary_aborts.remove(&by_route);
        for kind in ERROR_KINDS {
            f.upstream_errors.remove(&error_labels(route, kind));
        }
        for decision in EDGE_LABELS {
            f.edge.remove(&edge_labels(route, decision));
        }
    }
}

impl Metrics {
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
    /// These handles with edge-policy counters (`None`: a route without policies).
    pub fn with_edge(self, edge: Option<Box<[Counter; 7]>>) -> RouteMetrics {
        RouteMetrics { edge, ..self }
    }

    /// Counts a finished request on endpoint `index` (None: no instance) and its duration.
    pub fn record(&self, index: Option<usize>, status: u16, seconds: f64) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        let counters = match index.and_then(|i| Some((self.by_instance.get(i)?, self.endpoints.get(i)?))) {
            Some((cell, (node, id))) => cell.get_or_init(|| self.classes(node, id)),
            None => self.no_instance.get_or_init(|| self.classes("", "none")),
        };
        counters[class].inc();
        let latency = self.latency.get_or_init(|| self.series(&self.families.latency));
        latency.observe(seconds);
    }

    /// Counts an upstream failure.
    pub fn upstream_error(&self, kind: UpstreamErrorKind) {
        let errors = self.errors.get_or_init(|| {
            self.families.note(&self.route, None);
            ERROR_KINDS.map(|k| self.families.upstream_errors.get_or_create(&error_labels(&self.route, k)).clone())
        });
        errors[kind as usize].inc();
    }

    /// Counts an attempt sent again to another instance.
    pub fn retried(&self) {
        self.retries.get_or_init(|| self.series(&self.families.retries)).inc();
    }

    /// Counts an instance ejected by outlier detection.
    pub fn ejected(&self) {
        self.ejections.get_or_init(|| self.series(&self.families.ejections)).inc();
    }

    /// Counts an aborted canary.
    pub fn canary_aborted(&self) {
        self.canary_aborts.get_or_init(|| self.series(&self.families.canary_aborts)).inc();
    }

    /// Counts an edge-policy decision (a no-op on routes without policies).
    pub fn edge(&self, outcome: EdgeOutcome) {
        if let Some(counters) = &self.edge {
            counters[outcome as usize].inc();
        }
    }

    /// This route's series of a per-route family, created now.
    fn series<M>(&self, family: &Family<Labels, M>) -> M
    where
        M: prometheus_client::metrics::TypedMetric + Default + Clone,
    {
        self.families.note(&self.route, None);
        family.get_or_create(&route_labels(&self.route)).clone()
    }

    fn classes(&self, node: &str, id: &str) -> [Counter; 5] {
        self.families.note(&self.route, Some((node, id)));
        let instance = labels(&self.route, node, id);
        CLASSES.map(|class| self.families.requests.get_or_create(&with_class(&instance, class)).clone())
    }
}

#[cfg(test)]
mod tests;
