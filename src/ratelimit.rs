//! Per-client rate limits on routes that ask for one (`portico.rate-limit`).
//!
//! GCRA from `governor`, keyed by (route prefix, client): the client is the
//! authenticated identity when there is one, else its address (see
//! [`client`]; IPv6 clients by their /64 by default, since one host usually
//! holds a whole /64). Routes with the same limit share one keyed limiter, so
//! state survives snapshot rebuilds. The limiter's clock is tokio's, so tests
//! move time by hand. A sweeper drops clients whose bucket has refilled, which
//! bounds memory by the clients active within one refill period; past
//! `max_clients` after a sweep, the least recently seen clients are forgotten
//! (`store`), so a flood of new addresses cannot wipe the limits of others.
//!
//! With several replicas, a route's limit holds over all of them by default:
//! each replica's bucket is the whole limit, and each request it admits
//! costs as many cells as there are live replicas (`replicas`, from
//! [`crate::replicas`]). When the layer-4 balancer spreads a client evenly,
//! the replicas together admit the limit; when the count changes, buckets
//! keep their state and only the cost changes. `portico.rate-scope=replica`
//! keeps the limit per replica.

pub mod client;
pub mod clock;
mod store;

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use governor::middleware::{NoOpMiddleware, StateInformationMiddleware};
use governor::{Quota, RateLimiter};
use http::{HeaderMap, HeaderName, HeaderValue};

pub use client::{ClientKey, TrustedProxies};
use clock::TokioClock;
use store::ClientStore;

use crate::routing::options::RateSpec;

type Key = (Arc<str>, ClientKey);
type Keyed = RateLimiter<Key, ClientStore<Key>, TokioClock, StateInformationMiddleware>;

/// One limiter and a handle on its clients, for eviction.
#[derive(Clone)]
struct Limiter {
    gcra: Arc<Keyed>,
    clients: ClientStore<Key>,
}

/// What one check decided, with what the `RateLimit-*` headers report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// Requests allowed in a burst.
    pub limit: u32,
    /// Requests still allowed right now.
    pub remaining: u32,
    /// Seconds until the bucket is full again (allowed) or the next request is (refused).
    pub reset_secs: u64,
    /// The spec's count and period, for `RateLimit-Policy`.
    pub spec: RateSpec,
}

/// All keyed limiters, one per distinct [`RateSpec`].
pub struct Limiters {
    by_spec: ArcSwap<Vec<(RateSpec, Limiter)>>,
    adding: Mutex<()>,
    max_clients: usize,
    /// IPv6 clients are keyed by this many leading bits of their address.
    ipv6_prefix: u8,
    /// Live replicas: what one request costs on a cluster-wide limit.
    replicas: Arc<AtomicU32>,
}

impl Limiters {
    /// No limiters yet; each spec gets one the first time it is checked.
    pub fn new(max_clients: usize) -> Limiters {
        Limiters {
            by_spec: ArcSwap::from_pointee(Vec::new()),
            adding: Mutex::new(()),
            max_clients,
            ipv6_prefix: 64,
            replicas: Arc::new(AtomicU32::new(1)),
        }
    }

    /// Divides cluster-wide limits by the live replicas `count` holds.
    pub fn with_replicas(mut self, count: Arc<AtomicU32>) -> Limiters {
        self.replicas = count;
        self
    }

    /// Cells one request costs under `spec`: the live replicas for a
    /// cluster-wide limit (at most the burst, so a request can always pass
    /// a full bucket), else one.
    fn cost(&self, spec: RateSpec) -> u32 {
        match spec.per_replica {
            true => 1,
            false => self.replicas.load(Ordering::Relaxed).clamp(1, spec.burst.max(1)),
        }
    }

    /// Keys IPv6 clients by their first `bits` bits (64 by default; 128: each address).
    pub fn with_ipv6_prefix(mut self, bits: u8) -> Limiters {
        self.ipv6_prefix = bits.clamp(1, 128);
        self
    }

    /// The key of a client known by its address.
    pub fn ip_key(&self, ip: IpAddr) -> ClientKey {
        ClientKey::Ip(client::network_of(ip, self.ipv6_prefix))
    }

