//! The task that owns the [`View`] and publishes snapshots.
//!
//! Flap damping: an update after a quiet spell is published at once, but
//! builds are spaced at least `coalesce` apart, and every update that arrives
//! meanwhile is folded into the next one. A check flapping hundreds of times a
//! second therefore costs at most one build per `coalesce`.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::build::{build_reusing, View};
use super::registry::{Departed, StateRegistry};
use super::reuse::Reuse;
use super::{Draining, Shared};
use crate::consul::{instance_key, split_instance_key};
use crate::discovery::Update;
use crate::metrics::Metrics;
use crate::routing::StaticRoute;

/// Owns the discovered view and the per-instance state registry.
pub struct Builder {
    view: View,
    statics: Vec<StaticRoute>,
    registry: StateRegistry,
    generation: u64,
    shared: Shared,
    coalesce: Duration,
    metrics: Arc<Metrics>,
}

impl Builder {
    /// Publishes generation 1 (static routes, no instances yet) right away.
    pub fn new(statics: Vec<StaticRoute>, shared: Shared, coalesce: Duration, metrics: Arc<Metrics>) -> Builder {
        Builder::holding(statics, shared, coalesce, metrics, Duration::ZERO)
    }

    /// Like [`Builder::new`], riding out Consul resets for `reset_grace`.
    pub fn holding(
        statics: Vec<StaticRoute>,
        shared: Shared,
        coalesce: Duration,
        metrics: Arc<Metrics>,
        reset_grace: Duration,
    ) -> Builder {
        let mut builder = Builder {
            view: View::new(reset_grace),
            statics,
            registry: StateRegistry::default(),
            generation: 0,
            shared,
            coalesce,
            metrics,
        };
        builder.publish();
        builder
    }

    /// Applies updates until the channel closes.
    pub async fn run(mut self, mut updates: mpsc::Receiver<Update>) {
        let mut last_build: Option<Instant> = None;
        loop {
            let update = match self.view.held_until() {
                Some(until) => tokio::select! {
                    update = updates.recv() => update,
                    _ = tokio::time::sleep_until(until) => {
                        if self.view.release_expired() {
                            self.publish();
                        }
                        continue;
                    }
                },
                None => updates.recv().await,
            };
            let Some(update) = update else { return };
            let received = Instant::now();
            let mut changed = self.view.apply(update);
            if let Some(last) = last_build {
                tokio::time::sleep_until(last + self.coalesce).await;
            }
            while let Ok(more) = updates.try_recv() {
                changed |= self.view.apply(more);
            }
            if changed {
                self.publish();
                last_build = Some(Instant::now());
                self.metrics.observe_propagation(received.elapsed().as_secs_f64());
            }
        }
    }

    fn publish(&mut self) {
        self.generation += 1;
        let dirty = self.view.take_dirty();
        let view = self.view.effective();
        let previous = self.shared.load();
        let reuse = match dirty {
            Some(dirty) => Reuse::from(&previous, dirty),
            None => Reuse::default(),
        };
        let old = std::mem::take(&mut self.registry);
        let built = build_reusing(&view, &self.statics, old, self.generation, &self.metrics, &reuse);
        let (mut snapshot, registry) = (built.snapshot, built.registry);
        snapshot.draining = self.still_draining(&registry, built.departed);
        let table = &snapshot.table;
        let serves = |key: &str, node: &str, id: &str| {
            table.get(key).is_some_and(|r| r.upstream.endpoints.iter().any(|e| *e.node == *node && *e.id == *id))
        };
        self.metrics.retain(|key| table.get(key).is_some(), serves);
        self.registry = registry;
        tracing::debug!(generation = self.generation, routes = snapshot.table.len(), "snapshot published");
        self.shared.store(Arc::new(snapshot));
    }
}

impl Builder {
    /// Instances that left (now or earlier) and still have requests in flight.
    fn still_draining(&self, next: &StateRegistry, departed: Vec<Departed>) -> Vec<Draining> {
        let previous = self.shared.load();
        let earlier = previous.draining.iter().map(|d| (instance_key(&d.node, &d.id), d.clone()));
        let now = departed.into_iter().map(|d| {
            let (node, id) = split_instance_key(&d.key);
            let (state, connections) = d.entry;
            let draining =
                Draining { id: id.to_string(), node: node.to_string(), service: d.service, state, connections };
            (d.key, draining)
        });
        let mut draining: Vec<Draining> = earlier
            .chain(now)
            .filter(|(key, d)| d.state.in_flight() > 0 && !next.contains(key))
            .map(|(_, d)| d)
            .collect();
        draining.sort_by(|a, b| (&a.id, &a.node).cmp(&(&b.id, &b.node)));
        draining.dedup_by(|a, b| a.id == b.id && a.node == b.node);
        draining
    }
}

#[cfg(test)]
mod tests;
