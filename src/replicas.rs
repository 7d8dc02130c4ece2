//! Several Portico replicas, with Consul as the only shared state.
//!
//! Each replica registers itself as a Consul service (`portico` by default)
//! with an HTTP check on its `/healthz` ([`registration`]), so Consul knows
//! which replicas are ready. Each watches that service's passing instances
//! with a blocking query: the live replicas are listed at `/admin/replicas`,
//! and their number divides cluster-wide rate limits
//! ([`crate::ratelimit`]). A cache purge on one replica reaches the others
//! as a Consul event, acknowledged in KV ([`purge`]). No other server is
//! needed: no Redis, no gossip of Portico's own.

pub mod purge;
pub mod registration;

use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::consul::types::Instance;
use crate::consul::Client;
use crate::discovery::backoff::Backoff;

/// How this replica takes part in a cluster of replicas.
#[derive(Debug, Clone)]
pub struct ClusterSettings {
    /// Register in Consul as a replica (`--register`).
    pub register: bool,
    pub service: String,
    /// `None`: the listener's address, else the one that routes to the agent.
    pub advertise: Option<IpAddr>,
    pub check_interval: Duration,
    pub purge_wait: Duration,
}

impl Default for ClusterSettings {
    fn default() -> Self {
        ClusterSettings {
            register: true,
            service: "portico".to_string(),
            advertise: None,
            check_interval: Duration::from_secs(2),
            purge_wait: Duration::from_secs(2),
        }
    }
}

/// One live replica, as `/admin/replicas` lists it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Replica {
    pub id: String,
    pub node: String,
    pub address: String,
    pub port: u16,
    /// Its admin listener, as it registered it.
    pub admin: Option<String>,
}

/// The replicas Consul reports passing, shared by the admin listener and
/// the rate limiters.
#[derive(Debug, Clone)]
pub struct Replicas {
    live: Arc<ArcSwap<Vec<Replica>>>,
    /// How many are live (at least 1: this one), read on rate-limited requests.
    count: Arc<AtomicU32>,
    /// This replica's service ID, once registered.
    this: Arc<ArcSwap<Option<String>>>,
}

impl Default for Replicas {
    fn default() -> Self {
        Replicas { live: Arc::default(), count: Arc::new(AtomicU32::new(1)), this: Arc::default() }
    }
}

impl Replicas {
    /// The live-replica count the rate limiters divide by.
    pub fn count_handle(&self) -> Arc<AtomicU32> {
        Arc::clone(&self.count)
    }

    /// Live replicas now.
    pub fn count(&self) -> u32 {
        self.count.load(Ordering::Relaxed)
    }

    /// This replica's ID, if it is registered.
    pub fn this(&self) -> Option<String> {
        self.this.load().as_ref().clone()
    }

    fn set_this(&self, id: String) {
        self.this.store(Arc::new(Some(id)));
    }

    /// `/admin/replicas`.
    pub fn report(&self) -> serde_json::Value {
        let this = self.this();
        let live: Vec<_> = self
            .live
            .load()
            .iter()
            .map(|r| {
                let mut entry = serde_json::to_value(r).unwrap_or_default();
                entry["self"] = (this.as_deref() == Some(r.id.as_str())).into();
                entry
            })
            .collect();
        serde_json::json!({ "self": this, "count": live.len(), "replicas": live })
    }

    /// Publishes what Consul reported. The count never drops below 1, and
    /// stays 1 while this replica is not registered (it then acts alone).
    fn update(&self, instances: &[Instance]) {
        let live: Vec<Replica> = instances.iter().map(replica_of).collect();
        let count = match self.this() {
            Some(_) => u32::try_from(live.len()).unwrap_or(u32::MAX).max(1),
            None => 1,
        };
        if self.count.swap(count, Ordering::Relaxed) != count {
            tracing::info!(replicas = live.len(), "live Portico replicas changed");
        }
        self.live.store(Arc::new(live));
    }

    /// Follows the passing instances of `service` until `stop`, with a
    /// blocking query; on errors, keeps the last list and retries.
    pub async fn watch(self, client: Client, service: String, stop: CancellationToken) {
        let mut index = 0;
        let mut backoff = retry_backoff();
        loop {
            let reply = tokio::select! {
                reply = client.passing(&service, index) => reply,
                () = stop.cancelled() => return,
            };
            match reply {
                Ok(reply) => {
                    index = crate::consul::index::next_index(index, reply.index);
                    self.update(&reply.body);
                    backoff.reset();
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot read the live replicas; keeping the last list");
                    index = 0;
                    tokio::select! {
                        () = tokio::time::sleep(backoff.next_delay()) => {}
                        () = stop.cancelled() => return,
                    }
                }
            }
        }
    }
}

