//! Routing: which route a request belongs to.
//!
//! - [`tags`]: the `portico.*` tag language services use to declare routes.
//! - [`options`]: a route's options, one type for tags and the TOML file.
//! - [`path`]: path normalization, so matching cannot be fooled.
//! - [`encoded`]: the encoded characters a route refuses unless it allows them.
//! - [`table`]: the longest-prefix table a snapshot carries.

pub mod encoded;
pub mod options;
pub mod path;
pub mod table;
pub mod tags;

use options::RouteOptions;

/// A route declared by the operator rather than by a Consul tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticRoute {
    /// Normalized path prefix, e.g. `/products`.
    pub prefix: String,
    /// Consul service whose passing instances serve the prefix.
    pub service: String,
    /// Per-route options (strip-prefix, balancing policy).
    pub options: RouteOptions,
}
