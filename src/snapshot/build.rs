//! Turning what discovery saw plus the static routes into a [`Snapshot`].
//!
//! A pure function of its inputs (and the state registry it carries forward),
//! so every routing rule is unit-tested without Consul or sockets.
//!
//! Conflicts are resolved deterministically: a static route beats a tag, and
//! between tags the service whose name sorts first wins. The loser is reported
//! as a rejection, never silently dropped.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use http::uri::Authority;

use super::registry::{InstanceEntry, StateRegistry};
use super::reuse::Reuse;
pub use super::view::View;
use super::{Endpoint, Origin, Rejection, Route, Snapshot, Upstream};
use crate::balance::{Balancer, Policy};
use crate::consul::Instance;
use crate::metrics::Metrics;
use crate::routing::options::RouteOptions;
use crate::routing::tags::parse_tags;
use crate::routing::StaticRoute;

struct Claim<'a> {
    prefix: &'a str,
    service: &'a str,
    origin: Origin,
    options: RouteOptions,
}

/// Builds snapshot `generation`; returns it with the registry to carry next time.
pub fn build(
    view: &View,
    statics: &[StaticRoute],
    old: &StateRegistry,
    generation: u64,
    metrics: &Metrics,
) -> (Snapshot, StateRegistry) {
    let built = build_reusing(view, statics, old.clone(), generation, metrics, &Reuse::default());
    (built.snapshot, built.registry)
}

/// A snapshot, the registry to carry next time, and the instances that left.
pub struct Built {
    pub snapshot: Snapshot,
    pub registry: StateRegistry,
    /// Instances of the previous registry (`node/ID` key, state) no longer in this one.
    pub departed: Vec<(String, InstanceEntry)>,
}

/// Like [`build`], taking unchanged routes whole from the previous snapshot,
/// and the state it keeps from `old` (what is left there departed).
pub fn build_reusing(
    view: &View,
    statics: &[StaticRoute],
    mut old: StateRegistry,
    generation: u64,
    metrics: &Metrics,
    reuse: &Reuse,
) -> Built {
    let old = &mut old;
    let mut rejected = Vec::new();
    let parsed: BTreeMap<&str, _> =
        view.catalog.iter().flatten().map(|(name, tags)| (name.as_str(), parse_tags(tags))).collect();
    let mut claims: Vec<Claim> = statics
        .iter()
        .map(|r| Claim { prefix: &r.prefix, service: &r.service, origin: Origin::Config, options: r.options })
        .collect();
    for (service, declared) in &parsed {
        for (tag, reason) in &declared.rejected {
            rejected.push(rejection(service, tag, reason));
        }
        claims.extend(declared.prefixes.iter().map(|p| Claim {
            prefix: p,
            service,
            origin: Origin::Tag,
            options: declared.options,
        }));
    }
    claims.sort_by(|a, b| (a.prefix, a.origin, a.service).cmp(&(b.prefix, b.origin, b.service)));

    let mut next = StateRegistry::default();
    let mut upstreams: HashMap<(&str, Policy), Arc<Upstream>> = HashMap::new();
    let mut entries: Vec<(String, Arc<Route>)> = Vec::new();
    for group in claims.chunk_by(|a, b| a.prefix == b.prefix) {
        let winner = &group[0];
        for loser in group[1..].iter().filter(|c| c.service != winner.service) {
            rejected.push(conflict(loser, winner));
        }
        let declared = (winner.prefix, winner.service, winner.origin, winner.options);
        if let Some(route) = reuse.route(declared, old, &mut next) {
            entries.push((winner.prefix.to_string(), route));
            continue;
        }
        let upstream = upstreams
            .entry((winner.service, winner.options.policy))
            .or_insert_with(|| {
                let instances = view.instances.get(winner.service).map_or(&[][..], Vec::as_slice);
                upstream(winner.service, winner.options.policy, instances, old, &mut next, &mut rejected)
            })
            .clone();
        let ids: Vec<(&str, &str)> = upstream.endpoints.iter().map(|e| (&*e.node, &*e.id)).collect();
        let route = Route {
            prefix: winner.prefix.into(),
            service: winner.service.into(),
            origin: winner.origin,
            options: winner.options,
            metrics: metrics
                .route(winner.prefix, &ids)
                .with_edge(winner.options.has_policies().then(|| metrics.edge(winner.prefix))),
            upstream,
            retry_budget: next.carry_budget(old, winner.prefix),
        };
        entries.push((winner.prefix.to_string(), Arc::new(route)));
    }
    let snapshot = Snapshot {
        generation,
        table: entries.into_iter().collect(),
        rejected,
        synced: view.catalog.is_some(),
        draining: Vec::new(),
    };
    let old = std::mem::take(old);
    let departed = next.finish(old);
    Built { snapshot, registry: next, departed }
}

fn upstream(
    service: &str,
    policy: Policy,
    instances: &[Instance],
    old: &mut StateRegistry,
    next: &mut StateRegistry,
    rejected: &mut Vec<Rejection>,
) -> Arc<Upstream> {
    let mut endpoints = Vec::with_capacity(instances.len());
    for instance in instances {
        match instance.authority().parse::<Authority>() {
            Ok(authority) => {
                let (state, connections) = next.carry_instance(old, service, &instance.key());
                endpoints.push(Endpoint {
                    id: instance.id.as_str().into(),
                    node: instance.node.as_str().into(),
                    authority,
                    weight: instance.weight,
                    state,
                    connections,
                })
            }
            Err(_) => rejected.push(rejection(
                service,
                &format!("instance {} on node {}", instance.id, instance.node),
                &format!("address {:?} is not a valid host:port", instance.authority()),
            )),
        }
    }
    let weights: Vec<u32> = endpoints.iter().map(|e| e.weight).collect();
    let balancer = Balancer::new(policy, &weights, next.carry_cursor(old, service));
    Arc::new(Upstream { endpoints: endpoints.into_boxed_slice(), balancer })
}

fn rejection(source: &str, declaration: &str, reason: &str) -> Rejection {
    Rejection { source: source.to_string(), declaration: declaration.to_string(), reason: reason.to_string() }
}

fn conflict(loser: &Claim, winner: &Claim) -> Rejection {
    let declaration = match loser.origin {
        Origin::Tag => format!("portico.route={}", loser.prefix),
        Origin::Config => format!("route {}={}", loser.prefix, loser.service),
    };
    let source = match loser.origin {
        Origin::Tag => loser.service.to_string(),
        Origin::Config => "config".to_string(),
    };
    let by = match winner.origin {
        Origin::Tag => "a tag",
        Origin::Config => "config",
    };
    let reason = format!("prefix {} is already routed to {} by {by}", winner.prefix, winner.service);
    Rejection { source, declaration, reason }
}

#[cfg(test)]
mod tests;
