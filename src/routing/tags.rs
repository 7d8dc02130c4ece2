//! `portico.*` Consul tags: how a service declares its routes and options.
//!
//! A malformed tag disables only itself: the parser returns what it could
//! accept plus a list of rejections, which `/admin/routes` reports.
//!
//! | tag                          | meaning                                   |
//! |------------------------------|-------------------------------------------|
//! | `portico.route=/prefix`      | route the prefix to this service (repeatable) |
//! | `portico.strip-prefix=true`  | remove the prefix before forwarding       |
//! | `portico.lb=rr\|wrr\|p2c`    | balancing policy                          |
//! | `portico.max-body=BYTES`     | largest request body accepted (413 over)  |
//! | `portico.auth=jwt\|api-key\|any` | credentials required (401 without)      |
//! | `portico.rate-limit=N/s\|m\|h` | requests per client per period (429 over) |
//! | `portico.rate-burst=N`       | requests a client may send at once (default N) |
//! | `portico.cache=true\|false\|30s` | cache GET/HEAD; a duration is the TTL when the response names none |
//! | `portico.allow-encoded=slash,semicolon` | encoded characters this route accepts in paths (repeatable; default none: 400) |

use std::time::Duration;

use crate::balance::Policy;
use crate::routing::encoded::EncodedChars;
use crate::routing::path::normalize;

/// The namespace every Portico tag starts with.
pub const TAG_PREFIX: &str = "portico.";

/// Options that apply to every route a service declares.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RouteOptions {
    /// Remove the matched prefix from the forwarded path.
    pub strip_prefix: bool,
    /// How an instance is picked.
    pub policy: Policy,
    /// Largest request body accepted on this route (413 over it).
    pub max_body: Option<u64>,
    /// Credentials this route requires.
    pub auth: Option<AuthScheme>,
    /// Requests per client this route allows.
    pub rate: Option<RateSpec>,
    /// Response caching for GET and HEAD.
    pub cache: Option<CacheSpec>,
    /// Encoded characters (`%2F`, `%3B`, ...) accepted in this route's paths.
    pub allow_encoded: EncodedChars,
}

impl RouteOptions {
    /// True when any edge policy (auth, rate limit, cache) applies.
    pub fn has_policies(&self) -> bool {
        self.auth.is_some() || self.rate.is_some() || self.cache.is_some()
    }
}

/// Which credentials a route accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthScheme {
    /// `Authorization: Bearer <JWT>`.
    Jwt,
    /// The API-key header.
    ApiKey,
    /// Either.
    Any,
}

impl AuthScheme {
    /// The name used in tags and config.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthScheme::Jwt => "jwt",
            AuthScheme::ApiKey => "api-key",
            AuthScheme::Any => "any",
        }
    }
}

impl std::str::FromStr for AuthScheme {
    type Err = String;
    fn from_str(value: &str) -> Result<Self, String> {
        match value {
            "jwt" => Ok(AuthScheme::Jwt),
            "api-key" | "apikey" => Ok(AuthScheme::ApiKey),
            "any" => Ok(AuthScheme::Any),
            _ => Err(format!("expected jwt, api-key or any, got {value:?}")),
        }
    }
}

/// `count` requests per `period` per client, with bursts up to `burst`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RateSpec {
    pub count: u32,
    pub period: Duration,
    pub burst: u32,
}

impl RateSpec {
    /// Parses `N/s`, `N/m` or `N/h` (also `N/sec`, `N/min`, `N/hour`); burst defaults to N.
    pub fn parse(value: &str) -> Result<RateSpec, String> {
        let bad = || format!("expected N/s, N/m or N/h with N > 0, got {value:?}");
        let (count, unit) = value.split_once('/').ok_or_else(bad)?;
        let count: u32 = count.trim().parse().map_err(|_| bad())?;
        let period = match unit.trim() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            _ => return Err(bad()),
        };
        if count == 0 {
            return Err(bad());
        }
        Ok(RateSpec { count, period, burst: count })
    }
}

/// Caching on a route; `default_ttl` applies to responses that name no freshness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheSpec {
    pub default_ttl: Duration,
}

/// Parses `true`, `false` or a duration (`30s`): the cache option of tags and config.
pub fn parse_cache(value: &str) -> Result<Option<CacheSpec>, String> {
    match parse_bool(value) {
        Ok(true) => Ok(Some(CacheSpec::default())),
        Ok(false) => Ok(None),
        Err(_) => humantime::parse_duration(value)
            .map(|default_ttl| Some(CacheSpec { default_ttl }))
            .map_err(|_| format!("expected true, false or a duration such as 30s, got {value:?}")),
    }
}

