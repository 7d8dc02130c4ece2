//! The data plane: a request's way through the gateway.
//!
//! [`Gateway::handle`] reads as the sequence it performs: normalize the path,
//! load the snapshot, match a route, pick an instance, let go of the snapshot,
//! forward, and stream the answer back. Nothing here calls Consul; a route
//! without edge policies takes no lock (see the crate's map for the locks a
//! rate-limited or cached route takes).
//! The request's [`exchange::Exchange`] records metrics and the access log
//! once the response body has ended.

pub mod body;
mod cached;
pub mod error;
pub mod exchange;
pub mod forward;
pub mod grpc;
pub mod headers;
pub mod idle_sweep;
mod plain;
pub mod policies;
pub mod retry;
pub mod settings;
pub mod steer;
pub mod upgrade;
mod upstream_request;
pub mod validate;

use std::sync::Arc;

use http::{Method, Request, Response};
use hyper::body::Incoming;

use crate::auth::X_AUTH_SUBJECT;
use crate::routing::encoded::EncodedChars;
use crate::routing::host;
use crate::routing::path::normalize;
use crate::server::{Conn, Handler, Handoff, PlainConnection};
use crate::snapshot::{Route, Shared};
use crate::tls::Certificates;
use crate::upstream::TlsProfiles;
pub use body::{ProxyBody, UpstreamBody};
pub use error::ProxyError;
use exchange::Exchange;
use forward::Upstreams;
use headers::RequestIds;
pub use policies::Policies;
pub use settings::ProxySettings;
use steer::Steering;

/// One request past routing: where it goes, whom from, and what records it.
struct Leg<'a> {
    route: &'a Arc<Route>,
    /// The normalized path.
    path: &'a str,
    conn: &'a Conn,
    exchange: &'a mut Exchange,
}

impl Handler for Gateway {
    type Stream = UpstreamBody;

    async fn call(&self, request: Request<Incoming>, conn: Conn) -> Response<ProxyBody> {
        self.handle(request, conn).await
    }

    async fn serve_plain(&self, plain: PlainConnection<'_>) -> Option<Handoff> {
        self.serve_plain_connection(plain).await
    }
}

/// The first encoded character in `path` that `route` does not allow, if any
/// (a path without `%` is not scanned twice: normalization already looked).
fn refused_escape(path: &str, route: &Route) -> Option<&'static str> {
    if !path.contains('%') {
        return None;
    }
    EncodedChars::found_in(path).outside(route.options.allow_encoded).first_escape()
}

/// Everything the request path needs, shared by all connections.
pub struct Gateway {
    /// The current routing snapshot.
    snapshot: Shared,
    /// Connections to instances (kept per instance and thread) and the retry budget.
    upstreams: Upstreams,
    /// Request-ID generator.
    ids: RequestIds,
    /// Timeouts and error details.
    settings: ProxySettings,
    /// Authentication, rate limits and the response cache.
    policies: Arc<Policies>,
    /// Plain-HTTP requests are redirected to this HTTPS port, if set.
    https_redirect: Option<u16>,
    /// The TLS certificates, to refuse a request for a host another certificate serves (421).
    certificates: Option<Arc<Certificates>>,
    /// This gateway, once shared ([`Gateway::into_shared`]): for the work a
    /// request leaves behind (refreshing a stale cache entry).
    me: std::sync::Weak<Gateway>,
}

impl Gateway {
    /// A gateway reading `snapshot`, with `policies` for the routes that ask.
    pub fn new(snapshot: Shared, settings: ProxySettings, policies: Arc<Policies>) -> Gateway {
        let upstreams = Upstreams::new(&settings);
        Gateway {
            snapshot,
            upstreams,
            ids: RequestIds::default(),
            settings,
            policies,
            https_redirect: None,
            certificates: None,
            me: std::sync::Weak::new(),
        }
    }

    /// Shares the gateway among listeners; it keeps a weak handle on itself
    /// for background work.
    pub fn into_shared(self) -> Arc<Gateway> {
        Arc::new_cyclic(|me| Gateway { me: me.clone(), ..self })
    }

    /// A strong handle on this gateway, if it was shared.
    fn shared(&self) -> Option<Arc<Gateway>> {
        self.me.upgrade()
    }

    /// Verifies TLS instances as `tls` says (`[upstream_tls]` and its profiles).
    pub fn with_upstream_tls(mut self, tls: TlsProfiles) -> Gateway {
        self.upstreams = self.upstreams.with_tls(tls);
        self
    }

    /// Refuses (421) a TLS request for a host that has its own certificate,
    /// other than the one its connection was set up for (RFC 9110 §15.5.20).
    pub fn with_certificates(mut self, certificates: Option<Arc<Certificates>>) -> Gateway {
        self.certificates = certificates;
        self
    }

