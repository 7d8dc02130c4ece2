//! `GET /admin/routes`: every route, its instances with their live counters
//! and recent rate, instances still draining, every refused declaration with
//! its reason, and how stale discovery is.

use std::collections::HashMap;

use serde_json::{json, Value};

use crate::consul::instance_key;
use crate::discovery::Statuses;
use crate::snapshot::{Endpoint, Route, Snapshot};
use crate::traffic::TrafficView;
use crate::upstream::clock_ms;

/// The JSON report.
pub fn report(snapshot: &Snapshot, statuses: &Statuses, traffic: &TrafficView) -> Value {
    let rates: HashMap<&str, f64> = traffic
        .routes
        .iter()
        .flat_map(|r| r.instances.iter())
        .chain(traffic.draining.iter())
        .map(|i| (i.key.as_str(), i.rps))
        .collect();
    let routes: Vec<Value> = snapshot.routes().into_iter().map(|r| route(r, &rates)).collect();
    let draining: Vec<Value> = snapshot
        .draining
        .iter()
        .filter(|d| d.state.in_flight() > 0)
        .map(|d| {
            json!({
                "id": d.id,
                "node": d.node,
                "state": "draining",
                "in_flight": d.state.in_flight(),
                "requests": d.state.requests(),
                "rps": rates.get(instance_key(&d.node, &d.id).as_str()).copied().unwrap_or(0.0),
            })
        })
        .collect();
    json!({
        "generation": snapshot.generation,
        "synced": snapshot.synced,
        "staleness_seconds": statuses.staleness(),
        "consul": statuses.budget(),
        "routes": routes,
        "draining": draining,
        "rejected": snapshot.rejected,
        "watches": statuses.reports(),
    })
}

fn route(route: &Route, rates: &HashMap<&str, f64>) -> Value {
    let instances: Vec<Value> = route.upstream.endpoints.iter().map(|e| endpoint(e, rates)).collect();
    json!({
        "prefix": &*route.prefix,
        "service": &*route.service,
        "source": route.origin,
        "strip_prefix": route.options.strip_prefix,
        "lb": route.options.policy.to_string(),
        "max_body": route.options.max_body,
        "auth": route.options.auth.map(|a| a.as_str()),
        "rate_limit": route.options.rate.map(|r| json!({
            "count": r.count, "period_secs": r.period.as_secs(), "burst": r.burst,
        })),
        "cache": route.options.cache.map(|c| json!({ "default_ttl_secs": c.default_ttl.as_secs_f64() })),
        "allow_encoded": route.options.allow_encoded.names(),
        "instances": instances,
    })
}

fn endpoint(e: &Endpoint, rates: &HashMap<&str, f64>) -> Value {
    json!({
        "id": &*e.id,
        "node": &*e.node,
        "address": e.authority.as_str(),
        "weight": e.weight,
        "state": e.state_name(clock_ms()),
        "in_flight": e.state.in_flight(),
        "requests": e.state.requests(),
        "failures": e.state.failures(),
        "rps": rates.get(instance_key(&e.node, &e.id).as_str()).copied().unwrap_or(0.0),
    })
}
