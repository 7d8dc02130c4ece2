//! RFC 9111 rules for a shared cache: what a request allows, whether a
//! response may be stored, how long it is fresh, how old it already is, and
//! what may be done with it once stale. Pure functions of headers and times.
//!
//! - Which field speaks: `Portico-Cache-Control` (for Portico alone), else
//!   `CDN-Cache-Control` (RFC 9213), else `Cache-Control`.
//! - Freshness lifetime (§4.2.1): `s-maxage`, `max-age`, `Expires` − `Date`,
//!   else the route's TTL as a heuristic, only for the statuses that allow
//!   one (§4.2.2). Other final statuses are stored only with explicit freshness.
//! - Age (§4.2.3): the larger of the apparent age (`Date`) and the `Age` the
//!   instance sent plus the time the exchange took; a malformed `Age` makes
//!   the response stale from the start.
//! - Stale (§4.2.4, RFC 5861): `must-revalidate`/`proxy-revalidate` forbid
//!   serving it; `stale-while-revalidate` and `stale-if-error` allow it for a while.

use std::time::{Duration, SystemTime};

use http::{header, HeaderMap, HeaderName, StatusCode};

/// The targeted fields (RFC 9213), in the order they take precedence.
pub static PORTICO_CACHE_CONTROL: HeaderName = HeaderName::from_static("portico-cache-control");
pub static CDN_CACHE_CONTROL: HeaderName = HeaderName::from_static("cdn-cache-control");

/// What the request's own `Cache-Control` (and `Pragma`) allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RequestRules {
    /// `no-store`: neither serve from nor write to the cache.
    pub bypass: bool,
    /// `no-cache` or `max-age=0`: fetch anew, but the answer may be stored.
    pub revalidate: bool,
}

/// Reads the request's directives.
pub fn request_rules(headers: &HeaderMap) -> RequestRules {
    let mut rules = RequestRules::default();
    for (name, value) in field_directives(headers, &header::CACHE_CONTROL) {
        match (name.as_str(), value) {
            ("no-store", _) => rules.bypass = true,
            ("no-cache", _) => rules.revalidate = true,
            ("max-age", Some(v)) if v.trim() == "0" => rules.revalidate = true,
            _ => {}
        }
    }
    let pragma_no_cache = headers
        .get_all(header::PRAGMA)
        .iter()
        .any(|v| v.to_str().is_ok_and(|s| s.to_ascii_lowercase().contains("no-cache")));
    rules.revalidate |= pragma_no_cache && !headers.contains_key(header::CACHE_CONTROL);
    rules
}

/// What may be done with a stored response once it is stale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StaleRules {
    /// `must-revalidate` or `proxy-revalidate`: never served stale.
    pub must_revalidate: bool,
    /// `stale-while-revalidate=N`: served stale while one request refreshes it.
    pub while_revalidate: Duration,
    /// `stale-if-error=N` (or the route's default): served stale when the instances fail.
    pub if_error: Duration,
}

/// How long a response is fresh, how old it already is, and to whom it may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Freshness {
    /// Freshness lifetime (zero: stale at once, to be revalidated before use).
    pub lifetime: Duration,
    /// Its age when received (`Duration::MAX` for a malformed `Age`).
    pub initial_age: Duration,
    /// `public`: may also answer requests that carry credentials.
    pub public: bool,
    pub stale: StaleRules,
}

/// When the exchange that brought a response happened.
#[derive(Debug, Clone, Copy)]
pub struct Exchanged {
    /// From sending the request to receiving the response head.
    pub took: Duration,
    /// The wall clock when the response arrived (for `Date`).
    pub received: SystemTime,
}

/// What the route says about storing.
#[derive(Debug, Clone, Copy, Default)]
pub struct RoutePolicy {
    /// Heuristic freshness for responses that state none (zero: none).
    pub default_ttl: Duration,
    /// `stale-if-error` for responses that state none.
    pub stale_if_error: Duration,
}

/// Statuses a cache may give heuristic freshness (RFC 9110 §15.1).
fn heuristically_cacheable(status: StatusCode) -> bool {
    matches!(status.as_u16(), 200 | 203 | 204 | 300 | 301 | 308 | 404 | 405 | 410 | 414 | 501)
}

/// Final statuses this cache understands well enough to store with explicit
/// freshness (no 206: ranges are not stored; no 304: it refreshes, it is not stored).
fn storable_status(status: StatusCode) -> bool {
    status.as_u16() >= 200 && !matches!(status.as_u16(), 206 | 304)
}

