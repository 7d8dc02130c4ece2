//! Canary releases: a fixed share of a route's traffic goes to the canary
//! instances, whatever the instance counts, each client stays on its side,
//! and a canary that fails more than the stable side is taken out on its own.
//!
//! - An instance is a canary when its own Consul tags carry
//!   `portico.canary=P%`, or the tag named by `portico.canary-tag` (Nomad's
//!   `canary_tags`). The share P is the route's.
//! - Every client has a bucket in 0..10,000: the hash of its authenticated
//!   identity, else the bucket in the cookie Portico gave it, else the hash
//!   of its address (and Portico then gives it that cookie). A bucket below
//!   the share in basis points goes to the canary. Hashes are fixed, so every
//!   replica puts a client on the same side, and raising the share only ever
//!   moves clients from stable to canary.
//! - [`health`]: both sides' 5xx rates over a sliding window, and the abort.

pub mod health;

use std::fmt;
use std::time::Duration;

use crate::balance::ring::stable_hash;

/// The tag (and option) that declares a canary and its share.
pub const CANARY_TAG: &str = "portico.canary=";

/// Buckets a share is counted in: basis points.
pub const BUCKETS: u32 = 10_000;

/// A share of traffic in basis points (0..=10,000).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Share(u32);

impl Share {
    /// Parses `5%`, `0.5%` or `12.25%` (two decimals at most).
    pub fn parse(value: &str) -> Result<Share, String> {
        let bad = || format!("expected a percentage from 0% to 100% such as 5% or 0.5%, got {value:?}");
        let number = value.trim().strip_suffix('%').ok_or_else(bad)?;
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if whole.is_empty()
            || fraction.len() > 2
            || !(whole.bytes().chain(fraction.bytes())).all(|b| b.is_ascii_digit())
        {
            return Err(bad());
        }
        let whole: u32 = whole.parse().map_err(|_| bad())?;
        let fraction: u32 = format!("{fraction:0<2}").parse().map_err(|_| bad())?;
        let basis_points = whole.checked_mul(100).and_then(|w| w.checked_add(fraction)).ok_or_else(bad)?;
        if basis_points > BUCKETS {
            return Err(bad());
        }
        Ok(Share(basis_points))
    }

    /// A share of `basis_points` / 10,000 (capped at all of it).
    pub fn from_basis_points(basis_points: u32) -> Share {
        Share(basis_points.min(BUCKETS))
    }

    pub fn basis_points(self) -> u32 {
        self.0
    }

    /// As a fraction of 1.
    pub fn ratio(self) -> f64 {
        f64::from(self.0) / f64::from(BUCKETS)
    }
}

impl fmt::Display for Share {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 % 100 {
            0 => write!(f, "{}%", self.0 / 100),
            rest => write!(f, "{}.{:02}%", self.0 / 100, rest),
        }
    }
}

/// A route's canary settings (`portico.canary*` options).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CanarySpec {
    /// Share of traffic to the canary instances.
    pub share: Option<Share>,
    /// A tag that marks canary instances besides `portico.canary=P%`.
    pub tag: Option<Box<str>>,
    /// How far the canary's 5xx rate may exceed the stable side's (None: never abort).
    pub abort_margin: Option<Share>,
    /// The sliding window the rates are measured over.
    pub window: Duration,
    /// Canary requests in the window before a verdict is allowed.
    pub min_requests: u32,
}

impl Default for CanarySpec {
    fn default() -> Self {
        CanarySpec::DEFAULT
    }
}

impl CanarySpec {
    /// No share, no tag; abort at a 10% margin over 60 s after 20 requests.
    pub const DEFAULT: CanarySpec = CanarySpec {
        share: None,
        tag: None,
        abort_margin: Some(Share(1_000)),
        window: Duration::from_secs(60),
        min_requests: 20,
    };

    /// True when an instance with these tags is a canary.
    pub fn is_canary(&self, instance_tags: &[String]) -> bool {
        instance_tags.iter().any(|t| t.starts_with(CANARY_TAG) || self.tag.as_deref().is_some_and(|mine| **t == *mine))
    }

    /// Parses `portico.canary-abort`: a margin such as `10%`, or `off`.
    pub fn parse_abort(value: &str) -> Result<Option<Share>, String> {
        match value {
            "off" | "false" | "never" => Ok(None),
            margin => Share::parse(margin).map(Some),
        }
    }
}

/// Which instances of a route a request goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Side {
    #[default]
    Stable,
    Canary,
}

impl Side {
    /// The side of a client in `bucket` when the canary has `share`.
    pub fn of(bucket: u32, share: Share) -> Side {
        if bucket < share.0 {
            Side::Canary
        } else {
            Side::Stable
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Side::Stable => "stable",
            Side::Canary => "canary",
        }
    }
}

/// The bucket of a client key (identity or address).
pub fn bucket_of(key: &[u8]) -> u32 {
    (stable_hash(key) % u64::from(BUCKETS)) as u32
}

/// The bucket a `portico_canary` cookie value names, if it is one.
pub fn parse_bucket(value: &str) -> Option<u32> {
    value.parse::<u32>().ok().filter(|b| *b < BUCKETS)
}

#[cfg(test)]
mod tests;
