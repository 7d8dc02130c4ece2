//! The response cache of routes that ask for one (`portico.cache`).
//!
//! A shared cache in the sense of RFC 9111 ([`control`] has the rules), held
//! in `moka`, bounded in bytes. Entries are keyed by route, host and path with
//! query; each key holds the variants its `Vary` header asked for. Freshness
//! and age are judged on tokio's clock, so they are tested with paused time;
//! moka's own expiry only reclaims the memory, and keeps a stale entry as
//! long as it may still serve: while it can be revalidated (it has a
//! validator) or served stale (`stale-while-revalidate`, `stale-if-error`). Concurrent misses for one key wait for a
//! single upstream request ([`flight`]), for at most `lock_timeout`. A key
//! whose answer turned out uncacheable is remembered for `pass_ttl` ("hit for
//! pass"), so later requests for it go straight upstream instead of queueing
//! behind one another.

pub mod control;
pub mod flight;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use moka::future::Cache;
use moka::Expiry;
use tokio::time::Instant;

pub use control::Freshness;
pub use flight::{Flights, Landing, Role};

/// `X-Cache` on every response of a cached route: `HIT`, `MISS`, `BYPASS`,
/// `REVALIDATED` (a stale entry confirmed by a 304) or `STALE`.
pub static X_CACHE: HeaderName = HeaderName::from_static("x-cache");

/// Size limits.
#[derive(Debug, Clone, Copy)]
pub struct CacheSettings {
    /// All stored bodies and headers together.
    pub max_bytes: u64,
    /// A larger response is passed through and not stored.
    pub max_object_bytes: usize,
    /// Longest a request waits for another's fetch of the same key.
    pub lock_timeout: Duration,
    /// How long a key whose answer was uncacheable skips coalescing.
    pub pass_ttl: Duration,
}

impl Default for CacheSettings {
    fn default() -> Self {
        CacheSettings {
            max_bytes: 64 * 1024 * 1024,
            max_object_bytes: 1024 * 1024,
            lock_timeout: Duration::from_secs(5),
            pass_ttl: Duration::from_secs(30),
        }
    }
}

/// Where a response is filed: route, host, path and query.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    pub route: Arc<str>,
    pub host: Box<str>,
    pub target: Box<str>,
}

/// How long a stale entry with a validator is kept for revalidation.
const KEPT_FOR_REVALIDATION: Duration = Duration::from_secs(3600);

/// One stored response.
#[derive(Debug)]
pub struct Stored {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// When it was received (or last revalidated).
    pub stored_at: Instant,
    /// Lifetime, age when received, audience and stale rules.
    pub freshness: Freshness,
    /// The request headers named by `Vary`, as they were for this response.
    pub vary: Box<[(HeaderName, Option<HeaderValue>)]>,
    /// Its headers hold `Portico-Cache-Control` or `CDN-Cache-Control`,
    /// kept for revalidation and removed from every answer.
    pub targeted: bool,
}

impl Stored {
    /// Its current age (§4.2.3): its age when received plus its time here.
    pub fn age(&self, now: Instant) -> Duration {
        self.freshness.initial_age.saturating_add(now.saturating_duration_since(self.stored_at))
    }

    /// True while its age is below its freshness lifetime.
    pub fn fresh(&self, now: Instant) -> bool {
        self.age(now) < self.freshness.lifetime
    }

    /// How long it has been stale (zero while fresh).
    pub fn staleness(&self, now: Instant) -> Duration {
        self.age(now).saturating_sub(self.freshness.lifetime)
    }

    /// May be served stale while one request refreshes it.
    pub fn stale_while_revalidate(&self, now: Instant) -> bool {
        !self.fresh(now) && self.staleness(now) < self.freshness.stale.while_revalidate
    }

    /// May be served stale because the instances failed.
    pub fn stale_if_error(&self, now: Instant) -> bool {
        self.staleness(now) < self.freshness.stale.if_error
    }

    /// True when it carries a validator, so a conditional request can refresh it.
    pub fn revalidatable(&self) -> bool {
        control::has_validator(&self.headers)
    }

    /// How long the cache should keep it from now.
    fn keep(&self) -> Duration {
        let now = Instant::now();
        let fresh_for = self.freshness.lifetime.saturating_sub(self.age(now));
        let stale = self.freshness.stale;
        let mut extra = stale.while_revalidate.max(stale.if_error).saturating_sub(self.staleness(now));
        if self.revalidatable() {
            extra = extra.max(KEPT_FOR_REVALIDATION);
        }
        fresh_for.saturating_add(extra)
    }

    /// True when the request's `Vary` headers equal the stored ones.
    pub fn matches(&self, request: &HeaderMap) -> bool {
        self.vary.iter().all(|(name, value)| request.get(name) == value.as_ref())
    }

    /// May answer this request, fresh or not (same variant, credentials allowed).
    pub fn usable(&self, request: &HeaderMap, credentials: bool) -> bool {
        self.matches(request) && (self.freshness.public || !credentials)
    }

    /// May answer this request as it is (fresh, same variant, credentials allowed).
    pub fn serves(&self, request: &HeaderMap, credentials: bool, now: Instant) -> bool {
        self.fresh(now) && self.usable(request, credentials)
    }

