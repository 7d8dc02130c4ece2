//! `GET /admin/explain?host=…&path=…&method=…&header=Name:value`: which
//! route a request would take and why every other candidate did not, then
//! the chosen route's instances: serving, canary (with the share), ejected
//! (and for how long), draining (left, still finishing requests), or left
//! out by Consul (with the failing check, read from the agent for this
//! answer only).
//!
//! It matches exactly as the request path does ([`RouteTable::candidates`]
//! walks the same tiers in the same order), so the answer cannot drift from
//! what a real request would get.

use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use serde_json::{json, Value};

use crate::canary::Side;
use crate::consul::{Client, InstanceHealth};
use crate::routing::host::request_host;
use crate::routing::path::normalize;
use crate::server::{json_response, Body};
use crate::snapshot::{Route, Snapshot};
use crate::upstream::clock_ms;

/// The request to explain, from the query string.
struct Question {
    host: Option<String>,
    path: String,
    method: Method,
    headers: HeaderMap,
}

/// Answers one explain query.
pub async fn explain(snapshot: &Snapshot, query: Option<&str>, consul: Option<&Client>) -> http::Response<Body> {
    let question = match parse(query.unwrap_or_default()) {
        Ok(q) => q,
        Err(message) => return json_response(StatusCode::BAD_REQUEST, &json!({"error": message, "status": 400})),
    };
    let (candidates, chosen) = candidates(snapshot, &question);
    let mut answer = json!({
        "request": {"host": question.host, "path": question.path, "method": question.method.as_str()},
        "matched": chosen.map(|r| json!({"route": &*r.key, "service": &*r.service})),
        "candidates": candidates,
    });
    if let Some(route) = chosen {
        let excluded = match consul {
            Some(client) => excluded_by_consul(client, route).await,
            None => json!([]),
        };
        answer["instances"] = instances(route);
        answer["draining"] = draining(snapshot, route);
        answer["excluded_by_consul"] = excluded;
    }
    json_response(StatusCode::OK, &answer)
}

fn parse(query: &str) -> Result<Question, String> {
    let mut question = Question { host: None, path: "/".into(), method: Method::GET, headers: HeaderMap::new() };
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        match &*name {
            "host" => question.host = Some(request_host(&value).into_owned()).filter(|h| !h.is_empty()),
            "path" => question.path = normalize(&value).map_err(|e| format!("path: {e}"))?.into_owned(),
            "method" => {
                question.method = Method::from_bytes(value.to_ascii_uppercase().as_bytes())
                    .map_err(|_| format!("method {value:?} is not an HTTP method"))?
            }
            "header" => {
                let (n, v) = value.split_once(':').ok_or(format!("header {value:?} must be Name:value"))?;
                let n = HeaderName::from_bytes(n.trim().as_bytes()).map_err(|_| format!("bad header name {n:?}"))?;
                let v = HeaderValue::from_str(v.trim()).map_err(|_| format!("bad header value {v:?}"))?;
                question.headers.append(n, v);
            }
            "token" => {}
            other => return Err(format!("unknown parameter {other:?} (host, path, method, header)")),
        }
    }
    Ok(question)
}

/// Every route that could serve the request, in the order they are tried,
/// with its verdict; then the routes for the same path on other hosts.
fn candidates<'s>(snapshot: &'s Snapshot, q: &Question) -> (Vec<Value>, Option<&'s Route>) {
    let host = q.host.as_deref();
    let mut chosen: Option<&Route> = None;
    let mut out = Vec::new();
    for route in snapshot.table.candidates(host, &q.path) {
        let verdict = match (chosen, route.options.matchers.mismatch(&q.method, &q.headers)) {
            (Some(winner), _) => format!("not tried: {} matched first", winner.key),
            (None, Some(mismatch)) => format!("matchers not met: {mismatch}"),
            (None, None) => {
                chosen = Some(route);
                "matched".to_string()
            }
        };
        out.push(json!({"route": &*route.key, "service": &*route.service, "verdict": verdict}));
    }
    for route in snapshot.routes() {
        if covers(&route.prefix, &q.path) && !route.host.matches(host) {
            let verdict = format!("host {} is not {}", host.unwrap_or("(none)"), route.host);
            out.push(json!({"route": &*route.key, "service": &*route.service, "verdict": verdict}));
        }
    }
    (out, chosen)
}

fn covers(prefix: &str, path: &str) -> bool {
    prefix == "/" || path == prefix || path.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('/'))
}

/// The chosen route's instances and what each would do with a request now.
fn instances(route: &Route) -> Value {
    let now = clock_ms();
    let upstream = &route.upstream;
    let canary = route.canary.as_ref();
    let list: Vec<Value> = upstream
        .endpoints
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let is_canary = upstream.side_of(i) == Side::Canary;
            let state = match (e.state.is_ejected(now), is_canary, canary) {
                (true, _, _) => "ejected",
                (false, true, Some(c)) if c.effective().basis_points() == 0 => "canary, share 0",
                (false, true, _) => "canary",
                (false, false, _) => "serving",
            };
            json!({
                "id": &*e.id,
                "node": &*e.node,
                "address": e.authority.as_str(),
                "state": state,
                "canary_share": is_canary.then(|| canary.map(|c| c.effective().to_string())).flatten(),
                "ejected_for_secs": e.state.is_ejected(now).then(|| e.state.ejected_for(now).as_secs_f64()),
                "in_flight": e.state.in_flight(),
            })
        })
        .collect();
    Value::Array(list)
}

/// Instances of the route's service that left but still finish requests.
fn draining(snapshot: &Snapshot, route: &Route) -> Value {
    let list = snapshot.draining.iter().filter(|d| *d.service == *route.service && d.state.in_flight() > 0);
    Value::Array(
        list.map(|d| json!({"id": d.id, "node": d.node, "state": "draining", "in_flight": d.state.in_flight()}))
            .collect(),
    )
}

/// Instances of the route's service that Consul does not pass, with the
/// checks that keep them out.
async fn excluded_by_consul(client: &Client, route: &Route) -> Value {
    match client.health(&route.service).await {
        Ok(all) => Value::Array(all.into_iter().filter_map(failing).collect()),
        Err(error) => json!({"error": format!("cannot read the instances' checks from Consul: {error}")}),
    }
}

fn failing(instance: InstanceHealth) -> Option<Value> {
    let failing: Vec<_> = instance.checks.into_iter().filter(|c| c.status != "passing").collect();
    (!failing.is_empty()).then(|| json!({"id": instance.id, "node": instance.node, "checks": failing}))
}

#[cfg(test)]
mod tests;
