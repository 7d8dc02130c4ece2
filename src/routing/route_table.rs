//! The table a snapshot matches requests against: host first, then path,
//! then the routes' own matchers.
//!
//! Three tiers, tried in order: routes for the request's exact host, routes
//! for a wildcard covering it (the longest suffix first), routes for any
//! host. Within a tier, prefixes are tried longest first; at one (host,
//! prefix), routes with matchers come before the plain one. The first route
//! that accepts the request wins, so a request that fails a route's
//! matchers falls through to the next candidate. A table with no host and
//! no matcher costs what the plain prefix table costs.

use std::collections::HashMap;
use std::iter;

use super::host::{parent_domains, HostPattern};
use super::table::PrefixTable;

/// A route to place: its host pattern, prefix and unique key.
pub struct Placed<T> {
    pub host: HostPattern,
    pub prefix: String,
    pub key: String,
    pub value: T,
}

/// Per host name of one tier: its (prefix, routes) pairs, before they become a table.
type Tier<T> = HashMap<Box<str>, Vec<(String, Box<[T]>)>>;

/// Routes by host tier, prefix and priority.
#[derive(Debug)]
pub struct RouteTable<T> {
    any: PrefixTable<Box<[T]>>,
    exact: HashMap<Box<str>, PrefixTable<Box<[T]>>>,
    wildcard: HashMap<Box<str>, PrefixTable<Box<[T]>>>,
    by_key: HashMap<Box<str>, T>,
}

impl<T> Default for RouteTable<T> {
    fn default() -> Self {
        RouteTable {
            any: PrefixTable::default(),
            exact: HashMap::new(),
            wildcard: HashMap::new(),
            by_key: HashMap::new(),
        }
    }
}

impl<T: Clone> RouteTable<T> {
    /// A table of `routes`, given in priority order within each (host, prefix).
    pub fn new(routes: Vec<Placed<T>>) -> RouteTable<T> {
        let mut grouped: HashMap<(HostPattern, String), Vec<T>> = HashMap::new();
        let mut by_key = HashMap::with_capacity(routes.len());
        for placed in routes {
            by_key.insert(placed.key.into_boxed_str(), placed.value.clone());
            grouped.entry((placed.host, placed.prefix)).or_default().push(placed.value);
        }
        let mut tiers: [Tier<T>; 3] = Default::default();
        for ((host, prefix), values) in grouped {
            let (tier, name) = match host {
                HostPattern::Any => (0, Box::from("")),
                HostPattern::Wildcard(suffix) => (1, suffix),
                HostPattern::Exact(name) => (2, name),
            };
            tiers[tier].entry(name).or_default().push((prefix, values.into_boxed_slice()));
        }
        let [mut any, wildcard, exact] = tiers.map(|tier| -> HashMap<Box<str>, PrefixTable<Box<[T]>>> {
            tier.into_iter().map(|(name, entries)| (name, entries.into_iter().collect())).collect()
        });
        let any = any.remove("").unwrap_or_default();
        RouteTable { any, exact, wildcard, by_key }
    }
}

impl<T> RouteTable<T> {
    /// True when some route names a host: only then is the request's host needed.
    pub fn has_hosts(&self) -> bool {
        !self.exact.is_empty() || !self.wildcard.is_empty()
    }

    /// The first route, in priority order, whose host and prefix fit and that
    /// `accept` agrees to. `host` is reduced ([`super::host::request_host`]).
    pub fn find(&self, host: Option<&str>, path: &str, mut accept: impl FnMut(&T) -> bool) -> Option<&T> {
        self.tiers(host)
            .find_map(|table| table.candidates(path).find_map(|(_, routes)| routes.iter().find(|r| accept(r))))
    }

    /// The prefix tables that apply to `host`, most specific first.
    fn tiers<'a, 'h>(&'a self, host: Option<&'h str>) -> impl Iterator<Item = &'a PrefixTable<Box<[T]>>> + 'h
    where
        'a: 'h,
    {
        let host = host.filter(|_| self.has_hosts());
        let exact = host.and_then(|h| self.exact.get(h));
        let wildcards = host.into_iter().flat_map(|h| parent_domains(h).filter_map(|p| self.wildcard.get(p)));
        exact.into_iter().chain(wildcards).chain(iter::once(&self.any))
    }

    /// Every route in priority order that could serve `host` and `path`,
    /// whatever its matchers say (for `/admin/explain`).
    pub fn candidates<'a, 'q>(&'a self, host: Option<&'q str>, path: &'q str) -> impl Iterator<Item = &'a T> + 'q
    where
        'a: 'q,
    {
        self.tiers(host).flat_map(move |table| table.candidates(path).flat_map(|(_, routes)| routes.iter()))
    }

    /// The route with this key.
    pub fn get(&self, key: &str) -> Option<&T> {
        self.by_key.get(key)
    }

    /// Number of routes.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// True when there is no route.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// Every route, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.by_key.values()
    }
}

#[cfg(test)]
mod tests;
