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

use crate::balance::ring::Ring;
use crate::balance::Balancer;
use crate::canary::health::CanaryHealth;
use crate::canary::{Share, Side};
use crate::metrics::RouteMetrics;
use crate::routing::host::HostPattern;
use crate::routing::options::RouteOptions;
use crate::routing::route_table::RouteTable;
pub use crate::upstream::Endpoint;
use crate::upstream::{clock_ms, Connections, Ejection, InstanceState, RetryBudget};

/// The published snapshot, shared by the builder (writer) and every request (reader).
pub type Shared = Arc<ArcSwap<Snapshot>>;

/// One immutable routing state.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Increases by one with every published snapshot.
    pub generation: u64,
    /// (host, prefix, matchers) → route.
    pub table: RouteTable<Arc<Route>>,
    /// Declarations that were refused, with reasons, for `/admin/routes`.
    pub rejected: Vec<Rejection>,
    /// True once the catalog has been read at least once.
    pub synced: bool,
    /// Routed services whose health has not been read yet.
    pub pending: usize,
    /// When the catalog was first read.
    pub catalog_at: Option<tokio::time::Instant>,
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
    /// The service it belonged to.
    pub service: String,
    pub state: Arc<InstanceState>,
    /// Its idle connections, closed as its requests end.
    pub connections: Arc<Connections>,
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

/// A host, prefix and matchers bound to a service.
#[derive(Debug)]
pub struct Route {
    /// Unique in the snapshot ([`crate::routing::route_key`]); shared with
    /// metric labels, rate-limit and cache keys without a copy.
    pub key: Arc<str>,
    /// The hosts it answers for.
    pub host: HostPattern,
    /// The path prefix (what `strip-prefix` removes).
    pub prefix: Arc<str>,
    pub service: Box<str>,
    pub origin: Origin,
    pub options: RouteOptions,
    pub upstream: Arc<Upstream>,
    /// Counter and histogram handles, in endpoint order.
    pub metrics: RouteMetrics,
    /// Retries this route can afford; outlives snapshots, shared by every listener.
    pub retry_budget: Arc<RetryBudget>,
    /// The canary release, when the service has canary instances.
    pub canary: Option<Canary>,
}

/// A route's canary: its share and its health, which outlives snapshots
/// until the canary instances' tags change.
#[derive(Debug)]
pub struct Canary {
    /// The share the tags declare.
    pub share: Share,
    pub health: Arc<CanaryHealth>,
}

impl Canary {
    /// The share in force: 0 once aborted.
    pub fn effective(&self) -> Share {
        self.health.effective(self.share)
    }
}

/// The passing instances of one service and how to choose among them.
#[derive(Debug)]
pub struct Upstream {
    /// Stable instances first, then canary instances from `canary_from`.
    pub endpoints: Box<[Endpoint]>,
    /// Picks among the stable instances.
    pub balancer: Balancer,
    /// Index of the first canary instance (`endpoints.len()` when none).
    pub canary_from: usize,
    /// Picks among the canary instances.
    pub canary_balancer: Balancer,
    /// Consistent-hash ring over every endpoint, for `hash` routes.
    pub ring: Option<Ring>,
    /// Identifies the canary instances' tags and versions (0: none).
    pub canary_fingerprint: u64,
}

/// Which instances a request may go to, and the key a hash route uses.
/// The default: the stable side, crossing over when it has no instance.
#[derive(Debug, Clone, Copy)]
pub struct Choice {
    pub side: Side,
    /// When the side has no usable instance, may the other side serve?
    pub cross_over: bool,
    /// The request's hash key, on a `hash` route.
    pub hash: Option<u64>,
}

impl Default for Choice {
    fn default() -> Self {
        Choice { side: Side::Stable, cross_over: true, hash: None }
    }
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
    /// The route for a normalized path on any host, without matchers (tests, benches).
    pub fn route(&self, path: &str) -> Option<&Arc<Route>> {
        self.table.find(None, path, |_| false)
    }

    /// Routes sorted by key, for reporting.
    pub fn routes(&self) -> Vec<&Arc<Route>> {
        let mut routes: Vec<&Arc<Route>> = self.table.iter().collect();
        routes.sort_by(|a, b| a.key.cmp(&b.key));
        routes
    }
}

impl Upstream {
    /// Which side endpoint `index` is on.
    pub fn side_of(&self, index: usize) -> Side {
        if index >= self.canary_from {
            Side::Canary
        } else {
            Side::Stable
        }
    }

    /// How many canary instances there are.
    pub fn canaries(&self) -> usize {
        self.endpoints.len() - self.canary_from
    }

    /// The instance to send the next request to, with its index.
    #[cfg(test)]
    pub(crate) fn pick(&self) -> Option<(usize, &Endpoint)> {
        self.pick_avoiding(&[], Duration::ZERO)
    }

    /// [`Upstream::choose`] on the stable side, crossing over when it is empty.
    pub fn pick_avoiding(&self, tried: &[usize], slow_start: Duration) -> Option<(usize, &Endpoint)> {
        self.choose(Choice::default(), tried, slow_start)
    }

    /// The next instance of the chosen side that is not ejected and not in
    /// `tried`; if every untried one is ejected, an ejected one (better than
    /// failing outright); with none left on that side, the other side's if
    /// the choice allows. With a `slow_start` ramp, an instance younger than
    /// the ramp is passed over with a probability that falls as it ages. A
    /// hash route takes the key's owner on the ring, or the next one along.
    pub fn choose(&self, choice: Choice, tried: &[usize], slow_start: Duration) -> Option<(usize, &Endpoint)> {
        if self.canary_from == self.endpoints.len() && choice.hash.is_none() {
            return self.pick_plain(tried, slow_start);
        }
        let (stable, canary) = (0..self.canary_from, self.canary_from..self.endpoints.len());
        let (first, second) = match choice.side {
            Side::Stable => (stable, canary),
            Side::Canary => (canary, stable),
        };
        let index = self
            .pick_in(first, choice.hash, tried, slow_start)
            .or_else(|| choice.cross_over.then(|| self.pick_in(second, choice.hash, tried, slow_start)).flatten())?;
        self.endpoints.get(index).map(|e| (index, e))
    }

    /// The common case, kept lean: no canary, no hash key.
    fn pick_plain(&self, tried: &[usize], slow_start: Duration) -> Option<(usize, &Endpoint)> {
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

    fn pick_in(
        &self,
        range: std::ops::Range<usize>,
        hash: Option<u64>,
        tried: &[usize],
        slow_start: Duration,
    ) -> Option<usize> {
        let endpoints = &self.endpoints;
        let now = clock_ms();
        let untried = |i: usize| range.contains(&i) && !tried.contains(&i);
        if let (Some(ring), Some(hash)) = (&self.ring, hash) {
            let live = |i: usize| untried(i) && !endpoints[i].state.is_ejected(now);
            return ring.pick(hash, live).or_else(|| ring.pick(hash, untried));
        }
        let offset = range.start;
        let balancer = if offset == 0 { &self.balancer } else { &self.canary_balancer };
        let load = |i: usize| endpoints[offset + i].state.in_flight();
        let warm = |i: usize| slow_start.is_zero() || fastrand::f64() < endpoints[i].state.warmth(now, slow_start);
        let healthy =
            |i: usize| untried(offset + i) && !endpoints[offset + i].state.is_ejected(now) && warm(offset + i);
        let index = match balancer.pick_where(range.len(), load, healthy) {
            Some(i) => i,
            None => balancer.pick_where(range.len(), load, |i| untried(offset + i))?,
        };
        Some(offset + index)
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
