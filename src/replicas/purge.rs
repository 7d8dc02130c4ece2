//! Cache purges that reach every replica.
//!
//! `DELETE /admin/cache` on one replica purges its own cache, then fires a
//! Consul user event (`<service>-cache-purge`) carrying what to purge. Every
//! replica follows those events with a blocking query, purges the same
//! selection, and acknowledges by writing a KV key under
//! `<service>/purges/<event>/`; the replica that was asked counts those keys
//! for up to `purge_wait` and says how many of the live replicas
//! acknowledged. Events that were already there when a replica started are
//! not replayed.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use super::{ClusterSettings, Replicas};
use crate::cache::ResponseCache;
use crate::consul::Client;

/// Consul refuses larger event payloads; a longer selection is purged here only.
const MAX_PAYLOAD: usize = 450;
/// Event IDs remembered (the agent keeps the last 256 events).
const REMEMBERED: usize = 1024;
/// Acknowledgements are deleted this long after a purge.
const ACKS_KEPT: Duration = Duration::from_secs(30);

/// What to purge: a route's entries, one path with its query, or (both
/// `None`) everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Selection {
    pub route: Option<String>,
    pub key: Option<String>,
}

/// Purges `selection` from `cache`; how many keys went.
pub async fn apply(cache: &ResponseCache, selection: &Selection) -> usize {
    let (route, key) = (selection.route.as_deref(), selection.key.as_deref());
    cache.purge(|k| route.is_none_or(|r| *k.route == *r) && key.is_none_or(|t| *k.target == *t)).await
}

/// Purges across the replicas.
pub struct Purges {
    client: Client,
    cache: Arc<ResponseCache>,
    replicas: Replicas,
    event: String,
    acks: String,
    wait: Duration,
    seen: Mutex<Seen>,
}

#[derive(Default)]
struct Seen {
    ids: HashSet<String>,
    order: VecDeque<String>,
}

impl Seen {
    /// True the first time `id` is offered.
    fn first(&mut self, id: &str) -> bool {
        if self.ids.contains(id) {
            return false;
        }
        self.ids.insert(id.to_string());
        self.order.push_back(id.to_string());
        if self.order.len() > REMEMBERED {
            if let Some(old) = self.order.pop_front() {
                self.ids.remove(&old);
            }
        }
        true
    }
}

impl Purges {
    pub fn new(client: Client, cache: Arc<ResponseCache>, replicas: Replicas, settings: &ClusterSettings) -> Purges {
        Purges {
            client,
            cache,
            replicas,
            event: format!("{}-cache-purge", settings.service),
            acks: format!("{}/purges", settings.service),
            wait: settings.purge_wait,
            seen: Mutex::default(),
        }
    }

    /// Purges `selection` here and on every live replica; the answer says
    /// how many keys went here, and how many replicas acknowledged.
    pub async fn everywhere(&self, selection: &Selection) -> Value {
        let purged = apply(&self.cache, selection).await;
        let mut answer = json!({ "purged": purged, "route": selection.route, "key": selection.key });
        let Some(this) = self.replicas.this() else {
            answer["replicas"] = json!({ "live": 1, "acknowledged": 1 });
            return answer;
        };
        let live = self.replicas.count() as usize;
        let payload = serde_json::to_vec(selection).unwrap_or_default();
        let outcome = match payload.len() <= MAX_PAYLOAD {
            true => self.fire(Bytes::from(payload), &this, purged).await,
            false => Err("the selection is too long for a Consul event: purged on this replica only".to_string()),
        };
        answer["replicas"] = match outcome {
            Ok((event, acknowledged)) => json!({ "live": live, "acknowledged": acknowledged, "event": event }),
            Err(error) => json!({ "live": live, "acknowledged": 1, "error": error }),
        };
        answer
    }

    /// Fires the event, acknowledges it for this replica and waits for the
    /// others: the event's ID and the acknowledgements counted.
    async fn fire(&self, payload: Bytes, this: &str, purged: usize) -> Result<(String, usize), String> {
        let id = self.client.fire_event(&self.event, payload).await.map_err(|e| e.to_string())?;
        self.remember(&id);
        self.acknowledge(&id, this, purged).await;
        let prefix = format!("{}/{id}/", self.acks);
        let want = self.replicas.count() as usize;
        let deadline = tokio::time::Instant::now() + self.wait;
        let mut acknowledged = self.client.kv_count(&prefix).await.unwrap_or(1);
        while acknowledged < want && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
            acknowledged = self.client.kv_count(&prefix).await.unwrap_or(acknowledged);
        }
        let client = self.client.clone();
        tokio::spawn(async move {
            tokio::time::sleep(ACKS_KEPT).await;
            let _ = client.kv_delete_tree(&prefix).await;
        });
        Ok((id, acknowledged))
    }

    async fn acknowledge(&self, event: &str, this: &str, purged: usize) {
        let key = format!("{}/{event}/{this}", self.acks);
        if let Err(error) = self.client.kv_put(&key, Bytes::from(purged.to_string())).await {
            tracing::warn!(%error, %event, "cannot acknowledge a cache purge in Consul KV");
        }
    }

    fn remember(&self, id: &str) -> bool {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).first(id)
    }

    /// Follows purge events until `stop`: each new one is applied here and acknowledged.
    pub async fn watch(self: Arc<Self>, stop: CancellationToken) {
        let (mut index, mut started) = (0, false);
        loop {
            let reply = tokio::select! {
                reply = self.client.events(&self.event, index) => reply,
                () = stop.cancelled() => return,
            };
            let events = match reply {
                Ok(reply) => {
                    index = crate::consul::index::next_index(index, reply.index);
                    reply.body
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot read cache-purge events; retrying");
                    index = 0;
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                        () = stop.cancelled() => return,
                    }
                }
            };
            for event in events {
                if self.remember(&event.id) && started {
                    self.apply_event(&event).await;
                }
            }
            started = true;
        }
    }

    async fn apply_event(&self, event: &crate::consul::agent::Event) {
        let selection = event
            .payload
            .as_deref()
            .and_then(|p| base64::engine::general_purpose::STANDARD.decode(p).ok())
            .and_then(|bytes| serde_json::from_slice::<Selection>(&bytes).ok());
        let Some(selection) = selection else {
            tracing::warn!(event = %event.id, "a cache-purge event with an unreadable payload; ignored");
            return;
        };
        let purged = apply(&self.cache, &selection).await;
        tracing::info!(event = %event.id, purged, route = ?selection.route, key = ?selection.key, "cache purged by another replica");
        if let Some(this) = self.replicas.this() {
            self.acknowledge(&event.id, &this, purged).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_is_applied_once_and_memory_is_bounded() {
        let mut seen = Seen::default();
        assert!(seen.first("a"));
        assert!(!seen.first("a"));
        for n in 0..REMEMBERED {
            seen.first(&n.to_string());
        }
        assert_eq!(seen.ids.len(), REMEMBERED);
        assert!(seen.first("a"), "forgotten after {REMEMBERED} newer events");
    }
}
