//! How the proxy treats clients and upstreams: timeouts, retries, limits,
//! outlier ejection. Filled in by the configuration; owned here, where it is used.

use std::time::Duration;

use crate::upstream::Ejection;

/// How the proxy treats clients and upstreams.
#[derive(Debug, Clone)]
pub struct ProxySettings {
    /// Upstream TCP connect timeout.
    pub connect_timeout: Duration,
    /// A request or response body that makes no progress this long ends its exchange.
    pub body_idle_timeout: Duration,
    /// Time allowed from sending a request to receiving response headers.
    pub response_timeout: Duration,
    /// Idle pooled upstream connections are closed after this long.
    pub pool_idle_timeout: Duration,
    /// Clients must send full request headers within this time.
    pub header_read_timeout: Duration,
    /// On shutdown, in-flight requests get this long to finish.
    pub shutdown_grace: Duration,
    /// After SIGTERM, keep serving this long while `/healthz` says 503, so a
    /// load balancer in front stops sending first.
    pub drain_delay: Duration,
    /// `Retry-After` seconds sent with a 503 for a route with no instance.
    pub retry_after_secs: u32,
    /// Log one line per request.
    pub access_log: bool,
    /// Attempts after the first, each on another instance, when that is safe.
    pub max_retries: u32,
    /// Retries may add at most this share of requests.
    pub retry_budget: f64,
    /// Retries allowed at once before the share applies (a reserve for quiet times).
    pub retry_reserve: u32,
    /// Request bodies up to this size are read whole first (replayable; checked before forwarding).
    pub body_buffer: usize,
    /// Largest request body accepted, unless a route says otherwise (413 over it).
    pub max_body: Option<u64>,
    /// Passive outlier detection.
    pub ejection: Ejection,
    /// New instances ramp up to their full share over this long (zero: off).
    pub slow_start: Duration,
    /// Client connections served at once; more are refused with 503.
    pub max_connections: usize,
    /// Largest request head (request line and headers) accepted; 431 over it.
    pub max_header_bytes: usize,
    /// Threads serving proxied connections, each with a runtime of its own.
    pub threads: usize,
    /// Plain requests (`GET`/`HEAD` without a body on a route without
    /// policies) take the gateway's own HTTP/1.1 path instead of hyper's.
    pub fast_path: bool,
}

impl Default for ProxySettings {
    fn default() -> Self {
        ProxySettings {
            connect_timeout: Duration::from_secs(2),
            body_idle_timeout: Duration::from_secs(60),
            response_timeout: Duration::from_secs(60),
            pool_idle_timeout: Duration::from_secs(30),
            header_read_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(30),
            drain_delay: Duration::ZERO,
            retry_after_secs: 1,
            access_log: true,
            max_retries: 2,
            retry_budget: 0.2,
            retry_reserve: 10,
            body_buffer: 64 * 1024,
            max_body: None,
            ejection: Ejection::default(),
            slow_start: Duration::ZERO,
            max_connections: 10_000,
            max_header_bytes: 64 * 1024,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            fast_path: true,
        }
    }
}
