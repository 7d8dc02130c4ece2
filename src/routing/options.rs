//! A route's options, one type whichever way the route was declared: the
//! `portico.*` tags of a service and the `[[route]]` tables of the TOML file
//! both name options with the same keys and values (`rate-limit` =
//! `rate_limit`), and both go through [`OptionsBuilder::set`], so an option
//! means the same thing and is checked the same way everywhere.

use std::time::Duration;

use crate::balance::{HashKey, Policy};
use crate::canary::{CanarySpec, Share};
use crate::routing::encoded::EncodedChars;
use crate::routing::matchers::Matchers;
use crate::routing::rewrite::HeaderRules;

/// Options that apply to every route a service declares.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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
    /// How instances are spoken to.
    pub proto: Proto,
    /// The `[upstream_tls.profiles.NAME]` TLS instances are reached with
    /// (`[upstream_tls]` when `None`).
    pub upstream_tls: Option<Box<str>>,
    /// Conditions on method and headers; a request failing them falls through.
    pub matchers: Matchers,
    /// Header rules applied to the request before it is forwarded.
    pub request_headers: HeaderRules,
    /// Header rules applied to the response before it is returned.
    pub response_headers: HeaderRules,
    /// What a `hash` route hashes (boxed, like the canary: route options
    /// are copied for every route of every build, and most have neither).
    pub hash_key: Option<Box<HashKey>>,
    /// The canary settings, if any was given ([`RouteOptions::canary`] reads them).
    canary: Option<Box<CanarySpec>>,
}

impl RouteOptions {
    /// The canary settings (the defaults when none was given).
    pub fn canary(&self) -> &CanarySpec {
        self.canary.as_deref().unwrap_or(&CanarySpec::DEFAULT)
    }

    fn canary_mut(&mut self) -> &mut CanarySpec {
        self.canary.get_or_insert_with(|| Box::new(CanarySpec::DEFAULT))
    }

    /// True when any edge policy (auth, rate limit, cache) applies.
    pub fn has_policies(&self) -> bool {
        self.auth.is_some() || self.rate.is_some() || self.cache.is_some()
    }
}

/// How a route's instances are spoken to (`portico.proto`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Proto {
    /// HTTP/1.1 over TCP.
    #[default]
    Http,
    /// HTTP/1.1 over TLS, verified as `[upstream_tls]` says.
    Https,
    /// HTTP/2 over TCP, with prior knowledge.
    H2c,
    /// HTTP/2 over TLS, agreed by ALPN.
    H2,
    /// gRPC: HTTP/2 over TCP, and gRPC errors for gRPC clients.
    Grpc,
    /// gRPC over TLS.
    Grpcs,
}

impl Proto {
    /// The name used in tags and config.
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Http => "http",
            Proto::Https => "https",
            Proto::H2c => "h2c",
            Proto::H2 => "h2",
            Proto::Grpc => "grpc",
            Proto::Grpcs => "grpcs",
        }
    }

    /// True over TLS.
    pub fn secure(self) -> bool {
        matches!(self, Proto::Https | Proto::H2 | Proto::Grpcs)
    }

    /// True over HTTP/2: connections are shared by many requests.
    pub fn multiplexed(self) -> bool {
        !matches!(self, Proto::Http | Proto::Https)
    }

    /// True for gRPC instances.
    pub fn grpc(self) -> bool {
        matches!(self, Proto::Grpc | Proto::Grpcs)
    }
}

impl std::str::FromStr for Proto {
    type Err = String;
    fn from_str(value: &str) -> Result<Self, String> {
        const ALL: [Proto; 6] = [Proto::Http, Proto::Https, Proto::H2c, Proto::H2, Proto::Grpc, Proto::Grpcs];
        ALL.into_iter()
            .find(|p| p.as_str() == value)
            .ok_or_else(|| format!("expected http, https, h2c, h2, grpc or grpcs, got {value:?}"))
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
    /// `portico.rate-scope=replica`: the limit holds on each replica, not
    /// over all of them (the default divides it by the live replicas).
    pub per_replica: bool,
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
        Ok(RateSpec { count, period, burst: count, per_replica: false })
    }
}

/// Caching on a route; `default_ttl` applies to responses that name no freshness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheSpec {
    pub default_ttl: Duration,
    /// `portico.stale-if-error`: how long a stale answer may be served when
    /// the instances fail, for responses that do not say (zero: not at all).
    pub stale_if_error: Duration,
}

/// Parses `true`, `false` or a duration (`30s`): the cache option of tags and config.
pub fn parse_cache(value: &str) -> Result<Option<CacheSpec>, String> {
    match parse_bool(value) {
        Ok(true) => Ok(Some(CacheSpec::default())),
        Ok(false) => Ok(None),
        Err(_) => humantime::parse_duration(value)
            .map(|default_ttl| Some(CacheSpec { default_ttl, ..CacheSpec::default() }))
            .map_err(|_| format!("expected true, false or a duration such as 30s, got {value:?}")),
    }
}

