//! RFC 9111 rules for a shared cache: what a request allows, whether a
//! response may be stored and for how long. Pure functions of headers.

use std::time::{Duration, SystemTime};

use http::{header, HeaderMap, StatusCode};

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
    for (name, value) in directives(headers) {
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

/// How long a response may be served from the cache, and to whom.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Freshness {
    pub ttl: Duration,
    /// `public`: may also answer requests that carry credentials.
    pub public: bool,
}

/// Statuses a cache may store without special rules (RFC 9110 §15.1).
fn cacheable_status(status: StatusCode) -> bool {
    matches!(status.as_u16(), 200 | 203 | 204 | 300 | 301 | 308 | 404 | 405 | 410 | 414 | 501)
}

/// Whether a response may be stored, and its freshness; `None` means not.
///
/// `credentials` says the request carried `Authorization` or an API key; such
/// answers are stored only when the response says `public`. `default_ttl`
/// applies when the response states no freshness at all (zero: not stored).
pub fn freshness(
    status: StatusCode,
    headers: &HeaderMap,
    credentials: bool,
    default_ttl: Duration,
) -> Option<Freshness> {
    if !cacheable_status(status) || headers.contains_key(header::SET_COOKIE) || varies_on_everything(headers) {
        return None;
    }
    let mut public = false;
    let (mut max_age, mut s_maxage) = (None, None);
    for (name, value) in directives(headers) {
        match name.as_str() {
            "no-store" | "private" | "no-cache" => return None,
            "public" => public = true,
            "max-age" => max_age = value.and_then(|v| v.trim().parse::<u64>().ok()),
            "s-maxage" => s_maxage = value.and_then(|v| v.trim().parse::<u64>().ok()),
            _ => {}
        }
    }
    if credentials && !public {
        return None;
    }
    let stated = s_maxage.or(max_age).map(Duration::from_secs).or_else(|| expires(headers));
    let age = headers.get(header::AGE).and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok()).unwrap_or(0);
    let ttl = stated.unwrap_or(default_ttl).saturating_sub(Duration::from_secs(age));
    (!ttl.is_zero()).then_some(Freshness { ttl, public })
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

/// Lower-cased `Cache-Control` directives with their values.
fn directives(headers: &HeaderMap) -> Vec<(String, Option<String>)> {
    headers
        .get_all(header::CACHE_CONTROL)
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

#[cfg(test)]
mod tests;
