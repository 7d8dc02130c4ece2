//! What discovery has reported so far, and how a Consul reset is ridden out.
//!
//! When Consul's state is reset (an agent restarted empty, a snapshot
//! restored: its index goes backwards), its first answers describe a world
//! that is still filling up: services re-register, checks start critical.
//! Taking that at its word would empty routes that are serving fine. For a
//! grace period after a reset, the view therefore keeps what it knew before:
//! a service missing from the new catalog keeps its routes, and a service
//! whose new passing set is empty keeps its previous instances. Anything
//! Consul does report wins at once (a new instance takes traffic), and when
//! the grace period ends the view is exactly what Consul says.

use std::borrow::Cow;
use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

use super::reuse::Dirty;
use crate::consul::{Instance, Services};
use crate::discovery::Update;
use crate::routing::tags::{parse_tags, Declarations, TAG_PREFIX};

/// The discovered state routing is built from.
#[derive(Debug, Default, Clone)]
pub struct View {
    /// The catalog, once read (only services with `portico.*` tags).
    pub catalog: Option<Services>,
    /// When the catalog was first read.
    pub catalog_at: Option<Instant>,
    /// Passing instances per watched service.
    pub instances: HashMap<String, Vec<Instance>>,
    /// How long to hold the previous state after a reset (zero: never).
    grace: Duration,
    /// The state from before the last reset, while its grace period lasts.
    held: Option<Held>,
    /// Services changed since [`View::take_dirty`] was last called; `None`:
    /// anything may have changed.
    dirty: Option<Dirty>,
    /// Each service's tags as last parsed, so a build parses only the
    /// services whose tags changed (a check by tag equality, so a view built
    /// by hand is simply parsed in full).
    declared: HashMap<String, (Vec<String>, Declarations), foldhash::fast::RandomState>,
}

#[derive(Debug, Clone)]
struct Held {
    until: Instant,
    catalog: Services,
    instances: HashMap<String, Vec<Instance>>,
}

impl View {
    /// Routed services whose health has not been read yet.
    pub fn pending(&self) -> usize {
        self.catalog.as_ref().map_or(0, |c| c.keys().filter(|s| !self.instances.contains_key(*s)).count())
    }

    /// An empty view that holds its state for `grace` after a Consul reset.
    pub fn new(grace: Duration) -> View {
        View { grace, ..View::default() }
    }

    /// Applies one update; false when it changes nothing routing depends on
    /// (say, a service without `portico.*` tags came or went).
    pub fn apply(&mut self, update: Update) -> bool {
        match update {
            Update::Catalog(services) => {
                let relevant: Services = services.into_iter().filter(|(_, tags)| declares_anything(tags)).collect();
                self.parse_changed(&relevant);
                let changed = self.catalog.as_ref() != Some(&relevant);
                self.catalog_at.get_or_insert_with(Instant::now);
                let before = self.catalog.replace(relevant).unwrap_or_default();
                let now = self.catalog.as_ref().map(|c| changed_tags(&before, c));
                self.mark(now.unwrap_or_default());
                changed
            }
            Update::Instances { service, instances } => {
                let changed = self.instances.get(&service) != Some(&instances);
                if changed {
                    self.mark([service.clone()]);
                    self.instances.insert(service, instances);
                }
                changed
            }
            Update::Removed(service) => {
                self.mark([service.clone()]);
                self.instances.remove(&service).is_some()
            }
            Update::Reset => {
                self.hold();
                self.dirty = None;
                false
            }
        }
    }

    /// Parses the tags of the services whose tags changed; forgets the rest that left.
    fn parse_changed(&mut self, catalog: &Services) {
        self.declared.retain(|name, _| catalog.contains_key(name));
        for (name, tags) in catalog {
            match self.declared.get(name) {
                Some((seen, _)) if seen == tags => {}
                _ => drop(self.declared.insert(name.clone(), (tags.clone(), parse_tags(tags)))),
            }
        }
    }

    /// What `service`'s `tags` declare, if they were parsed already.
    pub fn declarations(&self, service: &str, tags: &[String]) -> Option<&Declarations> {
        self.declared.get(service).filter(|(seen, _)| seen == tags).map(|(_, declared)| declared)
    }

    fn hold(&mut self) {
        if self.grace.is_zero() || self.catalog.is_none() {
            return;
        }
        let until = Instant::now() + self.grace;
        let effective = self.effective().into_owned();
        tracing::warn!(grace = ?self.grace, "consul state was reset; holding the previous routes while it refills");
        self.held =
            Some(Held { until, catalog: effective.catalog.unwrap_or_default(), instances: effective.instances });
    }

    /// The services changed since the last call (`None`: assume all), and
    /// starts recording afresh.
    pub fn take_dirty(&mut self) -> Option<Dirty> {
        self.dirty.replace(Dirty::default())
    }

    fn mark(&mut self, services: impl IntoIterator<Item = String>) {
        if let Some(dirty) = &mut self.dirty {
            dirty.extend(services);
        }
    }

    /// When the current hold ends, if one is active.
    pub fn held_until(&self) -> Option<Instant> {
        self.held.as_ref().map(|h| h.until)
    }

    /// Ends an expired hold; true when that changes the view.
    pub fn release_expired(&mut self) -> bool {
        match &self.held {
            Some(h) if h.until <= Instant::now() => {
                self.held = None;
                self.dirty = None;
                true
            }
            _ => false,
        }
    }

    /// What routing should use: Consul's word, filled in from before a reset
    /// while the hold lasts.
    pub fn effective(&self) -> Cow<'_, View> {
        let Some(held) = &self.held else { return Cow::Borrowed(self) };
        let mut catalog = held.catalog.clone();
        catalog.extend(self.catalog.clone().unwrap_or_default());
        let mut instances = held.instances.clone();
        for (service, now) in &self.instances {
            if !now.is_empty() {
                instances.insert(service.clone(), now.clone());
            }
        }
        let declared = self.declared.clone();
        Cow::Owned(View {
            catalog: Some(catalog),
            catalog_at: self.catalog_at,
            instances,
            grace: self.grace,
            held: None,
            dirty: None,
            declared,
        })
    }
}

/// Services whose tags differ between two catalogs (added, removed or changed).
fn changed_tags(before: &Services, now: &Services) -> Vec<String> {
    let gone = before.iter().filter(|(name, tags)| now.get(*name) != Some(*tags));
    let came = now.iter().filter(|(name, _)| !before.contains_key(*name));
    gone.chain(came).map(|(name, _)| name.clone()).collect()
}

fn declares_anything(tags: &[String]) -> bool {
    tags.iter().any(|t| t.starts_with(TAG_PREFIX))
}

#[cfg(test)]
mod tests;