/// How registration and the replicas' watch retry Consul: jittered, so a
/// fleet of replicas does not retry in step.
fn retry_backoff() -> Backoff {
    Backoff::new(Duration::from_millis(200), Duration::from_secs(10))
}

fn replica_of(instance: &Instance) -> Replica {
    Replica {
        id: instance.id.clone(),
        node: instance.node.clone(),
        address: instance.address.clone(),
        port: instance.port,
        admin: instance.meta.get("admin").cloned(),
    }
}

/// The address a listener on `bound` is reached at: itself, unless it is
/// the unspecified address; then `advertise`, else the local address that
/// routes to the Consul agent at `consul` (what the agent sees us as).
pub fn reachable_ip(bound: IpAddr, advertise: Option<IpAddr>, consul: &str) -> IpAddr {
    if !bound.is_unspecified() {
        return bound;
    }
    advertise.or_else(|| route_to(consul)).unwrap_or(IpAddr::from([127, 0, 0, 1]))
}

fn route_to(consul: &str) -> Option<IpAddr> {
    let url = reqwest::Url::parse(consul).ok()?;
    let target = url.socket_addrs(|| Some(8500)).ok()?.into_iter().next()?;
    let socket = std::net::UdpSocket::bind(("0.0.0.0", 0)).ok()?;
    socket.connect(target).ok()?; // UDP connect sends nothing; it only picks a route.
    Some(socket.local_addr().ok()?.ip())
}

/// What the admin listener needs of the cluster.
#[derive(Clone, Default)]
pub struct Cluster {
    pub replicas: Replicas,
    /// Purges that reach every replica (`None`: this replica is not registered).
    pub purges: Option<Arc<purge::Purges>>,
}

/// Where the cluster's background work reaches Consul and what it serves.
pub struct Membership {
    pub client: Client,
    /// The agent's address, for the route to it.
    pub consul_address: String,
    pub listening: registration::Listening,
    pub cache: Arc<crate::cache::ResponseCache>,
}

impl Cluster {
    /// Registers this replica and follows the others and their purges, when
    /// `settings.register` says so; deregisters once `shutdown` begins.
    pub fn start(
        settings: &ClusterSettings,
        replicas: Replicas,
        membership: Membership,
        shutdown: CancellationToken,
        stop: CancellationToken,
    ) -> Result<Cluster, crate::consul::Error> {
        if !settings.register {
            return Ok(Cluster { replicas, purges: None });
        }
        let Membership { client, consul_address, listening, cache } = membership;
        let purges = Arc::new(purge::Purges::new(client.fresh()?, cache, replicas.clone(), settings));
        tokio::spawn(Arc::clone(&purges).watch(stop.clone()));
        tokio::spawn(replicas.clone().watch(client.fresh()?, settings.service.clone(), stop));
        let registering =
            registration::run(client, settings.clone(), consul_address, listening, replicas.clone(), shutdown);
        tokio::spawn(registering);
        Ok(Cluster { replicas, purges: Some(purges) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(id: &str) -> Instance {
        Instance {
            id: id.to_string(),
            node: "n1".to_string(),
            address: "10.0.0.1".to_string(),
            port: 8080,
            weight: 1,
            meta: [("admin".to_string(), "10.0.0.1:9090".to_string())].into(),
            tags: Vec::new(),
        }
    }

    #[test]
    fn limits_are_divided_only_once_this_replica_is_registered() {
        let replicas = Replicas::default();
        replicas.update(&[instance("portico-n1-8080"), instance("portico-n2-8080")]);
        assert_eq!(replicas.count(), 1, "not registered: it acts alone");
        replicas.set_this("portico-n1-8080".to_string());
        replicas.update(&[instance("portico-n1-8080"), instance("portico-n2-8080")]);
        assert_eq!(replicas.count(), 2);
        let report = replicas.report();
        assert_eq!(report["count"], 2);
        assert_eq!(report["replicas"][0]["self"], true);
        assert_eq!(report["replicas"][1]["admin"], "10.0.0.1:9090");
        replicas.update(&[]);
        assert_eq!(replicas.count(), 1, "never below one");
    }
}
