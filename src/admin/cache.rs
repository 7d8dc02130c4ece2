//! `/admin/cache`: what the response cache holds, and purging it.
//!
//! `GET` reports entries, bytes and fetches in flight. `DELETE` purges:
//! `?route=/products` every entry of a route, `?key=/products?page=2` one path
//! with its query (every host and variant), no parameter everything. The
//! answer says how many keys went here and, when this replica is registered,
//! how many live replicas acknowledged the same purge
//! ([`crate::replicas::purge`]).

use http::{Response, StatusCode};
use serde_json::json;

use crate::cache::ResponseCache;
use crate::replicas::purge::{Purges, Selection};
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

/// `DELETE /admin/cache[?route=...|?key=...]`: here, and on every replica
/// when `everywhere` is given.
pub async fn purge(cache: &ResponseCache, everywhere: Option<&Purges>, query: Option<&str>) -> Response<Body> {
    let (route, key) = match parse(query) {
        Ok(selection) => selection,
        Err(message) => return json_response(StatusCode::BAD_REQUEST, &json!({"error": message, "status": 400})),
    };
    let selection = Selection { route, key };
    let answer = match everywhere {
        Some(purges) => purges.everywhere(&selection).await,
        None => {
            let purged = crate::replicas::purge::apply(cache, &selection).await;
            json!({"purged": purged, "route": selection.route, "key": selection.key})
        }
    };
    json_response(StatusCode::OK, &answer)
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
