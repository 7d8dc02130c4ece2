//! Where the limiter keeps its clients: governor's GCRA state per key, plus
//! when each client was last seen, so that a limiter holding too many clients
//! forgets the least recently seen ones instead of everyone. (A flood of
//! fresh addresses then pushes out other fresh addresses, not the client that
//! is being held to its limit right now.)

use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use dashmap::DashMap;
use governor::nanos::Nanos;
use governor::state::keyed::ShrinkableKeyedStateStore;
use governor::state::{InMemoryState, NotKeyed, StateStore};
use tokio::time::Instant;

/// One client's bucket and when it was last checked.
#[derive(Default)]
struct Client {
    gcra: InMemoryState,
    /// Nanoseconds on [`now_nanos`].
    seen: AtomicU64,
}

/// A keyed state store that remembers recency; cloning shares it.
pub struct ClientStore<K: Hash + Eq> {
    clients: Arc<DashMap<K, Client>>,
}

impl<K: Hash + Eq> Clone for ClientStore<K> {
    fn clone(&self) -> Self {
        ClientStore { clients: Arc::clone(&self.clients) }
    }
}

impl<K: Hash + Eq> Default for ClientStore<K> {
    fn default() -> Self {
        ClientStore { clients: Arc::default() }
    }
}

/// Nanoseconds on tokio's clock since the first call (paused-clock tests move it).
fn now_nanos() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    let start = *START.get_or_init(Instant::now);
    Instant::now().saturating_duration_since(start).as_nanos() as u64
}

impl<K: Hash + Eq + Clone> StateStore for ClientStore<K> {
    type Key = K;

    fn measure_and_replace<T, F, E>(&self, key: &K, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        let now = now_nanos();
        if let Some(client) = self.clients.get(key) {
            client.seen.store(now, Ordering::Relaxed);
            return client.gcra.measure_and_replace(&NotKeyed::NonKey, f);
        }
        let client = self.clients.entry(key.clone()).or_default();
        client.seen.store(now, Ordering::Relaxed);
        client.gcra.measure_and_replace(&NotKeyed::NonKey, f)
    }
}

impl<K: Hash + Eq + Clone> ShrinkableKeyedStateStore<K> for ClientStore<K> {
    fn retain_recent(&self, drop_below: Nanos) {
        self.clients.retain(|_, client| !bucket_full_by(&client.gcra, drop_below));
    }

    fn shrink_to_fit(&self) {
        self.clients.shrink_to_fit();
    }

    fn len(&self) -> usize {
        self.clients.len()
    }

    fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }
}

/// True when the bucket is full again at `time` (its theoretical arrival
/// time has passed): the client can be forgotten without changing a decision.
fn bucket_full_by(gcra: &InMemoryState, time: Nanos) -> bool {
    // A measurement that declines to replace reads the state without changing it.
    let peeked: Result<(), Option<Nanos>> = gcra.measure_and_replace(&NotKeyed::NonKey, Err);
    match peeked {
        Err(Some(tat)) => tat <= time,
        _ => true,
    }
}

impl<K: Hash + Eq + Clone> ClientStore<K> {
    /// Forgets the least recently seen clients until at most `keep` remain;
    /// returns how many were forgotten.
    pub fn evict_least_recent(&self, keep: usize) -> usize {
        let excess = self.clients.len().saturating_sub(keep);
        if excess == 0 {
            return 0;
        }
        let mut seen: Vec<u64> = self.clients.iter().map(|c| c.seen.load(Ordering::Relaxed)).collect();
        let nth = excess.min(seen.len()) - 1;
        let cutoff = *seen.select_nth_unstable(nth).1;
        // Strictly older than the cutoff first, then ties, until `excess` are gone.
        let mut left = excess;
        self.clients.retain(|_, c| {
            let evict = left > 0 && c.seen.load(Ordering::Relaxed) < cutoff;
            left -= usize::from(evict);
            !evict
        });
        self.clients.retain(|_, c| {
            let evict = left > 0 && c.seen.load(Ordering::Relaxed) == cutoff;
            left -= usize::from(evict);
            !evict
        });
        excess - left
    }
}
