//! How discovery talks to Consul: the agent's address and token, the
//! blocking-query pacing, and TLS to the agent. Filled in by the
//! configuration (flags, environment, TOML); owned here, where it is used.

use std::time::Duration;

/// How discovery talks to Consul.
#[derive(Debug, Clone)]
pub struct ConsulSettings {
    /// Base URL of the agent's HTTP API.
    pub address: String,
    /// ACL token sent as `X-Consul-Token`.
    pub token: Option<String>,
    /// The datacenter to read (`dc=`); `None`: the agent's own.
    pub datacenter: Option<String>,
    /// How the agent's HTTPS API is trusted, and how Portico proves itself to it.
    pub tls: ConsulTls,
    /// Most connections discovery opens to the agent (which allows 200 per
    /// client address by default); over HTTP/2 each carries many watches.
    pub max_connections: usize,
    /// Speak HTTP/2 to an HTTPS agent (false: HTTP/1.1, a connection per watch).
    pub http2: bool,
    /// Services past the connection budget are re-read in full this often
    /// when the catalog changed, for what their checks do not show.
    pub resync: Duration,
    /// `wait` sent with blocking queries.
    pub wait: Duration,
    /// Sustained blocking-query rate per watch (requests per second).
    pub rate: f64,
    /// Requests a watch may make back to back before the rate applies.
    pub burst: u32,
    /// First retry delay after a failed query; doubles up to `backoff_max`.
    pub backoff_base: Duration,
    /// Longest retry delay.
    pub backoff_max: Duration,
    /// Bursts of updates closer than this are folded into one snapshot.
    pub coalesce: Duration,
    /// After Consul's state is reset, routes and instances it no longer
    /// reports are kept this long while it refills (zero: never).
    pub reset_grace: Duration,
}

/// TLS to the agent: Consul's CLI settings, in [`crate::client_tls`]'s terms.
pub type ConsulTls = crate::client_tls::ClientTls;

impl Default for ConsulSettings {
    fn default() -> Self {
        ConsulSettings {
            address: "http://127.0.0.1:8500".into(),
            token: None,
            datacenter: None,
            tls: ConsulTls::default(),
            max_connections: 100,
            http2: true,
            resync: Duration::from_secs(60),
            wait: Duration::from_secs(300),
            rate: 20.0,
            burst: 20,
            backoff_base: Duration::from_millis(100),
            backoff_max: Duration::from_secs(10),
            coalesce: Duration::from_millis(5),
            reset_grace: Duration::from_secs(15),
        }
    }
}
