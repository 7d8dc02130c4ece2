//! RFC 9111 §4.4: a successful unsafe request (`POST`, `PUT`, `DELETE`,
//! `PATCH`, anything but GET, HEAD, OPTIONS and TRACE) changes the resource,
//! so the cache drops what it holds for the request's URI, and for the
//! same-origin URIs of the response's `Location` and `Content-Location`
//! (each under whichever cached route serves it). Keys are computed, not
//! searched for: the cost is a few lookups, whatever the cache holds.

use std::sync::Arc;

use http::{header, HeaderMap, HeaderValue, Method, Response};

use super::super::{Gateway, ProxyBody};
use crate::cache::CacheKey;
use crate::routing::host;
use crate::routing::path::normalize;
use crate::snapshot::Route;

/// Methods that do not change the resource (RFC 9110 §9.2.1).
pub fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE)
}

/// The request's host as the cache keys it: `Host`, or `:authority` on
/// HTTP/2 (which may send no `Host` at all).
pub fn raw_host<B>(request: &http::Request<B>) -> &str {
    request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()))
        .unwrap_or("")
}

/// The key of `path?query` on `route` for the raw `host` (lower-cased, port kept).
pub fn key_for(route: &Arc<Route>, host: &str, path: &str, query: Option<&str>) -> CacheKey {
    let target = match query {
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    };
    CacheKey { route: Arc::clone(&route.key), host: host.to_ascii_lowercase().into(), target: target.into() }
}

/// Where an unsafe request was sent: the raw host, normalized path and query.
pub struct Target {
    pub host: String,
    pub path: String,
    pub query: Option<String>,
}

impl Gateway {
    /// Drops the entries `response` to an unsafe request on `route` made
    /// obsolete, if it succeeded (2xx or 3xx).
    pub(in crate::proxy) async fn invalidate_after(
        &self,
        route: &Arc<Route>,
        target: &Target,
        response: &Response<ProxyBody>,
    ) {
        let status = response.status();
        if !(status.is_success() || status.is_redirection()) {
            return;
        }
        let cache = &self.policies.cache;
        cache.invalidate(&key_for(route, &target.host, &target.path, target.query.as_deref())).await;
        for named in located(response.headers(), &target.host) {
            let Ok(path) = normalize(&named.path) else { continue };
            if let Some(other) = self.cached_route(&target.host, &path) {
                cache.invalidate(&key_for(&other, &target.host, &path, named.query.as_deref())).await;
            }
        }
    }

    /// The cached route that serves `path` on `raw_host`, if any.
    fn cached_route(&self, raw_host: &str, path: &str) -> Option<Arc<Route>> {
        let snapshot = self.snapshot.load();
        let host = host::request_host(raw_host).to_ascii_lowercase();
        let host = snapshot.table.has_hosts().then_some(host.as_str());
        snapshot.table.find(host, path, |r: &Arc<Route>| r.options.cache.is_some()).cloned()
    }
}

/// The same-origin targets of `Location` and `Content-Location`: a path
/// (absolute or `/`-rooted), or an absolute URI on the request's own host.
fn located(headers: &HeaderMap, host: &str) -> Vec<Target> {
    [header::LOCATION, header::CONTENT_LOCATION]
        .iter()
        .filter_map(|name| headers.get(name))
        .filter_map(|value| same_origin(value, host))
        .collect()
}

fn same_origin(value: &HeaderValue, host: &str) -> Option<Target> {
    let uri: http::Uri = value.to_str().ok()?.parse().ok()?;
    if let Some(authority) = uri.authority() {
        if !authority.as_str().eq_ignore_ascii_case(host) {
            return None;
        }
    }
    let path = uri.path();
    path.starts_with('/').then(|| Target {
        host: host.to_string(),
        path: path.to_string(),
        query: uri.query().map(str::to_string),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(http::HeaderName, &'static str)]) -> HeaderMap {
        pairs.iter().map(|(n, v)| (n.clone(), HeaderValue::from_static(v))).collect()
    }

    #[test]
    fn only_same_origin_locations_are_invalidated() {
        let h = headers(&[
            (header::LOCATION, "/products/42?v=2"),
            (header::CONTENT_LOCATION, "http://shop.example:8080/products"),
        ]);
        let found: Vec<_> = located(&h, "shop.example:8080").into_iter().map(|t| (t.path, t.query)).collect();
        assert_eq!(found, vec![("/products/42".to_string(), Some("v=2".to_string())), ("/products".to_string(), None)]);
        let elsewhere = headers(&[(header::LOCATION, "https://evil.example/products")]);
        assert!(located(&elsewhere, "shop.example:8080").is_empty(), "another origin's URI is not ours to drop");
        let relative = headers(&[(header::LOCATION, "42")]);
        assert!(located(&relative, "shop.example").is_empty());
    }

    #[test]
    fn safe_methods_invalidate_nothing() {
        assert!(is_safe(&Method::GET) && is_safe(&Method::HEAD) && is_safe(&Method::OPTIONS));
        assert!(!is_safe(&Method::POST) && !is_safe(&Method::PUT) && !is_safe(&Method::DELETE));
        assert!(!is_safe(&Method::PATCH));
    }
}
