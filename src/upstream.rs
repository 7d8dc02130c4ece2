//! Upstream endpoints: what Portico knows about one instance and how it
//! talks to it, below both the balancer (which only chooses among endpoints)
//! and the proxy (which forwards through them).
//!
//! - [`Endpoint`]: an instance's address, its balancing state and its idle
//!   connections, as separate fields;
//! - [`state`]: the counters the balancer reads (in flight, failures,
//!   ejection, slow start);
//! - [`pool`]: HTTP/1.1 connections, driven by the request that uses them,
//!   and the idle ones kept per instance and proxy thread;
//! - [`wire`]: plain HTTP/1.1 connections that the gateway's own HTTP/1.1
//!   path reads and writes itself, idle in the same queues;
//! - [`multiplex`]: HTTP/2 connections, shared by many requests, with
//!   [`peer_limit`] reading how many streams an instance takes;
//! - [`lease`]: what a response body holds while it streams (a connection
//!   or a stream);
//! - [`outbound`]: the request body as sent upstream (buffered head, limits);
//! - [`stream`]: plain TCP or TLS under a connection, for HTTPS instances,
//!   with the settings of [`tls_profiles`];
//! - [`idle`]: the stall detector for bodies;
//! - [`budget`]: how many retries a route can afford.

pub mod budget;
pub mod idle;
pub mod lease;
pub mod multiplex;
pub mod outbound;
pub mod peer_limit;
pub mod pool;
pub mod state;
pub mod stream;
pub mod tls_profiles;
pub mod wake_flag;
pub mod wire;

use std::sync::Arc;

use http::uri::Authority;

pub use budget::{BudgetPolicy, RetryBudget};
pub use lease::Lease;
pub use pool::Connections;
pub use state::{clock_ms, Ejection, InFlight, InstanceState};
pub use stream::UpstreamTls;
pub use tls_profiles::TlsProfiles;

/// One instance, ready to receive requests.
#[derive(Debug)]
pub struct Endpoint {
    /// Consul service ID (unique per node, not per cluster).
    pub id: Box<str>,
    /// The Consul node it is registered on: with the ID, the instance's identity.
    pub node: Box<str>,
    /// `host:port`, parsed once here instead of once per request.
    pub authority: Authority,
    /// Consul `Weights.Passing`.
    pub weight: u32,
    /// Counters that outlive this snapshot.
    pub state: Arc<InstanceState>,
    /// Open connections to the instance waiting for a request; outlive this snapshot too.
    pub connections: Arc<Connections>,
}

impl Endpoint {
    /// `ejected` while passive outlier detection holds it out, else `serving`.
    pub fn state_name(&self, now_ms: u64) -> &'static str {
        if self.state.is_ejected(now_ms) {
            "ejected"
        } else {
            "serving"
        }
    }
}
