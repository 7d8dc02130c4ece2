//! Routing: which route a request belongs to.
//!
//! - [`tags`]: the `portico.*` tag language services use to declare routes.
//! - [`path`]: path normalization, so matching cannot be fooled.
//! - [`encoded`]: the encoded characters a route refuses unless it allows them.
//! - [`table`]: the longest-prefix table a snapshot carries.

pub mod encoded;
pub mod path;
pub mod table;
pub mod tags;
