//! Discovery: follows Consul and emits [`Update`]s for the snapshot builder.
//!
//! One blocking watch on `/v1/catalog/services` decides which services are
//! routed (a `portico.route` tag, or a static route); each routed service gets
//! its own blocking watch on `/v1/health/service/<name>?passing`, started when
//! it gains a route and stopped when it loses it, so only changed services are
//! refetched. All Consul I/O and all waiting happen here, never on the request
//! path.

pub mod backoff;
pub mod limiter;
pub mod status;
pub mod watch;

use std::collections::{BTreeSet, HashMap};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::consul::ConsulSettings;
use crate::consul::{Client, Error, Instance, Reply, Services};
use crate::routing::tags::has_route;
pub use status::Statuses;
use watch::{Source, Watch};

/// Routed services past which Consul's default per-client connection limit (200) is near.
const CONNECTIONS_WARNING: usize = 180;

/// A change in what Consul says.
#[derive(Debug, Clone, PartialEq)]
pub enum Update {
    /// The catalog's services and their tags.
    Catalog(Services),
    /// The passing instances of one routed service.
    Instances { service: String, instances: Vec<Instance> },
    /// A service is no longer routed; forget its instances.
    Removed(String),
    /// Consul's state was reset (its index went backwards): what follows may
    /// describe a catalog that is still filling up.
    Reset,
}

struct CatalogSource(Client);

impl Source for CatalogSource {
    type Item = Services;
    async fn fetch(&mut self, index: u64) -> Result<Reply<Services>, Error> {
        self.0.services(index).await
    }
}

struct HealthSource {
    client: Client,
    service: String,
}

impl Source for HealthSource {
    type Item = Vec<Instance>;
    async fn fetch(&mut self, index: u64) -> Result<Reply<Vec<Instance>>, Error> {
        self.client.passing(&self.service, index).await
    }
}

/// Everything the discovery tasks share.
#[derive(Clone)]
pub struct Discovery {
    pub client: Client,
    pub settings: ConsulSettings,
    pub updates: mpsc::Sender<Update>,
    pub statuses: Statuses,
}

/// A task that is aborted when its handle is dropped.
struct Task(JoinHandle<()>);

impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Discovery {
    /// Runs the catalog watch and the health watches it needs until `stop`.
    /// `pinned` services (from static routes) are watched even without tags.
    pub async fn run(self, pinned: BTreeSet<String>, stop: CancellationToken) {
        let mut health: HashMap<String, Task> = HashMap::new();
        self.reconcile(&mut health, &pinned);
        let status = self.statuses.add("catalog");
        let mut catalog = Watch::new("catalog", CatalogSource(self.client.clone()), &self.settings, status);
        // Every exit leaves the whole loop: a stop, or a builder that is gone.
        'watching: loop {
            let services = tokio::select! {
                s = catalog.next_change() => s,
                _ = stop.cancelled() => break 'watching,
            };
            let mut wanted: BTreeSet<String> =
                services.iter().filter(|(_, tags)| has_route(tags)).map(|(n, _)| n.clone()).collect();
            wanted.extend(pinned.iter().cloned());
            if catalog.take_reset() && self.updates.send(Update::Reset).await.is_err() {
                break 'watching;
            }
            if self.updates.send(Update::Catalog(services)).await.is_err() {
                break 'watching;
            }
            self.reconcile(&mut health, &wanted);
            for gone in stopped(&mut health, &wanted) {
                self.statuses.remove(&format!("service:{gone}"));
                if self.updates.send(Update::Removed(gone)).await.is_err() {
                    break 'watching;
                }
            }
        }
        self.statuses.remove("catalog");
    }

    /// Starts a health watch for every wanted service that has none.
    fn reconcile(&self, health: &mut HashMap<String, Task>, wanted: &BTreeSet<String>) {
        if wanted.len() > CONNECTIONS_WARNING && health.len() <= CONNECTIONS_WARNING {
            tracing::warn!(
                services = wanted.len(),
                "each routed service holds one long-poll connection to Consul; the agent allows 200 per client \
                 address by default: raise limits.http_max_conns_per_client on the agent"
            );
        }
        for service in wanted {
            if !health.contains_key(service) {
                let task = tokio::spawn(self.clone().watch_health(service.clone()));
                health.insert(service.clone(), Task(task));
            }
        }
    }

    async fn watch_health(self, service: String) {
        let name = format!("service:{service}");
        let status = self.statuses.add(&name);
        let source = HealthSource { client: self.client.clone(), service: service.clone() };
        let mut watch = Watch::new(&name, source, &self.settings, status);
        loop {
            let instances = watch.next_change().await;
            // Whichever watch reconnects first after a reset must say so,
            // before its (possibly still empty) answer is applied.
            if watch.take_reset() && self.updates.send(Update::Reset).await.is_err() {
                return;
            }
            let update = Update::Instances { service: service.clone(), instances };
            if self.updates.send(update).await.is_err() {
                return;
            }
        }
    }
}

/// Stops (drops) the watches of services no longer wanted; returns their names.
fn stopped(health: &mut HashMap<String, Task>, wanted: &BTreeSet<String>) -> Vec<String> {
    let gone: Vec<String> = health.keys().filter(|s| !wanted.contains(*s)).cloned().collect();
    for service in &gone {
        health.remove(service);
    }
    gone
}