/// Whether a response may be stored, and its freshness; `None` means not.
///
/// `credentials` says the request carried `Authorization` or an API key; such
/// answers are stored only when the response says `public`. A response stale
/// from the start is stored only when it can be revalidated or served stale.
pub fn freshness(
    status: StatusCode,
    headers: &HeaderMap,
    credentials: bool,
    route: RoutePolicy,
    exchanged: Exchanged,
) -> Option<Freshness> {
    if !storable_status(status) || headers.contains_key(header::SET_COOKIE) || varies_on_everything(headers) {
        return None;
    }
    let directives = directives(headers);
    let mut public = false;
    let (mut max_age, mut s_maxage, mut no_cache) = (None, None, false);
    let mut stale = StaleRules { if_error: route.stale_if_error, ..StaleRules::default() };
    for (name, value) in &directives {
        let seconds = || value.as_deref().and_then(|v| v.trim().parse::<u64>().ok()).map(Duration::from_secs);
        match name.as_str() {
            "no-store" | "private" => return None,
            "no-cache" => no_cache = true,
            "public" => public = true,
            "max-age" => max_age = seconds(),
            "s-maxage" => s_maxage = seconds(),
            "must-revalidate" | "proxy-revalidate" => stale.must_revalidate = true,
            "stale-while-revalidate" => stale.while_revalidate = seconds().unwrap_or_default(),
            "stale-if-error" => stale.if_error = seconds().unwrap_or_default(),
            _ => {}
        }
    }
    if credentials && !public {
        return None;
    }
    let stated = s_maxage.or(max_age).or_else(|| expires(headers));
    let lifetime = match (no_cache, stated) {
        (true, _) => Duration::ZERO,
        (false, Some(stated)) => stated,
        (false, None) if heuristically_cacheable(status) => route.default_ttl,
        (false, None) => return None,
    };
    if stale.must_revalidate {
        stale.while_revalidate = Duration::ZERO;
        stale.if_error = Duration::ZERO;
    }
    let initial_age = initial_age(headers, exchanged);
    let fresh_at_all = initial_age < lifetime;
    let usable_stale = has_validator(headers) || !stale.while_revalidate.is_zero() || !stale.if_error.is_zero();
    (fresh_at_all || usable_stale).then_some(Freshness { lifetime, initial_age, public, stale })
}

/// §4.2.3: the larger of the apparent age and the corrected `Age`; a
/// malformed `Age` (`old, 0`) means the response is stale.
pub fn initial_age(headers: &HeaderMap, exchanged: Exchanged) -> Duration {
    let age_value = match headers.get(header::AGE) {
        None => Duration::ZERO,
        Some(value) => match value.to_str().ok().and_then(|v| v.trim().parse::<u64>().ok()) {
            Some(secs) => Duration::from_secs(secs),
            None => return Duration::MAX,
        },
    };
    let apparent = headers
        .get(header::DATE)
        .and_then(|v| httpdate::parse_http_date(v.to_str().ok()?).ok())
        .and_then(|date| exchanged.received.duration_since(date).ok())
        .unwrap_or_default();
    apparent.max(age_value.saturating_add(exchanged.took))
}

/// True when the response carries a validator (`ETag` or `Last-Modified`).
pub fn has_validator(headers: &HeaderMap) -> bool {
    headers.contains_key(header::ETAG) || headers.contains_key(header::LAST_MODIFIED)
}

/// `Expires` minus `Date` (or now); an unparsable `Expires` means already stale.
fn expires(headers: &HeaderMap) -> Option<Duration> {
    let expires = headers.get(header::EXPIRES)?.to_str().ok();
    let Some(expires) = expires.and_then(|v| httpdate::parse_http_date(v).ok()) else {
        return Some(Duration::ZERO);
    };
    let date = headers
        .get(header::DATE)
        .and_then(|v| httpdate::parse_http_date(v.to_str().ok()?).ok())
        .unwrap_or_else(SystemTime::now);
    Some(expires.duration_since(date).unwrap_or(Duration::ZERO))
}

fn varies_on_everything(headers: &HeaderMap) -> bool {
    headers.get_all(header::VARY).iter().any(|v| v.to_str().map_or(true, |s| s.split(',').any(|p| p.trim() == "*")))
}

/// The directives that speak to Portico: those of `Portico-Cache-Control`,
/// else `CDN-Cache-Control`, else `Cache-Control` (RFC 9213 §2.2).
fn directives(headers: &HeaderMap) -> Vec<(String, Option<String>)> {
    let field = [&PORTICO_CACHE_CONTROL, &CDN_CACHE_CONTROL]
        .into_iter()
        .find(|name| headers.contains_key(*name))
        .unwrap_or(&header::CACHE_CONTROL);
    field_directives(headers, field)
}

/// Lower-cased directives of `field` with their values.
fn field_directives(headers: &HeaderMap, field: &HeaderName) -> Vec<(String, Option<String>)> {
    headers
        .get_all(field)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter(|d| !d.trim().is_empty())
        .map(|d| match d.split_once('=') {
            Some((n, v)) => (n.trim().to_ascii_lowercase(), Some(v.trim().trim_matches('"').to_string())),
            None => (d.trim().to_ascii_lowercase(), None),
        })
        .collect()
}

/// True when the response holds a targeted field ([`strip_targeted`] has work to do).
pub fn has_targeted(headers: &HeaderMap) -> bool {
    headers.contains_key(&PORTICO_CACHE_CONTROL) || headers.contains_key(&CDN_CACHE_CONTROL)
}

/// Removes the targeted fields meant for Portico (and CDNs) from a response
/// before it is stored or sent on.
pub fn strip_targeted(headers: &mut HeaderMap) {
    headers.remove(&PORTICO_CACHE_CONTROL);
    headers.remove(&CDN_CACHE_CONTROL);
}

#[cfg(test)]
mod tests;
