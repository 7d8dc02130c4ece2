//! `/admin/cache`: what the response cache holds, and purging it.
//!
//! `GET` reports entries, bytes and fetches in flight. `DELETE` purges:
//! `?route=/products` every entry of a route, `?key=/products?page=2` one path
//! with its query (every host and variant), no parameter everything. The
//! answer says how many keys went.

use http::{Response, StatusCode};
use serde_json::json;

use crate::cache::ResponseCache;
use crate::server::json_response;
use crate::server::Body;

/// `GET /admin/cache`.
pub async fn stats(cache: &ResponseCache) -> Response<Body> {
    let (entries, bytes) = cache.usage().await;
    let body = json!({
        "entries": entries,
        "bytes": bytes,
        "max_bytes": cache.settings.max_bytes,
        "in_flight": cache.flights.len(),
    });
    json_response(StatusCode::OK, &body)
}

/// `DELETE /admin/cache[?route=...|?key=...]`.
pub async fn purge(cache: &ResponseCache, query: Option<&str>) -> Response<Body> {
    let (route, key) = match parse(query) {
        Ok(selection) => selection,
        Err(message) => return json_response(StatusCode::BAD_REQUEST, &json!({"error": message, "status": 400})),
    };
    let purged = cache
        .purge(|k| route.as_deref().is_none_or(|r| *k.route == *r) && key.as_deref().is_none_or(|t| *k.target == *t))
        .await;
    json_response(StatusCode::OK, &json!({"purged": purged, "route": route, "key": key}))
}

/// `route` and `key` from the query string, percent-decoded.
fn parse(query: Option<&str>) -> Result<(Option<String>, Option<String>), String> {
    let (mut route, mut key) = (None, None);
    for (name, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match name.as_ref() {
            "route" => route = Some(value.into_owned()),
            "key" => key = Some(value.into_owned()),
            "token" => {}
            _ => return Err(format!("unknown parameter {name:?}; use route= or key=")),
        }
    }
    Ok((route, key))
}