/// Builds [`RouteOptions`] one `key = value` at a time; `rate-burst` may come
/// before or after `rate-limit`.
#[derive(Debug, Default)]
pub struct OptionsBuilder {
    options: RouteOptions,
    burst: Option<u32>,
    per_replica: Option<bool>,
    stale_if_error: Option<Duration>,
}

impl OptionsBuilder {
    /// Sets option `key` (tag spelling, `-` or `_` alike) from `value`.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        let o = &mut self.options;
        match key.replace('_', "-").as_str() {
            "strip-prefix" => o.strip_prefix = parse_bool(value)?,
            "lb" => match value.strip_prefix("hash:") {
                Some(key) => (o.policy, o.hash_key) = (Policy::Hash, Some(Box::new(HashKey::parse(key)?))),
                None => (o.policy, o.hash_key) = (value.parse::<Policy>()?, None),
            },
            "max-body" => {
                o.max_body = Some(value.parse().map_err(|_| format!("expected a number of bytes, got {value:?}"))?)
            }
            "auth" => o.auth = Some(value.parse::<AuthScheme>()?),
            "rate-limit" => o.rate = Some(RateSpec::parse(value)?),
            "rate-burst" => {
                self.burst =
                    Some(value.parse::<u32>().ok().filter(|n| *n > 0).ok_or(format!("expected N > 0, got {value:?}"))?)
            }
            "rate-scope" => {
                self.per_replica = Some(match value {
                    "replica" => true,
                    "cluster" => false,
                    _ => return Err(format!("expected replica or cluster, got {value:?}")),
                })
            }
            "cache" => o.cache = parse_cache(value)?,
            "stale-if-error" => {
                self.stale_if_error = Some(
                    humantime::parse_duration(value)
                        .map_err(|_| format!("expected a duration such as 10m, got {value:?}"))?,
                )
            }
            "allow-encoded" => o.allow_encoded = EncodedChars::union(o.allow_encoded, EncodedChars::parse(value)?),
            "match" => o.matchers.add(value)?,
            "proto" => o.proto = value.parse()?,
            "upstream-tls" => o.upstream_tls = Some(profile_name(value)?.into()),
            "request-header" => o.request_headers.add(value)?,
            "response-header" => o.response_headers.add(value)?,
            "canary" => o.canary_mut().share = Some(Share::parse(value)?),
            "canary-tag" => o.canary_mut().tag = Some(canary_tag(value)?),
            "canary-abort" => o.canary_mut().abort_margin = CanarySpec::parse_abort(value)?,
            "canary-window" => o.canary_mut().window = window(value)?,
            "canary-min-requests" => {
                o.canary_mut().min_requests = value.parse().map_err(|_| format!("expected a number, got {value:?}"))?
            }
            other => return Err(format!("unknown option {other:?}")),
        }
        Ok(())
    }

    /// The options, with the burst applied to the rate limit.
    pub fn finish(mut self) -> RouteOptions {
        if let (Some(rate), Some(burst)) = (self.options.rate.as_mut(), self.burst) {
            rate.burst = burst;
        }
        if let (Some(rate), Some(per_replica)) = (self.options.rate.as_mut(), self.per_replica) {
            rate.per_replica = per_replica;
        }
        if let (Some(cache), Some(window)) = (self.options.cache.as_mut(), self.stale_if_error) {
            cache.stale_if_error = window;
        }
        self.options
    }
}

/// Options that may be given more than once (tags and TOML lists).
pub const REPEATABLE: [&str; 4] = ["allow-encoded", "match", "request-header", "response-header"];

/// A TLS profile's name: letters, digits, `-` and `_`.
pub fn profile_name(value: &str) -> Result<&str, String> {
    let valid = !value.is_empty() && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    match valid {
        true => Ok(value),
        false => Err(format!("a TLS profile name is letters, digits, - and _, got {value:?}")),
    }
}

fn canary_tag(value: &str) -> Result<Box<str>, String> {
    match value.trim() {
        "" => Err("the canary tag must not be empty".to_string()),
        tag => Ok(tag.into()),
    }
}

fn window(value: &str) -> Result<Duration, String> {
    humantime::parse_duration(value)
        .ok()
        .filter(|d| *d >= Duration::from_secs(1))
        .ok_or_else(|| format!("expected a duration of at least 1s such as 60s, got {value:?}"))
}

pub fn parse_bool(value: &str) -> Result<bool, String> {
    match value {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(format!("expected true or false, got {value:?}")),
    }
}

#[cfg(test)]
mod tests;
