//! Picking an instance for a request.
//!
//! Pure selection: a [`Balancer`] is built with the snapshot and never
//! changes; it picks an index among endpoints from what the caller tells it
//! (their in-flight load, which are eligible), and the only state it touches
//! is an atomic cursor, so picking takes no lock. The cursor survives snapshot
//! swaps (the snapshot's registry carries it), so a rebuilt snapshot keeps
//! its round-robin position. Consistent hashing ([`ring`]) picks by a key
//! the request carries ([`HashKey`]).

pub mod ring;
pub mod wrr;

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// The balancing policy of a route.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Policy {
    /// Each instance in turn.
    #[default]
    RoundRobin,
    /// Smooth weighted round-robin over Consul's `Weights.Passing`.
    WeightedRoundRobin,
    /// Least in-flight of two random instances.
    PowerOfTwo,
    /// Consistent hashing of a request key ([`HashKey`]) on a [`ring::Ring`].
    Hash,
}

impl FromStr for Policy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "rr" | "round-robin" => Ok(Policy::RoundRobin),
            "wrr" | "weighted" => Ok(Policy::WeightedRoundRobin),
            "p2c" | "least-inflight" => Ok(Policy::PowerOfTwo),
            "hash" => Err("hash needs a key: hash:header=NAME, hash:cookie=NAME, hash:ip or hash:path".to_string()),
            _ => Err(format!("unknown balancing policy {s:?} (expected rr, wrr, p2c or hash:KEY)")),
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Policy::RoundRobin => "rr",
            Policy::WeightedRoundRobin => "wrr",
            Policy::PowerOfTwo => "p2c",
            Policy::Hash => "hash",
        })
    }
}

/// Selects among a fixed list of candidates. Knows nothing about Consul.
#[derive(Debug)]
pub struct Balancer {
    policy: Policy,
    /// Position shared by every snapshot of the same service.
    cursor: Arc<AtomicUsize>,
    /// For weighted round-robin: candidate indices in smooth order.
    schedule: Box<[u32]>,
}

impl Balancer {
    /// A balancer for candidates with the given weights.
    pub fn new(policy: Policy, weights: &[u32], cursor: Arc<AtomicUsize>) -> Balancer {
        let schedule = match policy {
            Policy::WeightedRoundRobin => wrr::smooth_schedule(weights),
            _ => Box::default(),
        };
        Balancer { policy, cursor, schedule }
    }

    /// The policy in force.
    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// Index of the candidate to use, or `None` when there is none.
    /// `in_flight(i)` reports candidate `i`'s current load (for p2c).
    pub fn pick(&self, len: usize, in_flight: impl Fn(usize) -> usize) -> Option<usize> {
        match (len, self.policy) {
            (0, _) => None,
            (1, _) => Some(0),
            (_, Policy::RoundRobin) => Some(self.next() % len),
            (_, Policy::WeightedRoundRobin) => {
                let slot = self.next() % self.schedule.len().max(1);
                Some(self.schedule.get(slot).map_or(0, |&i| i as usize).min(len - 1))
            }
            // A hash route picks on its ring; without a key it spreads by load.
            (_, Policy::PowerOfTwo | Policy::Hash) => Some(power_of_two(len, in_flight)),
        }
    }

    /// Like [`Balancer::pick`], but only a candidate `accept` agrees to;
    /// `None` when it accepts none.
    pub fn pick_where(
        &self,
        len: usize,
        in_flight: impl Fn(usize) -> usize,
        accept: impl Fn(usize) -> bool,
    ) -> Option<usize> {
        for _ in 0..len {
            let i = self.pick(len, &in_flight)?;
            if accept(i) {
                return Some(i);
            }
        }
        let start = self.next() % len.max(1);
        (0..len).map(|k| (start + k) % len).find(|&i| accept(i))
    }

    fn next(&self) -> usize {
        self.cursor.fetch_add(1, Ordering::Relaxed)
    }
}

/// What a hash route hashes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HashKey {
    /// A request header's value.
    Header(http::HeaderName),
    /// A cookie's value.
    Cookie(Box<str>),
    /// The client's address.
    Ip,
    /// The normalized path.
    Path,
}

impl HashKey {
    /// Parses what follows `hash:` in `portico.lb=hash:…`.
    pub fn parse(value: &str) -> Result<HashKey, String> {
        match value.split_once('=') {
            Some(("header", name)) => http::HeaderName::from_bytes(name.trim().as_bytes())
                .map(HashKey::Header)
                .map_err(|_| format!("{name:?} is not a header name")),
            Some(("cookie", name))
                if !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic() && b != b'=' && b != b';') =>
            {
                Ok(HashKey::Cookie(name.into()))
            }
            None if value == "ip" => Ok(HashKey::Ip),
            None if value == "path" => Ok(HashKey::Path),
            _ => Err(format!("expected hash:header=NAME, hash:cookie=NAME, hash:ip or hash:path, got hash:{value}")),
        }
    }
}

impl fmt::Display for HashKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HashKey::Header(name) => write!(f, "header={name}"),
            HashKey::Cookie(name) => write!(f, "cookie={name}"),
            HashKey::Ip => f.write_str("ip"),
            HashKey::Path => f.write_str("path"),
        }
    }
}

/// Two distinct random candidates; the less loaded wins, the first on a tie.
fn power_of_two(len: usize, in_flight: impl Fn(usize) -> usize) -> usize {
    let a = fastrand::usize(..len);
    let b = (a + 1 + fastrand::usize(..len - 1)) % len;
    if in_flight(b) < in_flight(a) {
        b
    } else {
        a
    }
}

#[cfg(test)]
mod tests;
