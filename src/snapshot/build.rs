//! Turning what discovery saw plus the static routes into a [`Snapshot`].
//!
//! A pure function of its inputs (and the state registry it carries forward),
//! so every routing rule is unit-tested without Consul or sockets.
//!
//! Conflicts are resolved deterministically: a static route beats a tag, and
//! between tags the service whose name sorts first wins. The loser is reported
//! as a rejection, never silently dropped.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use http::uri::Authority;

use super::registry::{Departed, StateRegistry};
use super::reuse::Reuse;
pub use super::view::View;
use super::{Canary, Endpoint, Origin, Rejection, Route, Snapshot, Upstream};
use crate::balance::ring::{stable_hash, Ring};
use crate::balance::{Balancer, Policy};
use crate::consul::{instance_key, Instance};
use crate::metrics::Metrics;
use crate::routing::host::HostPattern;
use crate::routing::options::RouteOptions;
use crate::routing::route_table::{Placed, RouteTable};
use crate::routing::tags::{parse_tags, Declarations};
use crate::routing::{route_key, StaticRoute};

struct Claim<'a> {
    host: &'a HostPattern,
    prefix: &'a str,
    /// The route's key: borrowed from the prefix when there is no host or matcher.
    key: Cow<'a, str>,
    service: &'a str,
    origin: Origin,
    options: &'a RouteOptions,
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
    pub departed: Vec<Departed>,
}

/// Upstreams already built in this pass, per service, policy and canary tag.
type Upstreams<'a> = HashMap<(&'a str, Policy, Option<&'a str>), Arc<Upstream>>;

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
    // Parsed when the catalog changed (View::apply); parsed here only for a view built by hand.
    let parsed: Vec<(&str, Cow<Declarations>)> = view
        .catalog
        .iter()
        .flatten()
        .map(|(name, tags)| {
            let declared = view.declarations(name, tags).map_or_else(|| Cow::Owned(parse_tags(tags)), Cow::Borrowed);
            (name.as_str(), declared)
        })
        .collect();
    let mut claims: Vec<Claim> =
        statics.iter().map(|r| claim(&r.host, &r.prefix, &r.service, Origin::Config, &r.options)).collect();
    for (service, declared) in &parsed {
        for (tag, reason) in &declared.rejected {
            rejected.push(rejection(service, tag, reason));
        }
        claims.extend(
            declared.routes.iter().map(|(host, prefix)| claim(host, prefix, service, Origin::Tag, &declared.options)),
        );
    }
    claims.sort_by(|a, b| (&a.key, a.origin, a.service).cmp(&(&b.key, b.origin, b.service)));

    let mut next = StateRegistry::default();
    let mut upstreams = Upstreams::new();
    let mut placed: Vec<Placed<Arc<Route>>> = Vec::with_capacity(claims.len());
    for group in claims.chunk_by(|a, b| a.key == b.key) {
        let winner = &group[0];
        for loser in group[1..].iter().filter(|c| c.service != winner.service) {
            rejected.push(conflict(loser, winner));
        }
        let route = match reuse.route((&winner.key, winner.service, winner.origin, winner.options), old, &mut next) {
            Some(route) => route,
            None => Arc::new(new_route(winner, view, &mut upstreams, old, &mut next, &mut rejected, metrics)),
        };
        placed.push(Placed {
            host: winner.host.clone(),
            prefix: winner.prefix.to_string(),
            key: Arc::clone(&route.key),
            matchers: winner.options.matchers.count(),
            value: route,
        });
    }
    let snapshot = Snapshot {
        generation,
        table: RouteTable::new(placed),
        rejected,
        synced: view.catalog.is_some(),
        pending: view.pending(),
        catalog_at: view.catalog_at,
        draining: Vec::new(),
    };
    let old = std::mem::take(old);
    let departed = next.finish(old);
    Built { snapshot, registry: next, departed }
}

fn claim<'a>(
    host: &'a HostPattern,
    prefix: &'a str,
    service: &'a str,
    origin: Origin,
    options: &'a RouteOptions,
) -> Claim<'a> {
    let key = match (host, options.matchers.is_empty()) {
        (HostPattern::Any, true) => Cow::Borrowed(prefix),
        _ => Cow::Owned(route_key(host, prefix, options)),
    };
    Claim { host, prefix, key, service, origin, options }
}