/// Everything a service's tags declare.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Declarations {
    /// Normalized route prefixes, sorted and unique.
    pub prefixes: Vec<String>,
    /// Options for all of them.
    pub options: RouteOptions,
    /// Tags that were refused, with the reason.
    pub rejected: Vec<(String, String)>,
}

/// True when a service carries at least one route tag.
pub fn has_route(tags: &[String]) -> bool {
    tags.iter().any(|t| t.starts_with("portico.route="))
}

/// Parses all `portico.*` tags of one service; other tags are ignored.
pub fn parse_tags(tags: &[String]) -> Declarations {
    let mut out = Declarations::default();
    let mut seen_policy: Option<&str> = None;
    let mut seen_strip: Option<&str> = None;
    let mut seen_max_body: Option<&str> = None;
    let mut seen = Seen::default();
    let mut burst: Option<u32> = None;
    let mut sorted: Vec<&String> = tags.iter().filter(|t| t.starts_with(TAG_PREFIX)).collect();
    sorted.sort();
    sorted.dedup();
    for tag in sorted {
        let result = match tag[TAG_PREFIX.len()..].split_once('=') {
            Some(("route", value)) => parse_prefix(value).map(|p| out.prefixes.push(p)),
            Some(("strip-prefix", value)) => {
                once(&mut seen_strip, value).and_then(|_| parse_bool(value)).map(|b| out.options.strip_prefix = b)
            }
            Some(("lb", value)) => {
                once(&mut seen_policy, value).and_then(|_| value.parse::<Policy>()).map(|p| out.options.policy = p)
            }
            Some(("max-body", value)) => once(&mut seen_max_body, value)
                .and_then(|_| value.parse::<u64>().map_err(|_| format!("expected a number of bytes, got {value:?}")))
                .map(|n| out.options.max_body = Some(n)),
            Some(("auth", value)) => once(&mut seen.auth, value)
                .and_then(|_| value.parse::<AuthScheme>())
                .map(|a| out.options.auth = Some(a)),
            Some(("rate-limit", value)) => {
                once(&mut seen.rate, value).and_then(|_| RateSpec::parse(value)).map(|r| out.options.rate = Some(r))
            }
            Some(("rate-burst", value)) => once(&mut seen.burst, value)
                .and_then(|_| {
                    value.parse::<u32>().ok().filter(|n| *n > 0).ok_or(format!("expected N > 0, got {value:?}"))
                })
                .map(|n| burst = Some(n)),
            Some(("cache", value)) => {
                once(&mut seen.cache, value).and_then(|_| parse_cache(value)).map(|c| out.options.cache = c)
            }
            Some(("allow-encoded", value)) => EncodedChars::parse(value)
                .map(|set| out.options.allow_encoded = EncodedChars::union(out.options.allow_encoded, set)),
            Some((key, _)) => Err(format!("unknown option {key:?}")),
            None => Err("expected portico.<option>=<value>".to_string()),
        };
        if let Err(reason) = result {
            out.rejected.push((tag.clone(), reason));
        }
    }
    if let (Some(rate), Some(burst)) = (out.options.rate.as_mut(), burst) {
        rate.burst = burst;
    }
    out.prefixes.sort();
    out.prefixes.dedup();
    out
}

/// The first value seen for each edge-policy option.
#[derive(Default)]
struct Seen<'a> {
    auth: Option<&'a str>,
    rate: Option<&'a str>,
    burst: Option<&'a str>,
    cache: Option<&'a str>,
}

/// Lets an option be set once; a second, different value is a conflict. Tags
/// are visited in sorted order, so the winner is deterministic.
fn once<'a>(seen: &mut Option<&'a str>, value: &'a str) -> Result<(), String> {
    match seen {
        Some(first) if *first != value => Err(format!("conflicts with {first:?}, which is used")),
        _ => {
            *seen = Some(value);
            Ok(())
        }
    }
}

fn parse_bool(value: &str) -> Result<bool, String> {
    match value {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(format!("expected true or false, got {value:?}")),
    }
}

/// Validates a route prefix: absolute, already normalized, no query or
/// fragment. A trailing slash is dropped (`/api/` routes like `/api`).
pub fn parse_prefix(value: &str) -> Result<String, String> {
    if !value.starts_with('/') {
        return Err(format!("prefix {value:?} must start with '/'"));
    }
    if value.contains(['?', '#', '%']) || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("prefix {value:?} may not contain '?', '#', '%', spaces or control characters"));
    }
    let trimmed = if value.len() > 1 { value.trim_end_matches('/') } else { value };
    let trimmed = if trimmed.is_empty() { "/" } else { trimmed };
    match normalize(trimmed) {
        Ok(n) if n == trimmed => Ok(trimmed.to_string()),
        _ => Err(format!("prefix {value:?} is not a normalized path")),
    }
}

#[cfg(test)]
mod tests;
