//! Request coalescing: the first miss for a key fetches, later ones wait for
//! its result instead of asking the instance too.
//!
//! The leader holds a guard; when it lands (stored or not) every follower is
//! woken with the outcome. If the leader is dropped without landing (the
//! client went away, the upstream failed), followers are woken empty-handed
//! and each forwards its own request, so a follower never waits on a dead
//! fetch. The map is touched only on a miss of a cached route.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use super::{CacheKey, Stored};

/// What the leader's fetch produced.
#[derive(Debug, Clone)]
pub enum Landing {
    Stored(Arc<Stored>),
    NotStored,
}

/// Where a follower waits.
pub type Slot = watch::Receiver<Option<Landing>>;

/// Fetches in progress, by key.
#[derive(Default)]
pub struct Flights {
    map: Mutex<HashMap<CacheKey, Slot>>,
}

/// Whether this request fetches or waits.
pub enum Role<'a> {
    Leader(Leader<'a>),
    Follower(Slot),
}

/// The fetching request's guard; dropping it ends the flight.
pub struct Leader<'a> {
    flights: &'a Flights,
    key: CacheKey,
    tx: watch::Sender<Option<Landing>>,
}

impl Flights {
    /// Joins the flight for `key`, or starts one.
    pub fn join(&self, key: &CacheKey) -> Role<'_> {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(rx) = map.get(key) {
            return Role::Follower(rx.clone());
        }
        let (tx, rx) = watch::channel(None);
        map.insert(key.clone(), rx);
        Role::Leader(Leader { flights: self, key: key.clone(), tx })
    }

    /// Fetches in progress now.
    pub fn len(&self) -> usize {
        self.map.lock().map(|m| m.len()).unwrap_or(0)
    }

    /// True when nothing is being fetched.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Leader<'_> {
    /// Tells every follower the outcome.
    pub fn land(self, landing: Landing) {
        let _ = self.tx.send(Some(landing));
    }
}

impl Drop for Leader<'_> {
    fn drop(&mut self) {
        let mut map = self.flights.map.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(&self.key);
    }
}

/// Waits for the leader; `None` if it gave up without landing.
pub async fn wait(mut slot: Slot) -> Option<Landing> {
    slot.wait_for(Option::is_some).await.ok().and_then(|v| v.clone())
}

/// Waits for the leader at most `timeout`; `None` if it gave up or took longer.
pub async fn wait_at_most(slot: Slot, timeout: std::time::Duration) -> Option<Landing> {
    tokio::time::timeout(timeout, wait(slot)).await.ok().flatten()
}
