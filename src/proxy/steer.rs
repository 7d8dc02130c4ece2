//! Steering within a route: which side of a canary a request goes to, and
//! the key a `hash` route hashes.
//!
//! A client keeps its side ([`crate::canary`]): its bucket comes from the
//! identity Portico authenticated, else from the `portico_canary` cookie,
//! else from its address; in the last case the response sets the cookie, so
//! the client keeps its side when its address changes. Nothing here runs on a
//! route without a canary or a hash key.

use std::net::IpAddr;

use http::{header, HeaderMap, HeaderValue};

use crate::auth::X_AUTH_SUBJECT;
use crate::balance::ring::stable_hash;
use crate::balance::HashKey;
use crate::canary::{bucket_of, parse_bucket, Side};
use crate::snapshot::{Choice, Route};

/// The cookie that keeps a client on its side.
pub const CANARY_COOKIE: &str = "portico_canary";

/// How long the cookie lasts: a day, so a client keeps its side for the
/// length of a typical rollout step.
const COOKIE_MAX_AGE_SECS: u32 = 86_400;

/// Where a request goes within its route, and the cookie to set, if any.
#[derive(Debug, Default)]
pub struct Steering {
    pub choice: Choice,
    pub set_cookie: Option<HeaderValue>,
}

/// What steering reads from the request.
pub struct Request<'a> {
    pub headers: &'a HeaderMap,
    /// The normalized path.
    pub path: &'a str,
    /// The client's address (after trusted proxies).
    pub client: IpAddr,
    pub tls: bool,
}

/// The steering of one request on `route`.
pub fn steer(route: &Route, request: &Request<'_>) -> Steering {
    let mut steering = Steering::default();
    if let Some(key) = &route.options.hash_key {
        steering.choice.hash = hash_of(key, request);
    }
    let Some(canary) = &route.canary else { return steering };
    let share = canary.effective();
    steering.choice.cross_over = !canary.health.is_aborted();
    if share.basis_points() == 0 {
        return steering;
    }
    let (bucket, set_cookie) = bucket(request);
    steering.choice.side = Side::of(bucket, share);
    steering.set_cookie = set_cookie.then(|| cookie(bucket, request.tls)).flatten();
    steering
}

/// The client's bucket, and whether the cookie must be set.
fn bucket(request: &Request<'_>) -> (u32, bool) {
    if let Some(subject) = request.headers.get(&X_AUTH_SUBJECT) {
        return (bucket_of(subject.as_bytes()), false);
    }
    if let Some(bucket) = cookie_value(request.headers, CANARY_COOKIE).and_then(parse_bucket) {
        return (bucket, false);
    }
    (bucket_of(request.client.to_string().as_bytes()), true)
}

fn cookie(bucket: u32, tls: bool) -> Option<HeaderValue> {
    let secure = if tls { "; Secure" } else { "" };
    let text =
        format!("{CANARY_COOKIE}={bucket}; Path=/; Max-Age={COOKIE_MAX_AGE_SECS}; HttpOnly; SameSite=Lax{secure}");
    HeaderValue::from_str(&text).ok()
}

/// The hash of the request's key; `None` when the request has no such key.
fn hash_of(key: &HashKey, request: &Request<'_>) -> Option<u64> {
    match key {
        HashKey::Header(name) => request.headers.get(name).map(|v| stable_hash(v.as_bytes())),
        HashKey::Cookie(name) => cookie_value(request.headers, name).map(|v| stable_hash(v.as_bytes())),
        HashKey::Ip => Some(stable_hash(request.client.to_string().as_bytes())),
        HashKey::Path => Some(stable_hash(request.path.as_bytes())),
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie_value<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find_map(|(n, v)| (n == name).then_some(v.trim_matches('"')))
}

#[cfg(test)]
mod tests;
