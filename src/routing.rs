//! Routing: which route a request belongs to.
//!
//! - [`tags`]: the `portico.*` tag language services use to declare routes.
//! - [`options`]: a route's options, one type for tags and the TOML file.
//! - [`path`]: path normalization, so matching cannot be fooled.
//! - [`encoded`]: the encoded characters a route refuses unless it allows them.
//! - [`host`]: host patterns and the request's host, in one reduced form.
//! - [`matchers`]: method and header conditions on a route.
//! - [`rewrite`]: request and response header rules.
//! - [`table`]: the longest-prefix table; [`route_table`]: host tiers over
//!   it, with candidates in priority order, which a snapshot carries.

pub mod encoded;
pub mod host;
pub mod matchers;
pub mod options;
pub mod path;
pub mod rewrite;
pub mod route_table;
pub mod table;
pub mod tags;

use host::HostPattern;
use options::RouteOptions;

/// A route's key: its host, prefix and matchers, unique in a snapshot
/// (`/cart`, `shop.example.com/api`, `/cart [header:x-canary=1]`). Metric
/// labels, retry budgets and cache entries are kept per key.
pub fn route_key(host: &HostPattern, prefix: &str, options: &RouteOptions) -> String {
    match options.matchers.is_empty() {
        true => format!("{host}{prefix}"),
        false => format!("{host}{prefix} [{}]", options.matchers),
    }
}

/// A route declared by the operator rather than by a Consul tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticRoute {
    /// The hosts it answers for (any by default).
    pub host: HostPattern,
    /// Normalized path prefix, e.g. `/products`.
    pub prefix: String,
    /// Consul service whose passing instances serve the prefix.
    pub service: String,
    /// Per-route options (strip-prefix, balancing policy).
    pub options: RouteOptions,
}
