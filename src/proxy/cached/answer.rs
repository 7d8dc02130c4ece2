//! Answers made from a stored response: the response itself (with `Age` and
//! `X-Cache`), a `304` when the client's own precondition holds
//! (RFC 9111 §4.3.2), the conditional request that revalidates a stale
//! entry (§4.3.1), and the entry refreshed by the instance's `304` (§4.3.4).

use std::time::SystemTime;

use http::{header, HeaderMap, HeaderName, HeaderValue, Response, StatusCode};

use super::super::ProxyBody;
use crate::cache::control::strip_targeted;
use crate::cache::{Stored, X_CACHE};

/// The client's response from `stored`: a `304` when the request's
/// precondition says the client's copy is current, else the stored one.
pub fn answer(stored: &Stored, request: &HeaderMap, head_only: bool, verdict: &'static str) -> Response<ProxyBody> {
    if not_modified(stored, request) {
        return not_modified_answer(stored, verdict);
    }
    let body = if head_only { ProxyBody::empty() } else { ProxyBody::full(stored.body.clone()) };
    let mut response = Response::new(body);
    *response.status_mut() = stored.status;
    *response.headers_mut() = stored.headers.clone();
    if stored.targeted {
        strip_targeted(response.headers_mut());
    }
    stamp(response.headers_mut(), stored, verdict);
    response
}

fn stamp(headers: &mut HeaderMap, stored: &Stored, verdict: &'static str) {
    headers.insert(header::AGE, HeaderValue::from(stored.age_secs()));
    headers.insert(X_CACHE.clone(), HeaderValue::from_static(verdict));
}

/// The fields a `304` repeats from the stored response (RFC 9110 §15.4.5).
const KEPT_ON_304: [HeaderName; 6] =
    [header::CACHE_CONTROL, header::CONTENT_LOCATION, header::DATE, header::ETAG, header::EXPIRES, header::VARY];

fn not_modified_answer(stored: &Stored, verdict: &'static str) -> Response<ProxyBody> {
    let mut response = Response::new(ProxyBody::empty());
    *response.status_mut() = StatusCode::NOT_MODIFIED;
    for name in KEPT_ON_304.iter().chain([&header::LAST_MODIFIED]) {
        for value in stored.headers.get_all(name) {
            response.headers_mut().append(name.clone(), value.clone());
        }
    }
    stamp(response.headers_mut(), stored, verdict);
    response
}

/// §4.3.2: `If-None-Match` against the stored `ETag` (weak comparison,
/// `*` matches), else `If-Modified-Since` against `Last-Modified` (or `Date`).
fn not_modified(stored: &Stored, request: &HeaderMap) -> bool {
    if !stored.status.is_success() {
        return false;
    }
    if request.contains_key(header::IF_NONE_MATCH) {
        let Some(etag) = stored.headers.get(header::ETAG).and_then(|v| v.to_str().ok()) else { return false };
        return request
            .get_all(header::IF_NONE_MATCH)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|candidate| candidate.trim() == "*" || weak_eq(candidate.trim(), etag.trim()));
    }
    let Some(since) = request.get(header::IF_MODIFIED_SINCE).and_then(|v| http_date(v.to_str().ok()?)) else {
        return false;
    };
    let changed = [header::LAST_MODIFIED, header::DATE]
        .iter()
        .find_map(|name| stored.headers.get(name).and_then(|v| http_date(v.to_str().ok()?)));
    changed.is_some_and(|changed| changed <= since)
}

fn weak_eq(a: &str, b: &str) -> bool {
    a.trim_start_matches("W/") == b.trim_start_matches("W/")
}

fn http_date(value: &str) -> Option<SystemTime> {
    httpdate::parse_http_date(value).ok()
}

/// §4.3.1: the validators of `stored` as preconditions, for revalidating it.
pub fn add_preconditions(stored: &Stored, request: &mut HeaderMap) {
    if let Some(etag) = stored.headers.get(header::ETAG) {
        request.insert(header::IF_NONE_MATCH, etag.clone());
    }
    if let Some(modified) = stored.headers.get(header::LAST_MODIFIED) {
        request.insert(header::IF_MODIFIED_SINCE, modified.clone());
    }
}

/// §4.3.4: the stored header fields, each replaced by the `304`'s field of
/// the same name (framing fields excepted: the stored body stays).
pub fn refreshed_headers(stored: &HeaderMap, not_modified: &HeaderMap) -> HeaderMap {
    const KEEP: [HeaderName; 3] = [header::CONTENT_LENGTH, header::TRANSFER_ENCODING, header::CONTENT_ENCODING];
    let mut merged = stored.clone();
    for name in not_modified.keys() {
        if KEEP.contains(name) || *name == X_CACHE {
            continue;
        }
        merged.remove(name);
        for value in not_modified.get_all(name) {
            merged.append(name.clone(), value.clone());
        }
    }
    merged
}

#[cfg(test)]
mod tests;
