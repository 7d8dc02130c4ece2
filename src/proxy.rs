//! The data plane: a request's way through the gateway.
//!
//! [`Gateway::handle`] reads as the sequence it performs: normalize the path,
//! load the snapshot, match a route, pick an instance, let go of the snapshot,
//! forward, and stream the answer back. Nothing here locks or calls Consul.
//! The request's [`exchange::Exchange`] records metrics and the access log
//! once the response body has ended.

pub mod body;
pub mod error;
pub mod exchange;
pub mod forward;
pub mod headers;
pub mod outbound;
pub mod retry;
pub mod server;
pub mod upgrade;

use std::net::SocketAddr;
use std::sync::Arc;

use http::{Method, Request, Response};
use hyper::body::Incoming;

use crate::config::ProxySettings;
use crate::routing::path::normalize;
use crate::snapshot::{Route, Shared};
pub use body::ProxyBody;
pub use error::ProxyError;
use exchange::Exchange;
use forward::Upstreams;
use headers::RequestIds;

/// Everything the request path needs, shared by all connections.
pub struct Gateway {
    /// The current routing snapshot.
    snapshot: Shared,
    /// Pooled connections to instances.
    upstreams: Upstreams,
    /// Request-ID generator.
    ids: RequestIds,
    /// Timeouts and error details.
    settings: ProxySettings,
}

impl Gateway {
    /// A gateway reading `snapshot`.
    pub fn new(snapshot: Shared, settings: ProxySettings) -> Gateway {
        Gateway { snapshot, upstreams: Upstreams::new(&settings), ids: RequestIds::default(), settings }
    }

    /// Proxies one request; every failure becomes a JSON error response.
    pub async fn handle(&self, mut request: Request<Incoming>, client: SocketAddr) -> Response<ProxyBody> {
        let request_id = self.ids.ensure(request.headers_mut());
        let mut exchange = Exchange::new(
            request.method().clone(),
            request.uri().clone(),
            request_id.clone(),
            self.settings.access_log,
        );
        match self.proxy(request, client, &mut exchange).await {
            Ok(mut response) => {
                response.headers_mut().insert(headers::X_REQUEST_ID.clone(), request_id);
                response
            }
            Err(error) => {
                tracing::debug!(%error, "request failed");
                exchange.status = error.status().as_u16();
                error.into_response(Some(&request_id), self.settings.retry_after_secs)
            }
        }
    }

    async fn proxy(
        &self,
        request: Request<Incoming>,
        client: SocketAddr,
        exchange: &mut Exchange,
    ) -> Result<Response<ProxyBody>, ProxyError> {
        if request.method() == Method::CONNECT {
            return Err(ProxyError::MethodNotAllowed);
        }
        let uri = request.uri().clone(); // Bytes-backed: a refcount, not a copy
        let path = normalize(uri.path())?;
        let route = self.route(&path)?;
        exchange.route = Some(Arc::clone(&route));
        let upstream_path = forward::upstream_path(&path, &route);
        self.upstreams.send(request, &upstream_path, &route, client, &self.settings, exchange).await
    }

    /// Loads the snapshot, matches, and lets go of the snapshot at once.
    fn route(&self, path: &str) -> Result<Arc<Route>, ProxyError> {
        self.snapshot.load().route(path).cloned().ok_or(ProxyError::NoRoute)
    }
}