    /// Its age in whole seconds (the `Age` it is served with).
    pub fn age_secs(&self) -> u64 {
        self.age(Instant::now()).as_secs().min(u64::from(u32::MAX))
    }

    fn weight(&self) -> usize {
        let headers: usize = self.headers.iter().map(|(n, v)| n.as_str().len() + v.len() + 32).sum();
        self.body.len() + headers + 128
    }
}

/// The variants stored under one key.
type Variants = Arc<Vec<Arc<Stored>>>;

/// The cache: entries plus the requests in flight to fill them.
pub struct ResponseCache {
    entries: Cache<CacheKey, Variants>,
    /// Keys known to be uncacheable, with when that was learnt.
    passes: Cache<CacheKey, Instant>,
    pub flights: Flights,
    pub settings: CacheSettings,
}

/// How many variants one key keeps; the oldest goes first.
const MAX_VARIANTS: usize = 8;

struct UntilStale;

impl Expiry<CacheKey, Variants> for UntilStale {
    fn expire_after_create(&self, _: &CacheKey, value: &Variants, _: std::time::Instant) -> Option<Duration> {
        value.iter().map(|s| s.keep()).max()
    }

    fn expire_after_update(
        &self,
        k: &CacheKey,
        v: &Variants,
        at: std::time::Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        self.expire_after_create(k, v, at)
    }
}

impl ResponseCache {
    /// An empty cache.
    pub fn new(settings: CacheSettings) -> ResponseCache {
        let entries = Cache::builder()
            .max_capacity(settings.max_bytes)
            .weigher(|k: &CacheKey, v: &Variants| {
                let size = k.target.len() + k.host.len() + v.iter().map(|s| s.weight()).sum::<usize>();
                u32::try_from(size).unwrap_or(u32::MAX)
            })
            .expire_after(UntilStale)
            .build();
        let passes = Cache::builder().max_capacity(100_000).time_to_live(settings.pass_ttl).build();
        ResponseCache { entries, passes, flights: Flights::default(), settings }
    }

    /// True when `key`'s last answer was uncacheable, within `pass_ttl`.
    pub async fn is_pass(&self, key: &CacheKey) -> bool {
        let learnt = self.passes.get(key).await;
        learnt.is_some_and(|at| Instant::now().saturating_duration_since(at) < self.settings.pass_ttl)
    }

    /// Remembers that `key`'s answer is uncacheable.
    pub async fn mark_pass(&self, key: CacheKey) {
        self.passes.insert(key, Instant::now()).await;
    }

    /// A stored response for this request's variant, fresh or stale (the
    /// caller judges: [`Stored::fresh`], [`Stored::stale_while_revalidate`]...).
    pub async fn lookup(&self, key: &CacheKey, request: &HeaderMap, credentials: bool) -> Option<Arc<Stored>> {
        let variants = self.entries.get(key).await?;
        variants.iter().find(|s| s.usable(request, credentials)).cloned()
    }

    /// Drops `key` (every variant) and its pass marker: the resource changed.
    pub async fn invalidate(&self, key: &CacheKey) {
        self.passes.invalidate(key).await;
        self.entries.invalidate(key).await;
    }

    /// Stores a response, replacing the variant with the same `Vary` values.
    pub async fn insert(&self, key: CacheKey, stored: Arc<Stored>) {
        let mut list: Vec<Arc<Stored>> = match self.entries.get(&key).await {
            Some(old) => old.iter().filter(|s| !s.keep().is_zero() && s.vary != stored.vary).cloned().collect(),
            None => Vec::new(),
        };
        list.truncate(MAX_VARIANTS - 1);
        list.insert(0, stored);
        self.entries.insert(key, Arc::new(list)).await;
    }

    /// Removes entries whose key passes `select`; returns how many keys went.
    /// Pass markers of those keys go too.
    pub async fn purge(&self, select: impl Fn(&CacheKey) -> bool) -> usize {
        let passes: Vec<Arc<CacheKey>> = self.passes.iter().filter(|(k, _)| select(k)).map(|(k, _)| k).collect();
        for key in &passes {
            self.passes.invalidate(key.as_ref()).await;
        }
        let keys: Vec<Arc<CacheKey>> = self.entries.iter().filter(|(k, _)| select(k)).map(|(k, _)| k).collect();
        for key in &keys {
            self.entries.invalidate(key.as_ref()).await;
        }
        keys.len()
    }

    /// Keys held and their total weight in bytes, after pending housekeeping.
    pub async fn usage(&self) -> (u64, u64) {
        self.entries.run_pending_tasks().await;
        (self.entries.entry_count(), self.entries.weighted_size())
    }
}

/// The request header values a response's `Vary` names.
pub fn vary_values(response: &HeaderMap, request: &HeaderMap) -> Box<[(HeaderName, Option<HeaderValue>)]> {
    let mut names: Vec<HeaderName> = response
        .get_all(header::VARY)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::try_from(n.trim()).ok())
        .collect();
    names.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    names.dedup();
    names.into_iter().map(|n| (n.clone(), request.get(&n).cloned())).collect()
}

#[cfg(test)]
mod tests;
