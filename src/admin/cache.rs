//! `/admin/cache`: what the response cache holds, and purging it.
//!
//! `GET` reports entries, bytes and fetches in flight. `DELETE` purges:
//! `?route=/products` every entry of a route, `?key=/products?page=2` one path
//! with its query (every host and variant), no parameter everything. The
//! answer says how many keys went.

use http::{Response, StatusCode};
use serde_json::json;

use crate::cache::ResponseCache;
use crate::proxy::error::json_response;
use crate::proxy::ProxyBody;

/// `GET /admin/cache`.
pub async fn stats(cache: &ResponseCache) -> Response<ProxyBody> {
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
pub async fn purge(cache: &ResponseCache, query: Option<&str>) -> Response<ProxyBody> {
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
    for pair in query.into_iter().flat_map(|q| q.split('&')).filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = decode(value).ok_or_else(|| format!("bad percent-encoding in {name}"))?;
        match name {
            "route" => route = Some(value),
            "key" => key = Some(value),
            "token" => {}
            _ => return Err(format!("unknown parameter {name:?}; use route= or key=")),
        }
    }
    Ok((route, key))
}

fn decode(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}