fn new_route<'a>(
    winner: &Claim<'a>,
    view: &View,
    upstreams: &mut Upstreams<'a>,
    old: &mut StateRegistry,
    next: &mut StateRegistry,
    rejected: &mut Vec<Rejection>,
    metrics: &Metrics,
) -> Route {
    let options = winner.options;
    let upstream = upstreams
        .entry((winner.service, options.policy, options.canary().tag.as_deref()))
        .or_insert_with(|| {
            let instances = view.instances.get(winner.service).map_or(&[][..], Vec::as_slice);
            upstream(winner.service, options, instances, old, next, rejected)
        })
        .clone();
    let ids: Vec<(&str, &str)> = upstream.endpoints.iter().map(|e| (&*e.node, &*e.id)).collect();
    let canary = match upstream.canaries() > 0 {
        true => Some(Canary {
            share: options.canary().share.unwrap_or_default(),
            health: next.carry_canary(old, &winner.key, upstream.canary_fingerprint),
        }),
        // An abort outlives the canary's absence: the same canary coming back is still out.
        false => {
            next.keep_canary(old, &winner.key);
            None
        }
    };
    Route {
        key: Arc::from(&*winner.key),
        host: winner.host.clone(),
        prefix: winner.prefix.into(),
        service: winner.service.into(),
        origin: winner.origin,
        options: options.clone(),
        metrics: metrics.route(&winner.key, &ids).with_edge(options.has_policies().then(|| metrics.edge(&winner.key))),
        upstream,
        retry_budget: next.carry_budget(old, &winner.key),
        canary,
    }
}

fn upstream(
    service: &str,
    options: &RouteOptions,
    instances: &[Instance],
    old: &mut StateRegistry,
    next: &mut StateRegistry,
    rejected: &mut Vec<Rejection>,
) -> Arc<Upstream> {
    let (stable, canary): (Vec<&Instance>, Vec<&Instance>) =
        instances.iter().partition(|i| !options.canary().is_canary(&i.tags));
    let mut endpoints = Vec::with_capacity(instances.len());
    let mut canary_from = 0;
    for (side, group) in [&stable, &canary].into_iter().enumerate() {
        if side == 1 {
            canary_from = endpoints.len();
        }
        for instance in group {
            match endpoint(instance, service, old, next) {
                Ok(endpoint) => endpoints.push(endpoint),
                Err(refused) => rejected.push(refused),
            }
        }
    }
    let weights: Vec<u32> = endpoints.iter().map(|e| e.weight).collect();
    let policy = options.policy;
    let balancer = Balancer::new(policy, &weights[..canary_from], next.carry_cursor(old, service));
    let canary_balancer = Balancer::new(policy, &weights[canary_from..], Arc::default());
    let ring = (policy == Policy::Hash).then(|| {
        let keys: Vec<String> = endpoints.iter().map(|e| instance_key(&e.node, &e.id)).collect();
        Ring::new(keys.iter().map(String::as_str).zip(weights.iter().copied()))
    });
    let canary_fingerprint = fingerprint(&canary);
    Arc::new(Upstream {
        endpoints: endpoints.into_boxed_slice(),
        balancer,
        canary_from,
        canary_balancer,
        ring,
        canary_fingerprint,
    })
}

fn endpoint(
    instance: &Instance,
    service: &str,
    old: &mut StateRegistry,
    next: &mut StateRegistry,
) -> Result<Endpoint, Rejection> {
    let Ok(authority) = instance.authority().parse::<Authority>() else {
        return Err(rejection(
            service,
            &format!("instance {} on node {}", instance.id, instance.node),
            &format!("address {:?} is not a valid host:port", instance.authority()),
        ));
    };
    let (state, connections) = next.carry_instance(old, service, &instance.key());
    Ok(Endpoint {
        id: instance.id.as_str().into(),
        node: instance.node.as_str().into(),
        authority,
        weight: instance.weight,
        state,
        connections,
    })
}

/// Identifies the canary instances' tags and versions, so that an abort
/// lasts until they change (0 when there is no canary).
fn fingerprint(canary: &[&Instance]) -> u64 {
    let mut parts: Vec<String> = canary
        .iter()
        .map(|i| {
            let mut tags = i.tags.clone();
            tags.sort();
            format!("{}|{}", tags.join(","), i.meta.get("version").map_or("", String::as_str))
        })
        .collect();
    parts.sort();
    parts.dedup();
    match parts.is_empty() {
        true => 0,
        false => stable_hash(parts.join("\n").as_bytes()).max(1),
    }
}

fn rejection(source: &str, declaration: &str, reason: &str) -> Rejection {
    Rejection { source: source.to_string(), declaration: declaration.to_string(), reason: reason.to_string() }
}

fn conflict(loser: &Claim, winner: &Claim) -> Rejection {
    let declaration = match loser.origin {
        Origin::Tag => format!("portico.route={}{}", loser.host, loser.prefix),
        Origin::Config => format!("route {}={}", loser.key, loser.service),
    };
    let source = match loser.origin {
        Origin::Tag => loser.service.to_string(),
        Origin::Config => "config".to_string(),
    };
    let by = match winner.origin {
        Origin::Tag => "a tag",
        Origin::Config => "config",
    };
    let reason = format!("route {} is already routed to {} by {by}", winner.key, winner.service);
    Rejection { source, declaration, reason }
}

#[cfg(test)]
mod tests;
