//! `GET /admin/routes`: every route, its instances with their live counters
//! and recent rate, instances still draining, every refused declaration with
//! its reason, and how stale discovery is.

use std::collections::HashMap;

use serde_json::{json, Value};

use crate::canary::Side;
use crate::consul::instance_key;
use crate::discovery::Statuses;
use crate::routing::host::HostPattern;
use crate::snapshot::{Canary, Endpoint, Route, Snapshot};
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
    let upstream = &route.upstream;
    let instances: Vec<Value> = upstream
        .endpoints
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let mut value = endpoint(e, rates);
            value["canary"] = (upstream.side_of(i) == Side::Canary).into();
            value
        })
        .collect();
    let options = &route.options;
    let lb = match &options.hash_key {
        Some(key) => format!("hash:{key}"),
        None => options.policy.to_string(),
    };
    json!({
        "key": &*route.key,
        "host": (route.host != HostPattern::Any).then(|| route.host.to_string()),
        "prefix": &*route.prefix,
        "match": (!options.matchers.is_empty()).then(|| options.matchers.to_string()),
        "request_headers": options.request_headers.describe(),
        "response_headers": options.response_headers.describe(),
        "canary": route.canary.as_ref().map(|c| canary(route, c)),
        "service": &*route.service,
        "source": route.origin,
        "strip_prefix": route.options.strip_prefix,
        "lb": lb,
        "proto": options.proto.as_str(),
        "upstream_tls": options.upstream_tls.as_deref(),
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

/// A route's canary: shares, the rule, the window's rates and any abort.
pub fn canary(route: &Route, canary: &Canary) -> Value {
    let spec = route.options.canary();
    json!({
        "share": canary.share.to_string(),
        "effective_share": canary.effective().to_string(),
        "instances": route.upstream.canaries(),
        "abort_margin": spec.abort_margin.map(|m| m.to_string()),
        "window_secs": spec.window.as_secs(),
        "min_requests": spec.min_requests,
        "window": canary.health.rates(clock_ms(), spec.window),
        "aborted": canary.health.abort(),
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
