//! Routes carried over whole from the previous snapshot.
//!
//! With ten thousand routed services, rebuilding every route for one
//! service's change costs tens of milliseconds; a change touches one
//! service. The view records which services changed since the last build
//! ([`super::view::View::take_dirty`]); every other route whose declaration is
//! unchanged is taken from the previous snapshot as it is (the same
//! `Arc<Route>`, with its instances' state, balancer and metric handles),
//! and its service's carried state moves to the new registry in one piece.

use std::collections::HashSet;
use std::sync::Arc;

use super::registry::StateRegistry;
use super::{Origin, Route, Snapshot};
use crate::routing::options::RouteOptions;

/// What the next build may take from the previous snapshot.
#[derive(Default)]
pub struct Reuse<'a> {
    /// The previous snapshot (none: nothing to reuse).
    previous: Option<&'a Snapshot>,
    /// Services changed since the previous snapshot.
    dirty: Dirty,
    /// Services that had a declaration refused: rebuilt, so the refusal is reported again.
    refused: HashSet<&'a str, foldhash::fast::RandomState>,
}

/// A set of service names, hashed fast (they are ours, not a client's).
pub type Dirty = HashSet<String, foldhash::fast::RandomState>;

impl<'a> Reuse<'a> {
    /// Routes of `previous` whose service is not in `dirty` may be reused.
    pub fn from(previous: &'a Snapshot, dirty: Dirty) -> Reuse<'a> {
        Reuse {
            previous: Some(previous),
            dirty,
            refused: previous.rejected.iter().map(|r| r.source.as_str()).collect(),
        }
    }

    /// The previous route for this declaration if nothing it depends on
    /// changed, its state recorded in `next`.
    pub fn route(
        &self,
        declared: (&str, &str, Origin, &RouteOptions),
        old: &mut StateRegistry,
        next: &mut StateRegistry,
    ) -> Option<Arc<Route>> {
        let (key, service, origin, options) = declared;
        if self.dirty.contains(service) || self.refused.contains(service) {
            return None;
        }
        let route = self.previous?.table.get(key)?;
        if &*route.service != service || route.origin != origin || route.options != *options {
            return None;
        }
        next.keep_service(old, service);
        next.carry_budget(old, key);
        next.keep_canary(old, key);
        Some(Arc::clone(route))
    }
}

#[cfg(test)]
mod tests;
