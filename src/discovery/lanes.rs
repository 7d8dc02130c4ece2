//! The connections to the agent, shared out to the watches.
//!
//! Consul refuses more than `limits.http_max_conns_per_client` (200 by
//! default) connections from one address, and over HTTP/1.1 a blocking query
//! holds its connection for its whole wait. Every long poll therefore takes a
//! [`Lease`] first: over HTTP/1.1 a lease is a connection, so at most
//! `max_connections` minus what the shared feed reserves are handed out; over
//! HTTP/2 a lease is a stream, and a lane (one client, one connection) carries
//! up to [`STREAMS_PER_CONNECTION`], below the 250 Consul's HTTPS listener
//! allows. A service that gets no lease is followed by the shared feed
//! instead (see `feed`).

use std::sync::{Arc, Mutex, PoisonError};

use crate::consul::{Client, Error, Transport};

/// Streams one HTTP/2 connection carries: Consul (Go's HTTP/2 server)
/// advertises `SETTINGS_MAX_CONCURRENT_STREAMS` 250; the rest is headroom
/// for the feed's short requests.
pub const STREAMS_PER_CONNECTION: usize = 200;

/// Connections the shared feed needs over HTTP/1.1: its long poll and its refetches.
pub const FEED_CONNECTIONS: usize = 1 + super::feed::REFETCH_CONCURRENCY;

/// Over HTTP/1.1, connections kept back from the long polls: the feed's,
/// and the idle ones the client keeps for reuse.
pub const RESERVED_HTTP1: usize = FEED_CONNECTIONS + crate::consul::HTTP1_IDLE_CONNECTIONS;

/// Hands out long-poll slots within the connection budget.
#[derive(Clone)]
pub struct Lanes {
    inner: Arc<Mutex<Inner>>,
}

struct Inner {
    /// One client per connection (HTTP/2), or one client for all (HTTP/1.1).
    lanes: Vec<Lane>,
    /// Leases one lane may carry.
    per_lane: usize,
    /// Lanes that may exist.
    max_lanes: usize,
}

struct Lane {
    client: Client,
    leased: usize,
}

/// A long-poll slot: a connection (HTTP/1.1) or a stream (HTTP/2). Dropping it frees the slot.
pub struct Lease {
    client: Client,
    lane: usize,
    lanes: Arc<Mutex<Inner>>,
}

impl Lanes {
    /// The budget for `client`'s agent: `max_connections` connections in all.
    pub fn new(client: Client, max_connections: usize) -> Lanes {
        let (per_lane, max_lanes) = match client.transport() {
            Transport::Http1 => (max_connections.saturating_sub(RESERVED_HTTP1).max(1), 1),
            Transport::Http2 => (STREAMS_PER_CONNECTION, max_connections.max(1)),
        };
        let inner = Inner { lanes: vec![Lane { client, leased: 0 }], per_lane, max_lanes };
        Lanes { inner: Arc::new(Mutex::new(inner)) }
    }

    /// A slot on the least loaded lane with room, opening a lane when all are
    /// full; `None` when the budget is spent.
    pub fn lease(&self) -> Option<Lease> {
        let mut inner = self.lock();
        let per_lane = inner.per_lane;
        let open = inner.lanes.iter().enumerate().filter(|(_, l)| l.leased < per_lane).min_by_key(|(_, l)| l.leased);
        let lane = match open {
            Some((lane, _)) => lane,
            None if inner.lanes.len() < inner.max_lanes => match inner.open_lane() {
                Ok(lane) => lane,
                Err(error) => {
                    tracing::error!(%error, "could not open another connection to consul");
                    return None;
                }
            },
            None => return None,
        };
        inner.lanes[lane].leased += 1;
        Some(Lease { client: inner.lanes[lane].client.clone(), lane, lanes: Arc::clone(&self.inner) })
    }

    /// Connections these slots need at most: one per lane over HTTP/2; over
    /// HTTP/1.1 one per slot in use, plus the feed's when it runs.
    pub fn connections(&self, feed: bool) -> usize {
        let inner = self.lock();
        match inner.lanes[0].client.transport() {
            Transport::Http2 => inner.lanes.len(),
            Transport::Http1 => {
                let reserved = crate::consul::HTTP1_IDLE_CONNECTIONS + if feed { FEED_CONNECTIONS } else { 0 };
                inner.lanes.iter().map(|l| l.leased).sum::<usize>() + reserved
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Inner {
    fn open_lane(&mut self) -> Result<usize, Error> {
        let client = self.lanes[0].client.fresh()?;
        self.lanes.push(Lane { client, leased: 0 });
        Ok(self.lanes.len() - 1)
    }
}

impl Lease {
    /// The client to send this slot's queries with.
    pub fn client(&self) -> &Client {
        &self.client
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let mut inner = self.lanes.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(lane) = inner.lanes.get_mut(self.lane) {
            lane.leased = lane.leased.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests;