    /// Sends plain-HTTP clients to HTTPS on `port` (308) instead of serving them.
    pub fn redirect_to_https(mut self, port: u16) -> Gateway {
        self.https_redirect = Some(port);
        self
    }

    /// Proxies one request; every failure becomes a JSON error response.
    pub async fn handle(&self, mut request: Request<Incoming>, conn: Conn) -> Response<ProxyBody> {
        if let (Some(port), false) = (self.https_redirect, conn.tls) {
            return headers::redirect_to_https(&request, port);
        }
        let request_id = self.ids.ensure(request.headers_mut());
        let grpc = grpc::is_grpc(request.headers());
        let mut exchange = Exchange::new(&request, request_id.clone(), self.settings.access_log);
        match self.proxy(request, conn, &mut exchange).await {
            Ok(mut response) => {
                response.headers_mut().insert(headers::X_REQUEST_ID.clone(), request_id);
                response
            }
            Err(error) => {
                tracing::debug!(%error, "request failed");
                exchange.status = error.status().as_u16();
                match grpc {
                    true => grpc::error_response(&error, Some(&request_id)),
                    false => error.into_response(Some(&request_id), self.settings.retry_after_secs),
                }
            }
        }
    }

    async fn proxy(
        &self,
        mut request: Request<Incoming>,
        conn: Conn,
        exchange: &mut Exchange,
    ) -> Result<Response<ProxyBody>, ProxyError> {
        if request.method() == Method::CONNECT {
            return Err(ProxyError::MethodNotAllowed);
        }
        validate::check_host(request.version(), request.headers())?;
        let uri = request.uri().clone(); // Bytes-backed: a refcount, not a copy
        let path = normalize(uri.path())?;
        self.check_misdirected(&request, &conn)?;
        let route = self.route(&request, &path)?;
        exchange.route = Some(Arc::clone(&route));
        if let Some(escape) = refused_escape(&path, &route) {
            return Err(ProxyError::EncodedChar(escape));
        }
        // Only Portico says who a client is; a client's own claim is dropped.
        if request.headers().contains_key(&X_AUTH_SUBJECT) {
            request.headers_mut().remove(&X_AUTH_SUBJECT);
        }
        let leg = Leg { route: &route, path: &path, conn: &conn, exchange };
        let mut response = if route.options.has_policies() {
            // Boxed, so the state of the policy path (cache lookups, coalescing)
            // does not enlarge every request's future on routes without policies.
            Box::pin(self.with_policies(request, leg)).await?
        } else {
            self.forward(request, leg).await?
        };
        if !route.options.response_headers.is_empty() {
            route.options.response_headers.apply(response.headers_mut());
        }
        Ok(response)
    }

    /// Picks an instance and sends the request (retrying when safe).
    async fn forward(&self, request: Request<Incoming>, leg: Leg<'_>) -> Result<Response<ProxyBody>, ProxyError> {
        let upstream_path = upstream_request::upstream_path(leg.path, leg.route);
        let steering = self.steering(&request, &leg);
        self.upstreams.send(request, &upstream_path, leg, steering, &self.settings).await
    }

    /// The canary side and hash key of a request (nothing to do on most routes).
    fn steering(&self, request: &Request<Incoming>, leg: &Leg<'_>) -> Steering {
        let route = leg.route;
        if route.canary.is_none() && route.options.hash_key.is_none() {
            return Steering::default();
        }
        let headers = request.headers();
        let client = self.policies.trusted.client_ip(leg.conn.client.ip(), headers);
        steer::steer(route, &steer::Request { headers, path: leg.path, client, tls: leg.conn.tls })
    }

    /// Loads the snapshot, matches host, path and matchers, and lets go of
    /// the snapshot at once. Before Consul has been read, an unknown path may
    /// yet get a route: 503.
    fn route(&self, request: &Request<Incoming>, path: &str) -> Result<Arc<Route>, ProxyError> {
        let snapshot = self.snapshot.load();
        let host = match snapshot.table.has_hosts() {
            true => host::of_request(request.uri(), request.headers()),
            false => None,
        };
        let (method, headers) = (request.method(), request.headers());
        let accept = |r: &Arc<Route>| r.options.matchers.accept(method, headers);
        match snapshot.table.find(host.as_deref(), path, accept) {
            Some(route) => Ok(Arc::clone(route)),
            None if !snapshot.synced => Err(ProxyError::NotReady),
            None => Err(ProxyError::NoRoute),
        }
    }

    /// 421 when the request names a host with a certificate of its own that
    /// is not the one its TLS connection was set up with.
    fn check_misdirected(&self, request: &Request<Incoming>, conn: &Conn) -> Result<(), ProxyError> {
        let (Some(certificates), Some(sni)) = (&self.certificates, &conn.server_name) else { return Ok(()) };
        match host::of_request(request.uri(), request.headers()) {
            Some(host) if certificates.misdirected(sni, &host) => Err(ProxyError::Misdirected),
            _ => Ok(()),
        }
    }
}
