//! What outlives a snapshot swap, carried from one build to the next: each
//! service's round-robin cursor and its instances' counters and idle
//! connections (keyed by `node/ID`), each route's retry budget. A build
//! moves what it keeps from the previous registry into a new one: a route
//! reused as it was takes its service's whole state in one move, so a change
//! to one service costs work for that service, not for all of them. What is
//! left behind in the old registry is what departed; an instance that left
//! keeps its state alive only as long as its in-flight requests hold it.

use std::collections::HashMap;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use crate::canary::health::CanaryHealth;
use crate::upstream::{Connections, InstanceState, RetryBudget};

/// Keys are ours (Consul names), not an attacker's, and a rebuild at ten
/// thousand services hashes tens of thousands of them: a fast hasher.
type Map<T> = HashMap<String, T, foldhash::fast::RandomState>;

/// An instance's counters and its idle connections.
pub type InstanceEntry = (Arc<InstanceState>, Arc<Connections>);

/// An instance of the previous registry that this one did not take.
#[derive(Debug)]
pub struct Departed {
    pub service: String,
    /// `node/ID`.
    pub key: String,
    pub entry: InstanceEntry,
}

/// One service's carried state.
#[derive(Debug, Default, Clone)]
struct ServiceState {
    cursor: Arc<AtomicUsize>,
    instances: Map<InstanceEntry>,
    /// During a build that rebuilds this service: its previous instances not carried (yet).
    previous: Map<InstanceEntry>,
}

/// The state of every service, instance and route in the current snapshot.
#[derive(Debug, Default, Clone)]
pub struct StateRegistry {
    services: Map<ServiceState>,
    budgets: Map<Arc<RetryBudget>>,
    /// Per route key: the canary's fingerprint and health.
    canaries: Map<(u64, Arc<CanaryHealth>)>,
}

impl StateRegistry {
    /// Takes `service`'s whole state over from `old` (its routes are reused as they were).
    pub fn keep_service(&mut self, old: &mut StateRegistry, service: &str) {
        if !self.services.contains_key(service) {
            if let Some((name, state)) = old.services.remove_entry(service) {
                self.services.insert(name, state);
            }
        }
    }

    /// The counters and idle connections of instance `key` of `service`,
    /// taken from `old` (or new ones).
    pub fn carry_instance(&mut self, old: &mut StateRegistry, service: &str, key: &str) -> InstanceEntry {
        let state = self.service(old, service);
        if let Some(entry) = state.instances.get(key) {
            return entry.clone();
        }
        let entry = state.previous.remove(key).unwrap_or_default();
        state.instances.insert(key.to_string(), entry.clone());
        entry
    }

    /// The round-robin cursor of `service`, taken from `old` (or a new one).
    pub fn carry_cursor(&mut self, old: &mut StateRegistry, service: &str) -> Arc<AtomicUsize> {
        Arc::clone(&self.service(old, service).cursor)
    }

    /// The retry budget of route `prefix`, taken from `old` (or a new one).
    pub fn carry_budget(&mut self, old: &mut StateRegistry, prefix: &str) -> Arc<RetryBudget> {
        if let Some(budget) = self.budgets.get(prefix) {
            return Arc::clone(budget);
        }
        let budget = old.budgets.remove(prefix).unwrap_or_default();
        self.budgets.insert(prefix.to_string(), Arc::clone(&budget));
        budget
    }

    /// The canary health of route `key`, taken from `old` if the canary
    /// instances are the same (same `fingerprint`), else a fresh one.
    pub fn carry_canary(&mut self, old: &mut StateRegistry, key: &str, fingerprint: u64) -> Arc<CanaryHealth> {
        let health = match old.canaries.remove(key) {
            Some((seen, health)) if seen == fingerprint => health,
            _ => Arc::default(),
        };
        self.canaries.insert(key.to_string(), (fingerprint, Arc::clone(&health)));
        health
    }

    /// Keeps route `key`'s canary health as it is, if it has one.
    pub fn keep_canary(&mut self, old: &mut StateRegistry, key: &str) {
        if old.canaries.is_empty() {
            return;
        }
        if let Some(entry) = old.canaries.remove(key) {
            self.canaries.insert(key.to_string(), entry);
        }
    }

    /// Ends a build: the instances of `old` this registry did not take.
    pub fn finish(&mut self, old: StateRegistry) -> Vec<Departed> {
        let mut departed: Vec<Departed> = Vec::new();
        for (service, state) in &mut self.services {
            let left = std::mem::take(&mut state.previous);
            departed.extend(left.into_iter().map(|(key, entry)| Departed { service: service.clone(), key, entry }));
        }
        for (service, state) in old.services {
            let left = state.instances.into_iter().chain(state.previous);
            departed.extend(left.map(|(key, entry)| Departed { service: service.clone(), key, entry }));
        }
        departed
    }

    /// True when instance `key` is tracked.
    pub fn contains(&self, key: &str) -> bool {
        self.services.values().any(|s| s.instances.contains_key(key))
    }

    /// `service`'s state in this registry, moved from `old` on first use.
    fn service(&mut self, old: &mut StateRegistry, service: &str) -> &mut ServiceState {
        self.services.entry(service.to_string()).or_insert_with(|| match old.services.remove(service) {
            Some(before) => ServiceState {
                cursor: before.cursor,
                instances: Map::default(),
                previous: before.instances.into_iter().chain(before.previous).collect(),
            },
            None => ServiceState::default(),
        })
    }

    /// Number of instances tracked.
    #[cfg(test)]
    pub(crate) fn instances(&self) -> usize {
        self.services.values().map(|s| s.instances.len()).sum()
    }
}

#[cfg(test)]
mod tests;
