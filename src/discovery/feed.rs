//! Services past the connection budget, followed by one shared watch.
//!
//! When the agent cannot give every routed service a long poll of its own
//! (HTTP/1.1 past `max_connections`), the rest are followed here: one
//! blocking query on `/v1/health/state/any` says whose checks changed (a check
//! that appeared, went, or changed status, tags or output), and only those
//! services are re-read, without blocking, a few at a time. What checks cannot
//! show (an instance registered without a check, or one whose address or port
//! changed while its checks did not) is caught by re-reading every followed
//! service, at most once per `resync`, and only when the catalog's index
//! moved since the last time.

pub mod diff;

use std::collections::BTreeSet;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::time::Instant;

use super::status::WatchStatus;
use super::watch::{Source, Watch};
use super::{Discovery, Update};
use crate::consul::{CheckRow, Client, Error, Reply};

/// Services re-read at once.
pub const REFETCH_CONCURRENCY: usize = 2;

struct ChecksSource(Client);

impl Source for ChecksSource {
    type Item = Vec<CheckRow>;
    async fn fetch(&mut self, index: u64) -> Result<Reply<Vec<CheckRow>>, Error> {
        self.0.checks(index).await
    }
}

/// Why the loop woke up.
enum Wake {
    Checks(Vec<CheckRow>),
    Followed,
    Resync,
    Retry,
    Closed,
}

/// The feed's state between wake-ups.
struct Feed {
    discovery: Discovery,
    followed: BTreeSet<String>,
    /// Services to re-read.
    dirty: BTreeSet<String>,
    /// No re-read before this (after a failed one).
    paused_until: Option<Instant>,
    backoff: super::backoff::Backoff,
    /// Every check at the last reply; `None` before the first, which is
    /// only a baseline (services are read when first followed anyway).
    rows: Option<Vec<CheckRow>>,
    /// The catalog index at the last full re-read.
    resynced_at: u64,
}

impl Discovery {
    /// Follows the services in `followed` until it closes or the builder is gone.
    pub(super) async fn follow_overflow(
        self,
        mut followed: watch::Receiver<BTreeSet<String>>,
        catalog: Arc<WatchStatus>,
    ) {
        let status = self.statuses.add("checks");
        let source = ChecksSource(self.client.clone());
        let mut checks = Watch::new("checks", source, &self.settings, status);
        let mut resync = tokio::time::interval_at(Instant::now() + self.settings.resync, self.settings.resync);
        resync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let backoff = super::backoff::Backoff::new(self.settings.backoff_base, self.settings.backoff_max);
        let mut feed = Feed {
            discovery: self,
            followed: BTreeSet::new(),
            dirty: BTreeSet::new(),
            paused_until: None,
            backoff,
            rows: None,
            resynced_at: catalog.index(),
        };
        loop {
            feed.take_followed(&followed.borrow_and_update());
            if !feed.refetch_due().await {
                break;
            }
            let retry = feed.paused_until.filter(|_| !feed.dirty.is_empty());
            let wake = tokio::select! {
                rows = checks.next_change() => Wake::Checks(rows),
                changed = followed.changed() => if changed.is_ok() { Wake::Followed } else { Wake::Closed },
                _ = resync.tick() => Wake::Resync,
                _ = sleep_until(retry) => Wake::Retry,
            };
            match wake {
                Wake::Checks(rows) => {
                    if checks.take_reset() && feed.discovery.updates.send(Update::Reset).await.is_err() {
                        break;
                    }
                    feed.checks_changed(rows);
                }
                Wake::Resync => feed.resync_if_catalog_moved(catalog.index()),
                Wake::Followed | Wake::Retry => {}
                Wake::Closed => break,
            }
        }
        feed.discovery.statuses.remove("checks");
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

impl Feed {
    /// Takes the new set of followed services; newcomers are read at once.
    fn take_followed(&mut self, now: &BTreeSet<String>) {
        for service in now.difference(&self.followed) {
            self.dirty.insert(service.clone());
        }
        self.dirty.retain(|s| now.contains(s));
        self.followed.clone_from(now);
    }

    fn checks_changed(&mut self, rows: Vec<CheckRow>) {
        if let Some(before) = &self.rows {
            let changed = diff::changed_services(before, &rows);
            self.dirty.extend(changed.into_iter().filter(|s| self.followed.contains(s)));
        }
        self.rows = Some(rows);
    }

    fn resync_if_catalog_moved(&mut self, catalog_index: u64) {
        if catalog_index != self.resynced_at {
            self.resynced_at = catalog_index;
            self.dirty.extend(self.followed.iter().cloned());
        }
    }

    /// Re-reads the dirty services unless paused; false once the builder is gone.
    async fn refetch_due(&mut self) -> bool {
        if self.dirty.is_empty() || self.paused_until.is_some_and(|until| Instant::now() < until) {
            return true;
        }
        let batch = std::mem::take(&mut self.dirty);
        let (updates, failed) = self.discovery.read_services(batch).await;
        for update in updates {
            if self.discovery.updates.send(update).await.is_err() {
                return false;
            }
        }
        self.paused_until = if failed.is_empty() {
            self.backoff.reset();
            None
        } else {
            Some(Instant::now() + self.backoff.next_delay())
        };
        self.dirty.extend(failed);
        true
    }
}

impl Discovery {
    /// Reads each service once (no blocking), [`REFETCH_CONCURRENCY`] at a time.
    async fn read_services(&self, services: BTreeSet<String>) -> (Vec<Update>, Vec<String>) {
        let mut pending = services.into_iter();
        let mut reads = tokio::task::JoinSet::new();
        let (mut updates, mut failed) = (Vec::new(), Vec::new());
        loop {
            while reads.len() < REFETCH_CONCURRENCY {
                let Some(service) = pending.next() else { break };
                let (client, status) = (self.client.clone(), self.statuses.get_or_add(&format!("service:{service}")));
                reads.spawn(async move {
                    let reply = client.passing(&service, 0).await;
                    match &reply {
                        Ok(reply) => status.ok(reply.index),
                        Err(error) => status.failed(&error.to_string()),
                    }
                    (service, reply)
                });
            }
            let Some(done) = reads.join_next().await else { break };
            match done {
                Ok((service, Ok(reply))) => updates.push(Update::Instances { service, instances: reply.body }),
                Ok((service, Err(error))) => {
                    tracing::warn!(%service, %error, "consul query failed; retrying");
                    failed.push(service);
                }
                Err(error) => tracing::error!(%error, "a service read ended abnormally"),
            }
        }
        (updates, failed)
    }
}

#[cfg(test)]
mod tests;
