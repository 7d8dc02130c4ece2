//! Portico: a Consul-driven API gateway and load balancer.
//!
//! # Layout
//! Two planes meet at one immutable [`snapshot::Snapshot`] published through an
//! `ArcSwap`: the control plane builds it off the request path, the data plane
//! only ever loads it.
//!
//! Control plane (all Consul I/O and all waiting lives here):
//! - [`config`]: flags, environment and TOML merged into one validated [`Config`].
//! - [`consul`]: a thin Consul HTTP client: blocking-query index rules, JSON types.
//! - [`discovery`]: the catalog watch and one health watch per routed service,
//!   each a rate-limited blocking-query loop with backoff; emits [`discovery::Update`]s.
//! - [`snapshot`]: the snapshot type; the view of what discovery reported (held
//!   through Consul resets); the builder that turns view plus static routes into
//!   a new snapshot, coalescing bursts of updates.
//! - [`routing`]: `portico.*` tag parsing, path normalization and the
//!   longest-prefix route table.
//! - [`balance`]: instance selection (round-robin, smooth weighted round-robin,
//!   power-of-two-choices) and the per-instance state that survives snapshot
//!   swaps: in-flight counts, passive outlier ejection, slow start.
//!
//! Data plane (no locks, no Consul call, nothing awaited while holding the snapshot):
//! - [`proxy`]: the accept loop with its connection limits, the proxy threads
//!   (a single-threaded runtime each) it deals connections to, the request path
//!   (route → pick → forward, retried on another instance when safe), upstream
//!   connections driven by the request that uses them, request bodies, header
//!   rules, upgrades, the per-request record, and the one place where errors
//!   become JSON responses.
//! - [`admin`]: the admin listener: `/healthz`, `/metrics`, `/admin/routes`,
//!   `/admin/cache`, and the live dashboard with its event stream.
//!
//! Edge policies (per route, opted into by tags or config; a route without
//! them never touches these modules; the order is in [`proxy::policies`]):
//! - [`tls`]: the HTTPS listener's certificates, chosen by SNI, swapped on reload.
//! - [`auth`]: API keys and JWT bearer tokens; the identity sent upstream.
//! - [`ratelimit`]: per-client GCRA limits keyed by identity or address, with
//!   a sweeper that bounds their memory.
//! - [`cache`]: the RFC 9111 response cache, bounded in bytes, with request
//!   coalescing.
//!
//! Observability (read by the admin listener, fed by atomics on the request path):
//! - [`metrics`]: Prometheus metrics; per-route handles are made with the snapshot.
//! - [`traffic`]: per-instance request rates and shares, sampled four times a second.
//!
//! Shared: [`error_chain`] turns an error and its causes into one line;
//! [`log_throttle`] keeps warnings on hot failure paths to one line a second.
//!
//! [`run`] wires them together; `main.rs` only parses flags and waits for signals.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod admin;
pub mod auth;
pub mod balance;
pub mod cache;
pub mod config;
pub mod consul;
pub mod discovery;
pub mod error_chain;
pub mod log_throttle;
pub mod metrics;
pub mod proxy;
pub mod ratelimit;
pub mod routing;
pub mod runtime;
pub mod snapshot;
pub mod tls;
pub mod traffic;

pub use config::Config;
pub use runtime::{run, run_with_reload, Listeners, StartError};
