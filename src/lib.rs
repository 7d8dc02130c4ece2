//! Portico: a Consul-driven API gateway and load balancer.
//!
//! # Layout
//! Two planes meet at one immutable [`snapshot::Snapshot`] published through an
//! `ArcSwap`: the control plane builds it off the request path, the data plane
//! only ever loads it. The modules are layered: each imports only modules
//! listed before it here (a test, `tests/architecture.rs`, fails on any
//! import cycle), and only [`runtime`] and `main` read [`config`]; every
//! other module owns its settings type.
//!
//! Leaves (they import nothing else from the crate):
//! - [`client_tls`]: TLS as a client (trust, client certificate, name
//!   override), for the Consul agent and for HTTPS instances.
//! - [`http1`]: HTTP/1.1 on the wire for the plain proxied request: which
//!   requests are plain, how an answer is framed, both heads rewritten from
//!   their bytes.
//! - [`error_chain`]: an error and its causes as one line; [`log_throttle`]:
//!   warnings on hot failure paths, one a second; [`logging`]: log set-up.
//! - [`metrics`]: Prometheus families and the per-route handles the request
//!   path touches; state gauges come from a collector registered by the caller.
//! - [`balance`]: pure selection among endpoints (round-robin, smooth
//!   weighted round-robin, power-of-two-choices, a consistent-hash ring).
//! - [`upstream`]: an endpoint (address, balancing state, connections), the
//!   HTTP/1.1 connections driven by the request that uses them (hyper's,
//!   and the fast path's plain ones), the HTTP/2
//!   connections shared by many (each its own task), TLS to instances and
//!   its profiles, the request body as sent, body stall timers, and the
//!   retry budget.
//!
//! - [`canary`]: canary shares, the client buckets that keep a client on its
//!   side, and the sliding window that aborts a failing canary.
//!
//! Routing and edge policies:
//! - [`routing`]: path normalization, refused encoded characters, route
//!   options (one type for tags and TOML), `portico.*` tag parsing, host
//!   patterns, matchers and header rules, the longest-prefix table under
//!   host tiers, and static routes.
//! - [`tls`] (certificates by SNI), [`auth`] (API keys, JWT), [`ratelimit`]
//!   (per-client GCRA), [`cache`] (RFC 9111 storage and rules): each opted
//!   into per route; a route without them never touches these modules.
//!
//! Control plane (all Consul I/O and all waiting lives here):
//! - [`consul`]: the Consul HTTP client (TLS, ACL token, datacenter; HTTP/2
//!   lanes to an HTTPS agent), blocking-query index rules, JSON types, its settings.
//! - [`discovery`]: the catalog watch and one health watch per routed service,
//!   each a rate-limited blocking-query loop with backoff, within a fixed
//!   budget of connections to the agent; past it, one shared feed on every
//!   check; emits [`discovery::Update`]s.
//! - [`snapshot`]: the snapshot type; the view of what discovery reported;
//!   the registry of state carried across swaps; the builder that turns view
//!   plus static routes into a new snapshot, coalescing bursts of updates
//!   and reusing the routes of services that did not change.
//!
//! Data plane (no Consul call, nothing awaited while holding the snapshot):
//! - [`server`]: serving HTTP for every listener: the accept loop with its
//!   connection limits, the proxy threads, the handler trait (which may
//!   serve a plain connection itself before handing it to hyper), the
//!   response body type and JSON errors.
//! - [`proxy`]: the [`proxy::Gateway`] handler (one for every public
//!   listener): route → policies → steer (canary side, hash key) → pick →
//!   forward, retried on another instance when safe; header rules, upgrades,
//!   the per-request record, and where errors become responses (gRPC
//!   statuses for gRPC clients). A plain `GET`/`HEAD` on a route without
//!   policies takes the gateway's own HTTP/1.1 path (the fast path, over
//!   [`http1`] and plain upstream connections of its own); anything else
//!   hands its connection to hyper. A route without edge policies takes no
//!   lock; a rate-limited route takes one shard lock of its limiter's map
//!   (dashmap), a cached route the cache's own (moka) and, on a miss, the
//!   mutex of the table that coalesces fetches ([`cache::flight`]). An
//!   HTTP/2 route takes a lock only to open a connection, when every one it
//!   has to the instance on this thread is full.
//! - [`traffic`]: per-instance request rates and shares, sampled four times a second.
//! - [`replicas`]: this replica's registration in Consul, the live replicas
//!   (which divide cluster-wide rate limits), and cache purges sent to all
//!   of them as Consul events.
//! - [`admin`]: the admin listener: `/healthz`, `/metrics` (and the state
//!   gauges it reads at scrape time), `/admin/routes`, `/admin/explain`,
//!   `/admin/cache`, and the live dashboard with its event stream.
//!
//! Top: [`config`] merges flags, environment and TOML into one validated
//! [`Config`]; [`runtime`] wires everything together ([`run`]); `main.rs`
//! only parses flags and waits for signals.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod admin;
pub mod auth;
pub mod balance;
pub mod cache;
pub mod canary;
pub mod client_tls;
pub mod config;
pub mod consul;
pub mod discovery;
pub mod error_chain;
pub mod http1;
pub mod log_throttle;
pub mod logging;
pub mod metrics;
pub mod proxy;
pub mod ratelimit;
pub mod replicas;
pub mod routing;
pub mod runtime;
pub mod server;
pub mod snapshot;
pub mod tls;
pub mod traffic;
pub mod upstream;

pub use config::Config;
pub use runtime::{run, run_with_reload, Listeners, StartError};
