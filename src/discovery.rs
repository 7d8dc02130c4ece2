//! Discovery: follows Consul and emits [`Update`]s for the snapshot builder.
//!
//! One blocking watch on `/v1/catalog/services` decides which services are
//! routed (a `portico.route` tag, or a static route); each routed service gets
//! its own blocking watch on `/v1/health/service/<name>?passing`, started when
//! it gains a route and stopped when it loses it, so only changed services are
//! refetched. Every long poll needs a slot within the connection budget
//! ([`lanes`]); services that find none are followed by one shared watch on
//! every check ([`feed`]). All Consul I/O and all waiting happen here, never
//! on the request path.

pub mod backoff;
pub mod feed;
pub mod lanes;
pub mod limiter;
pub mod status;
pub mod watch;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use tokio::sync::{mpsc, watch as signal};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::consul::ConsulSettings;
use crate::consul::{Client, Error, Instance, Reply, Services};
use crate::routing::tags::has_route;
use lanes::{Lanes, Lease};
pub use status::{Budget, Statuses, WatchStatus};
use watch::{Source, Watch};

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

struct CatalogSource(Lease);

impl Source for CatalogSource {
    type Item = Services;
    async fn fetch(&mut self, index: u64) -> Result<Reply<Services>, Error> {
        self.0.client().services(index).await
    }
}

struct HealthSource {
    lease: Lease,
    service: String,
}

impl Source for HealthSource {
    type Item = Vec<Instance>;
    async fn fetch(&mut self, index: u64) -> Result<Reply<Vec<Instance>>, Error> {
        self.lease.client().passing(&self.service, index).await
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

/// The long polls running, and the services left to the shared feed.
struct Watches {
    lanes: Lanes,
    health: HashMap<String, Task>,
    /// Routed services without a long poll of their own.
    overflow: BTreeSet<String>,
    followed: signal::Sender<BTreeSet<String>>,
    feed: Option<Task>,
    catalog: Arc<WatchStatus>,
}

impl Discovery {
    /// Runs the catalog watch and the health watches it needs until `stop`.
    /// `pinned` services (from static routes) are watched even without tags.
    pub async fn run(self, pinned: BTreeSet<String>, stop: CancellationToken) {
        let lanes = Lanes::new(self.client.clone(), self.settings.max_connections);
        let Some(lease) = lanes.lease() else {
            tracing::error!("no connection to consul could be opened for the catalog");
            return;
        };
        let status = self.statuses.add("catalog");
        let mut watches = Watches {
            lanes,
            health: HashMap::new(),
            overflow: BTreeSet::new(),
            followed: signal::channel(BTreeSet::new()).0,
            feed: None,
            catalog: Arc::clone(&status),
        };
        self.reconcile(&mut watches, &pinned);
        let mut catalog = Watch::new("catalog", CatalogSource(lease), &self.settings, status);
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
            for gone in stopped(&mut watches, &wanted) {
                self.statuses.remove(&format!("service:{gone}"));
                if self.updates.send(Update::Removed(gone)).await.is_err() {
                    break 'watching;
                }
            }
            self.reconcile(&mut watches, &wanted);
        }
        watches.feed = None;
        self.statuses.remove("checks");
        self.statuses.remove("catalog");
    }

    /// Starts a health watch for every wanted service that has none and can
    /// get a slot; the rest go to the shared feed.
    fn reconcile(&self, watches: &mut Watches, wanted: &BTreeSet<String>) {
        let mut overflow = BTreeSet::new();
        let unwatched: Vec<&String> = wanted.iter().filter(|s| !watches.health.contains_key(*s)).collect();
        for service in unwatched {
            match watches.lanes.lease() {
                Some(lease) => {
                    let task = tokio::spawn(self.clone().watch_health(service.clone(), lease));
                    watches.health.insert(service.clone(), Task(task));
                }
                None => {
                    overflow.insert(service.clone());
                }
            }
        }
        if !overflow.is_empty() && watches.overflow.is_empty() {
            tracing::warn!(
                services = overflow.len(),
                max_connections = self.settings.max_connections,
                "routed services past the connection budget are followed through /v1/health/state/any, \
                 which reads every check on each change: serve the agent's API over HTTPS (HTTP/2 carries \
                 200 watches per connection) or raise max_connections with the agent's limits.http_max_conns_per_client"
            );
        }
        watches.overflow = overflow;
        self.follow(watches);
        self.statuses.set_budget(Budget {
            transport: self.client.transport(),
            max_connections: self.settings.max_connections,
            connections: watches.lanes.connections(watches.feed.is_some()),
            watched: watches.health.len(),
            followed_by_feed: watches.overflow.len(),
        });
    }

    /// Hands the overflow to the feed, starting it or stopping it as needed.
    fn follow(&self, watches: &mut Watches) {
        watches.followed.send_if_modified(|followed| {
            let changed = *followed != watches.overflow;
            followed.clone_from(&watches.overflow);
            changed
        });
        if watches.overflow.is_empty() {
            if watches.feed.take().is_some() {
                self.statuses.remove("checks");
            }
        } else if watches.feed.is_none() {
            let (followed, catalog) = (watches.followed.subscribe(), Arc::clone(&watches.catalog));
            watches.feed = Some(Task(tokio::spawn(self.clone().follow_overflow(followed, catalog))));
        }
    }

    async fn watch_health(self, service: String, lease: Lease) {
        let name = format!("service:{service}");
        let status = self.statuses.add(&name);
        let source = HealthSource { lease, service: service.clone() };
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

/// Stops (drops) the watches of services no longer wanted, and stops
/// following them through the feed; returns their names.
fn stopped(watches: &mut Watches, wanted: &BTreeSet<String>) -> Vec<String> {
    let watched = watches.health.keys().filter(|s| !wanted.contains(*s));
    let gone: Vec<String> = watched.chain(watches.overflow.iter().filter(|s| !wanted.contains(*s))).cloned().collect();
    for service in &gone {
        watches.health.remove(service);
        watches.overflow.remove(service);
    }
    gone
}
