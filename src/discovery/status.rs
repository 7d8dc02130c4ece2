//! What each watch last saw, for `/admin/routes` and metrics.
//!
//! Written by the watch loops, read by the admin listener: never touched on
//! the request path, so plain mutexes are fine here.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use crate::consul::Transport;

/// The health of one blocking-query loop.
#[derive(Debug)]
pub struct WatchStatus {
    /// When the watch started; staleness counts from here until a first success.
    started: Instant,
    /// Last index received.
    index: AtomicU64,
    /// Replies received.
    replies: AtomicU64,
    /// Failures in a row since the last success.
    failures: AtomicU64,
    /// Failures ever.
    errors: AtomicU64,
    /// Failures ever that were a refused ACL token (401/403).
    denied: AtomicU64,
    /// The last reply was filtered by ACLs.
    filtered: AtomicBool,
    /// Time of the last success and the last error message.
    detail: Mutex<Detail>,
}

#[derive(Debug, Default)]
struct Detail {
    last_ok: Option<Instant>,
    last_error: Option<String>,
}

/// A point-in-time copy of a [`WatchStatus`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct WatchReport {
    pub index: u64,
    pub replies: u64,
    pub consecutive_failures: u64,
    pub errors: u64,
    /// Of the errors, how many were a refused ACL token.
    pub denied: u64,
    /// The last reply left out what the token may not read.
    pub acl_filtered: bool,
    /// Seconds since this watch last knew it was in sync (0 while it is).
    pub stale_seconds: f64,
    pub last_error: Option<String>,
}

impl Default for WatchStatus {
    fn default() -> Self {
        WatchStatus {
            started: Instant::now(),
            index: AtomicU64::new(0),
            replies: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            denied: AtomicU64::new(0),
            filtered: AtomicBool::new(false),
            detail: Mutex::default(),
        }
    }
}

impl WatchStatus {
    /// Records a good reply.
    pub fn ok(&self, index: u64) {
        self.index.store(index, Ordering::Relaxed);
        self.replies.fetch_add(1, Ordering::Relaxed);
        self.failures.store(0, Ordering::Relaxed);
        let mut d = self.detail.lock().unwrap_or_else(PoisonError::into_inner);
        d.last_ok = Some(Instant::now());
        d.last_error = None;
    }

    /// The last index received.
    pub fn index(&self) -> u64 {
        self.index.load(Ordering::Relaxed)
    }

    /// Records a failed query.
    pub fn failed(&self, error: &str) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut d = self.detail.lock().unwrap_or_else(PoisonError::into_inner);
        d.last_error = Some(error.to_string());
    }

    /// Records a query refused for its ACL token (also a failure).
    pub fn denied(&self, error: &str) {
        self.denied.fetch_add(1, Ordering::Relaxed);
        self.failed(error);
    }

    /// Records whether the last reply was filtered by ACLs; true when that changed.
    pub fn set_filtered(&self, filtered: bool) -> bool {
        self.filtered.swap(filtered, Ordering::Relaxed) != filtered
    }

    /// A copy for reporting.
    pub fn report(&self) -> WatchReport {
        let failures = self.failures.load(Ordering::Relaxed);
        let d = self.detail.lock().unwrap_or_else(PoisonError::into_inner);
        let in_sync = failures == 0 && d.last_ok.is_some();
        let since = d.last_ok.unwrap_or(self.started);
        WatchReport {
            index: self.index.load(Ordering::Relaxed),
            replies: self.replies.load(Ordering::Relaxed),
            consecutive_failures: failures,
            errors: self.errors.load(Ordering::Relaxed),
            denied: self.denied.load(Ordering::Relaxed),
            acl_filtered: self.filtered.load(Ordering::Relaxed),
            stale_seconds: if in_sync { 0.0 } else { round_ms(since.elapsed()) },
            last_error: d.last_error.clone(),
        }
    }
}

fn round_ms(d: Duration) -> f64 {
    (d.as_millis() as f64) / 1000.0
}

/// How discovery shares its connections to the agent, for `/admin/routes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Budget {
    pub transport: Transport,
    pub max_connections: usize,
    /// Connections in use (over HTTP/2, each carries many watches).
    pub connections: usize,
    /// Services with a long poll of their own.
    pub watched: usize,
    /// Services followed through the shared feed on every check.
    pub followed_by_feed: usize,
}

/// Every live watch by name (`catalog`, `checks`, `service:<name>`), and the connection budget.
#[derive(Debug, Clone, Default)]
pub struct Statuses {
    watches: Arc<Mutex<BTreeMap<String, Arc<WatchStatus>>>>,
    budget: Arc<Mutex<Option<Budget>>>,
    /// Body bytes read from the agent (shared with the Consul client).
    read_bytes: Arc<AtomicU64>,
}

impl Statuses {
    /// Registers a new watch and returns its status.
    pub fn add(&self, name: &str) -> Arc<WatchStatus> {
        let status = Arc::new(WatchStatus::default());
        self.lock().insert(name.to_string(), Arc::clone(&status));
        status
    }

    /// The status registered under `name`, registering it when new.
    pub fn get_or_add(&self, name: &str) -> Arc<WatchStatus> {
        Arc::clone(self.lock().entry(name.to_string()).or_default())
    }

    /// Forgets a stopped watch.
    pub fn remove(&self, name: &str) {
        self.lock().remove(name);
    }

    /// Reports of all watches.
    pub fn reports(&self) -> BTreeMap<String, WatchReport> {
        self.lock().iter().map(|(k, v)| (k.clone(), v.report())).collect()
    }

    /// Records how the connections are shared now.
    pub fn set_budget(&self, budget: Budget) {
        *self.budget.lock().unwrap_or_else(PoisonError::into_inner) = Some(budget);
    }

    /// How the connections were last shared; `None` before discovery starts.
    pub fn budget(&self) -> Option<Budget> {
        *self.budget.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The worst staleness over all watches, in seconds.
    pub fn staleness(&self) -> f64 {
        self.reports().values().map(|r| r.stale_seconds).fold(0.0, f64::max)
    }

    /// The counter the Consul client adds the bytes it reads to.
    pub fn read_counter(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.read_bytes)
    }

    /// Body bytes read from the agent so far.
    pub fn read_bytes(&self) -> u64 {
        self.read_bytes.load(Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Arc<WatchStatus>>> {
        self.watches.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
