//! `GET /admin/routes`: every route, its instances and their live counters,
//! every refused declaration with its reason, and how stale discovery is.

use serde_json::{json, Value};

use crate::discovery::Statuses;
use crate::snapshot::{Endpoint, Route, Snapshot};

/// The JSON report.
pub fn report(snapshot: &Snapshot, statuses: &Statuses) -> Value {
    let routes: Vec<Value> = snapshot.routes().into_iter().map(|r| route(r)).collect();
    json!({
        "generation": snapshot.generation,
        "synced": snapshot.synced,
        "staleness_seconds": statuses.staleness(),
        "routes": routes,
        "rejected": snapshot.rejected,
        "watches": statuses.reports(),
    })
}

fn route(route: &Route) -> Value {
    let instances: Vec<Value> = route.upstream.endpoints.iter().map(endpoint).collect();
    json!({
        "prefix": &*route.prefix,
        "service": &*route.service,
        "source": route.origin,
        "strip_prefix": route.options.strip_prefix,
        "lb": route.options.policy.to_string(),
        "instances": instances,
    })
}

fn endpoint(e: &Endpoint) -> Value {
    json!({
        "id": &*e.id,
        "address": e.authority.as_str(),
        "weight": e.weight,
        "state": "serving",
        "in_flight": e.state.in_flight(),
        "requests": e.state.requests(),
    })
}