    /// Counts one request of `client` on `route` against `spec`.
    /// The headers report this replica's share (the burst and what is left
    /// of it, in requests at the current cost).
    pub fn check(&self, route: &Arc<str>, spec: RateSpec, client: ClientKey) -> Decision {
        let limiter = self.limiter(spec);
        let key = (Arc::clone(route), client);
        let interval = spec.period.checked_div(spec.count).unwrap_or(spec.period);
        let cost = self.cost(spec);
        let limit = spec.burst / cost;
        match limiter.gcra.check_key_n(&key, NonZeroU32::new(cost).unwrap_or(NonZeroU32::MIN)) {
            Ok(Ok(state)) => {
                let cells = state.remaining_burst_capacity();
                let reset = interval * spec.burst.saturating_sub(cells);
                Decision { allowed: true, limit, remaining: cells / cost, reset_secs: ceil_secs(reset), spec }
            }
            Ok(Err(not_until)) => {
                let wait = not_until.wait_time_from(governor::clock::Clock::now(&TokioClock));
                Decision { allowed: false, limit, remaining: 0, reset_secs: ceil_secs(wait).max(1), spec }
            }
            Err(_) => Decision { allowed: false, limit, remaining: 0, reset_secs: ceil_secs(spec.period), spec },
        }
    }

    /// Client states held now, over all limiters.
    #[cfg(test)]
    pub(crate) fn clients(&self) -> usize {
        self.by_spec.load().iter().map(|(_, l)| l.gcra.len()).sum()
    }

    /// Forgets clients whose bucket is full again; past `max_clients`, the
    /// least recently seen ones too.
    pub fn sweep(&self) {
        for (_, limiter) in self.by_spec.load().iter() {
            limiter.gcra.retain_recent();
            let evicted = limiter.clients.evict_least_recent(self.max_clients);
            if evicted > 0 {
                tracing::warn!(
                    evicted,
                    max = self.max_clients,
                    "rate limiter over max_clients; forgot the least recently seen"
                );
            }
            limiter.gcra.shrink_to_fit();
        }
    }

    /// Sweeps every `interval` until `stop`.
    pub async fn run_sweeper(self: Arc<Self>, interval: Duration, stop: tokio_util::sync::CancellationToken) {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => self.sweep(),
                _ = stop.cancelled() => return,
            }
        }
    }

    fn limiter(&self, spec: RateSpec) -> Limiter {
        if let Some((_, l)) = self.by_spec.load().iter().find(|(s, _)| *s == spec) {
            return l.clone();
        }
        let _adding = self.adding.lock().unwrap_or_else(|e| e.into_inner());
        let current = self.by_spec.load();
        if let Some((_, l)) = current.iter().find(|(s, _)| *s == spec) {
            return l.clone();
        }
        let limiter = keyed(spec);
        let mut list = current.as_ref().clone();
        list.push((spec, limiter.clone()));
        self.by_spec.store(Arc::new(list));
        limiter
    }
}

fn keyed(spec: RateSpec) -> Limiter {
    let interval = (spec.period.checked_div(spec.count).unwrap_or(spec.period)).max(Duration::from_nanos(1));
    let burst = NonZeroU32::new(spec.burst).unwrap_or(NonZeroU32::MIN);
    let quota = Quota::with_period(interval).unwrap_or(Quota::per_second(NonZeroU32::MIN)).allow_burst(burst);
    let clients = ClientStore::default();
    let plain: RateLimiter<Key, ClientStore<Key>, TokioClock, NoOpMiddleware<clock::Tick>> =
        RateLimiter::new(quota, clients.clone(), TokioClock);
    let gcra = plain.with_middleware::<StateInformationMiddleware>();
    Limiter { gcra: Arc::new(gcra), clients }
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

static LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
static REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
static RESET: HeaderName = HeaderName::from_static("ratelimit-reset");
static POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");

impl Decision {
    /// Adds `RateLimit-Limit`, `-Remaining`, `-Reset` and `-Policy`.
    pub fn write_headers(&self, headers: &mut HeaderMap) {
        headers.insert(LIMIT.clone(), HeaderValue::from(self.limit));
        headers.insert(REMAINING.clone(), HeaderValue::from(self.remaining));
        headers.insert(RESET.clone(), HeaderValue::from(self.reset_secs));
        let policy = format!("{};w={};burst={}", self.spec.count, self.spec.period.as_secs(), self.spec.burst);
        if let Ok(value) = HeaderValue::from_str(&policy) {
            headers.insert(POLICY.clone(), value);
        }
    }
}

#[cfg(test)]
mod tests;
