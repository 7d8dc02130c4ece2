//! Host patterns of routes and the host of a request, reduced to the same
//! form so that comparing them is a plain string comparison.
//!
//! A route names no host (any host), an exact host (`shop.example.com`) or
//! a wildcard (`*.example.com`: any name with at least one more label, as
//! nginx and Envoy read it; not `example.com` itself). Both sides are
//! lower-cased, lose a port and a trailing dot, so `Shop.Example.COM.:8080`
//! is `shop.example.com`.

use std::borrow::Cow;
use std::fmt;

/// The hosts a route answers for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum HostPattern {
    /// Every host: a route declared without one.
    #[default]
    Any,
    /// Exactly this (lower-case) host.
    Exact(Box<str>),
    /// Any host ending in `.` + this suffix (stored without `*.`).
    Wildcard(Box<str>),
}

impl HostPattern {
    /// Parses `shop.example.com`, `*.example.com` or an empty string (any host).
    pub fn parse(value: &str) -> Result<HostPattern, String> {
        if value.is_empty() {
            return Ok(HostPattern::Any);
        }
        let lower = value.to_ascii_lowercase();
        let lower = lower.strip_suffix('.').unwrap_or(&lower);
        let (wild, name) = match lower.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, lower),
        };
        if !is_host_name(name) {
            return Err(format!("host {value:?} is not a DNS name or *.name (no port, no scheme)"));
        }
        Ok(if wild { HostPattern::Wildcard(name.into()) } else { HostPattern::Exact(name.into()) })
    }

    /// True when `host` (already reduced by [`request_host`]) is one of this pattern's.
    pub fn matches(&self, host: Option<&str>) -> bool {
        match (self, host) {
            (HostPattern::Any, _) => true,
            (_, None) => false,
            (HostPattern::Exact(name), Some(host)) => **name == *host,
            (HostPattern::Wildcard(suffix), Some(host)) => {
                host.len() > suffix.len() + 1
                    && host.ends_with(&**suffix)
                    && host.as_bytes()[host.len() - suffix.len() - 1] == b'.'
            }
        }
    }

    /// How specific the pattern is: exact 2, wildcard 1, any 0.
    pub fn rank(&self) -> u8 {
        match self {
            HostPattern::Any => 0,
            HostPattern::Wildcard(_) => 1,
            HostPattern::Exact(_) => 2,
        }
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostPattern::Any => Ok(()),
            HostPattern::Exact(name) => f.write_str(name),
            HostPattern::Wildcard(suffix) => write!(f, "*.{suffix}"),
        }
    }
}

/// Letters, digits, `-` and `_` in dot-separated labels of at most 63 bytes.
fn is_host_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        })
}

/// The host a request names (`Host`, or `:authority` on HTTP/2), reduced:
/// lower-case, without the port or a trailing dot. An IPv6 literal keeps its
/// brackets. Borrowed when it is already in that form.
pub fn request_host(raw: &str) -> Cow<'_, str> {
    let without_port = match raw.rfind(':') {
        Some(colon) if !raw.starts_with('[') || raw[..colon].ends_with(']') => &raw[..colon],
        _ => raw,
    };
    let trimmed = without_port.strip_suffix('.').unwrap_or(without_port);
    if trimmed.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(trimmed.to_ascii_lowercase())
    } else {
        Cow::Borrowed(trimmed)
    }
}

/// The reduced host of a request: the URI's authority (HTTP/2's
/// `:authority`, or an absolute-form target), else the `Host` header.
pub fn of_request<'r>(uri: &'r http::Uri, headers: &'r http::HeaderMap) -> Option<Cow<'r, str>> {
    let raw = match uri.authority() {
        Some(authority) => authority.as_str(),
        None => headers.get(http::header::HOST)?.to_str().ok()?,
    };
    of_host_header(raw)
}

/// The host a `Host` header (or a target's authority) names, lower-case,
/// without user info or port.
pub fn of_host_header(raw: &str) -> Option<Cow<'_, str>> {
    let raw = raw.rsplit_once('@').map_or(raw, |(_, host)| host);
    Some(request_host(raw)).filter(|h| !h.is_empty())
}

/// The suffixes a wildcard lookup tries for `host`, most specific first:
/// `a.b.example.com` gives `b.example.com`, `example.com`, `com`.
pub fn parent_domains(host: &str) -> impl Iterator<Item = &str> {
    host.match_indices('.').map(move |(i, _)| &host[i + 1..]).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests;
