//! What outlives a snapshot swap, carried from one build to the next: each
//! instance's counters and idle connections (keyed by `node/ID`), each
//! service's round-robin cursor, each route's retry budget. Each build starts
//! a fresh registry and carries over the entries still in use; an instance
//! that left keeps its state alive only as long as its in-flight requests
//! hold it.

use std::collections::HashMap;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use crate::upstream::{Idle, InstanceState, RetryBudget};

/// The state of every instance, service and route in the current snapshot.
#[derive(Debug, Default)]
pub struct StateRegistry {
    instances: HashMap<String, Arc<InstanceState>>,
    connections: HashMap<String, Arc<Idle>>,
    cursors: HashMap<String, Arc<AtomicUsize>>,
    budgets: HashMap<String, Arc<RetryBudget>>,
}

impl StateRegistry {
    /// The counters of instance `key` from this registry (or new ones), recorded in `next`.
    pub fn carry_instance(&self, next: &mut StateRegistry, key: &str) -> Arc<InstanceState> {
        carry(&self.instances, &mut next.instances, key)
    }

    /// The idle connections of instance `key` from this registry (or none yet), recorded in `next`.
    pub fn carry_connections(&self, next: &mut StateRegistry, key: &str) -> Arc<Idle> {
        carry(&self.connections, &mut next.connections, key)
    }

    /// The round-robin cursor of `service` from this registry (or a new one), recorded in `next`.
    pub fn carry_cursor(&self, next: &mut StateRegistry, service: &str) -> Arc<AtomicUsize> {
        carry(&self.cursors, &mut next.cursors, service)
    }

    /// The retry budget of route `prefix` from this registry (or a new one), recorded in `next`.
    pub fn carry_budget(&self, next: &mut StateRegistry, prefix: &str) -> Arc<RetryBudget> {
        carry(&self.budgets, &mut next.budgets, prefix)
    }

    /// Instances tracked here but not in `next`: key, counters, idle connections.
    pub fn departed<'a>(
        &'a self,
        next: &'a StateRegistry,
    ) -> impl Iterator<Item = (&'a str, &'a Arc<InstanceState>, Arc<Idle>)> {
        self.instances
            .iter()
            .filter(|(key, _)| !next.instances.contains_key(*key))
            .map(|(key, s)| (key.as_str(), s, self.connections.get(key).cloned().unwrap_or_default()))
    }

    /// True when instance `key` is tracked.
    pub fn contains(&self, key: &str) -> bool {
        self.instances.contains_key(key)
    }

    /// Number of instances tracked.
    #[cfg(test)]
    pub(crate) fn instances(&self) -> usize {
        self.instances.len()
    }
}

fn carry<T: Default>(old: &HashMap<String, Arc<T>>, next: &mut HashMap<String, Arc<T>>, key: &str) -> Arc<T> {
    if let Some(found) = next.get(key) {
        return Arc::clone(found);
    }
    let value = old.get(key).cloned().unwrap_or_default();
    next.insert(key.to_string(), Arc::clone(&value));
    value
}

#[cfg(test)]
mod tests;
