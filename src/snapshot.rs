//! The routing snapshot: everything the request path needs, immutable.
//!
//! One `Snapshot` behind one `ArcSwap` holds the route table, every route's
//! upstream and instances, and the balancers, so an update is atomic: a
//! request sees either the old world or the new one, never a mix. The request
//! path loads it, matches, picks, and lets go before it awaits anything.

pub mod build;
pub mod builder;
pub mod registry;
pub mod reuse;
pub mod view;

use std::sync::Arc;

use arc_swap::ArcSwap;

use std::time::Duration;

use crate::balance::Balancer;
use crate::metrics::RouteMetrics;
use crate::routing::options::RouteOptions;
use crate::routing::table::PrefixTable;
pub use crate::upstream::Endpoint;
use crate::upstream::{clock_ms, Ejection, Idle, InstanceState, RetryBudget};

/// The published snapshot, shared by the builder (writer) and every request (reader).
pub type Shared = Arc<ArcSwap<Snapshot>>;

/// One immutable routing state.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Increases by one with every published snapshot.
    pub generation: u64,
    /// Prefix → route.
    pub table: PrefixTable<Arc<Route>>,
    /// Declarations that were refused, with reasons, for `/admin/routes`.
    pub rejected: Vec<Rejection>,
    /// True once the catalog has been read at least once.
    pub synced: bool,
    /// Instances that left but still had requests in flight when this was built.
    pub draining: Vec<Draining>,
}

/// An instance that left the passing set and is finishing its requests.
#[derive(Debug, Clone)]
pub struct Draining {
    /// Consul service ID.
    pub id: String,
    /// The Consul node it was registered on.
    pub node: String,
    pub state: Arc<InstanceState>,
    /// Its idle connections, closed as its requests end.
    pub connections: Arc<Idle>,
}

/// Where a route was declared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// `--route` or the TOML file: the operator's word wins a conflict.
    Config,
    /// A `portico.route` tag in Consul.
    Tag,
}

/// A prefix bound to a service.
#[derive(Debug)]
pub struct Route {
    /// Shared with rate-limit and cache keys without a copy.
    pub prefix: Arc<str>,
    pub service: Box<str>,
    pub origin: Origin,
    pub options: RouteOptions,
    pub upstream: Arc<Upstream>,
    /// Counter and histogram handles, in endpoint order.
    pub metrics: RouteMetrics,
    /// Retries this route can afford; outlives snapshots, shared by every listener.
    pub retry_budget: Arc<RetryBudget>,
}

/// The passing instances of one service and how to choose among them.
#[derive(Debug)]
pub struct Upstream {
    pub endpoints: Box<[Endpoint]>,
    pub balancer: Balancer,
}

/// A declaration that did not make it into the table.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Rejection {
    /// The service (or `config`) that declared it.
    pub source: String,
    /// The tag or setting, verbatim.
    pub declaration: String,
    /// Why it was refused.
    pub reason: String,
}

impl Snapshot {
    /// The route for a normalized path.
    pub fn route(&self, path: &str) -> Option<&Arc<Route>> {
        self.table.lookup(path).map(|(_, route)| route)
    }

    /// Routes sorted by prefix, for reporting.
    pub fn routes(&self) -> Vec<&Arc<Route>> {
        let mut routes: Vec<&Arc<Route>> = self.table.iter().map(|(_, r)| r).collect();
        routes.sort_by(|a, b| a.prefix.cmp(&b.prefix));
        routes
    }
}

impl Upstream {
    /// The instance to send the next request to, with its index.
    #[cfg(test)]
    pub(crate) fn pick(&self) -> Option<(usize, &Endpoint)> {
        self.pick_avoiding(&[], Duration::ZERO)
    }

    /// The next instance that is not ejected and not in `tried`; if every
    /// untried one is ejected, an ejected one (better than failing outright).
    /// With a `slow_start` ramp, an instance younger than the ramp is passed
    /// over with a probability that falls as it ages.
    pub fn pick_avoiding(&self, tried: &[usize], slow_start: Duration) -> Option<(usize, &Endpoint)> {
        let endpoints = &self.endpoints;
        let load = |i: usize| endpoints[i].state.in_flight();
        let now = clock_ms();
        let warm = |i: usize| slow_start.is_zero() || fastrand::f64() < endpoints[i].state.warmth(now, slow_start);
        let healthy = |i: usize| !tried.contains(&i) && !endpoints[i].state.is_ejected(now) && warm(i);
        let index = match self.balancer.pick_where(endpoints.len(), load, healthy) {
            Some(i) => i,
            None => self.balancer.pick_where(endpoints.len(), load, |i| !tried.contains(&i))?,
        };
        endpoints.get(index).map(|e| (index, e))
    }

    /// Records a failed exchange with endpoint `index`; ejects it when it
    /// failed too often in a row, unless that would eject more than the
    /// allowed share of the route. Returns the ejection's length, if any.
    pub fn record_failure(&self, index: usize, policy: &Ejection) -> Option<Duration> {
        let endpoint = self.endpoints.get(index)?;
        if !endpoint.state.record_failure(policy.after_failures) {
            return None;
        }
        let now = clock_ms();
        if endpoint.state.is_ejected(now) {
            return None;
        }
        let ejected = self.endpoints.iter().filter(|e| e.state.is_ejected(now)).count();
        let allowed = (self.endpoints.len() as f64 * policy.max_share).floor() as usize;
        (ejected < allowed).then(|| endpoint.state.eject(now, policy))
    }

    /// Records the outcome of an exchange that got a response.
    pub fn record_outcome(&self, index: usize, server_error: bool, policy: &Ejection) {
        match (server_error, self.endpoints.get(index)) {
            (true, _) => {
                self.record_failure(index, policy);
            }
            (false, Some(endpoint)) => endpoint.state.record_success(),
            (false, None) => {}
        }
    }

    /// True when endpoint `index` is ejected now.
    pub fn is_ejected(&self, index: usize) -> bool {
        self.endpoints.get(index).is_some_and(|e| e.state.is_ejected(clock_ms()))
    }
}
