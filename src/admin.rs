//! The admin listener: `/healthz`, `/metrics`, `/admin/routes`,
//! `/admin/dashboard` and its event stream `/admin/events`, and
//! `/admin/cache` (`GET` for usage, `DELETE` to purge, on every replica),
//! and `/admin/replicas` (the live replicas Consul reports).
//!
//! A separate listener (loopback by default), so nothing here is ever
//! reachable through the public port. With a token configured, every
//! endpoint but `/healthz` wants `Authorization: Bearer <token>`; the
//! dashboard and its event stream also take `?token=`, because a browser's
//! EventSource cannot send headers.

mod cache;
mod dashboard;
mod explain;
mod routes;
pub mod scrape;

use std::sync::Arc;

use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::auth::bearer_token;
use crate::consul::Client;
use crate::discovery::Statuses;
use crate::metrics::Metrics;
use crate::proxy::Policies;
use crate::replicas::Cluster;
use crate::server::json_response;
use crate::server::{Body, Conn, Handler, NoStream};
use crate::snapshot::Shared;
use crate::traffic::Traffic;

/// What the admin endpoints read.
pub struct Admin {
    /// The routing snapshot in force.
    pub snapshot: Shared,
    /// The health of every Consul watch.
    pub statuses: Statuses,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Recent traffic per instance.
    pub traffic: Traffic,
    /// Required bearer token, if any.
    pub token: Option<String>,
    /// The edge policies (for the response cache).
    pub policies: Arc<Policies>,
    /// Set once shutdown has begun: `/healthz` says 503 while requests drain.
    pub draining: CancellationToken,
    /// The Consul agent, for `/admin/explain`'s failing checks (none: not asked).
    pub consul: Option<Client>,
    /// The other replicas, and purges that reach them.
    pub cluster: Cluster,
}

impl Admin {
    /// Lists the replicas at `/admin/replicas`, and purges on all of them.
    pub fn with_cluster(mut self, cluster: Cluster) -> Admin {
        self.cluster = cluster;
        self
    }
}

impl Handler for Admin {
    type Stream = NoStream;

    async fn call(&self, request: Request<Incoming>, _conn: Conn) -> Response<Body> {
        let path = request.uri().path();
        let purging = request.method() == Method::DELETE && path == "/admin/cache";
        if request.method() != Method::GET && request.method() != Method::HEAD && !purging {
            return error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
        }
        if path != "/healthz" && !self.authorized(&request) {
            let mut response = error(StatusCode::UNAUTHORIZED, "missing or wrong admin token");
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"portico-admin\""));
            return response;
        }
        match path {
            "/healthz" => self.healthz(),
            "/metrics" => self.metrics(),
            "/admin/routes" => json_response(
                StatusCode::OK,
                &routes::report(&self.snapshot.load(), &self.statuses, &self.traffic.latest()),
            ),
            "/admin/explain" => {
                explain::explain(&self.snapshot.load(), request.uri().query(), self.consul.as_ref()).await
            }
            "/admin/dashboard" => dashboard::page(),
            "/admin/events" => dashboard::events(&self.traffic),
            "/admin/cache" if purging => {
                cache::purge(&self.policies.cache, self.cluster.purges.as_deref(), request.uri().query()).await
            }
            "/admin/replicas" => json_response(StatusCode::OK, &self.cluster.replicas.report()),
            "/admin/cache" => cache::stats(&self.policies.cache).await,
            _ => error(StatusCode::NOT_FOUND, "not found"),
        }
    }
}

impl Admin {
    /// Readiness: 200 once Consul has been read (the catalog, and the health
    /// of every routed service, or [`READY_WITHIN`] after the catalog if some
    /// health reply is late), 503 before that and while shutting down, so a
    /// load balancer sends traffic only when it can be served.
    fn healthz(&self) -> Response<Body> {
        let snapshot = self.snapshot.load();
        let waited = snapshot.catalog_at.is_some_and(|at| at.elapsed() >= READY_WITHIN);
        let ready = snapshot.synced && (snapshot.pending == 0 || waited);
        let (status, code) = match (self.draining.is_cancelled(), ready) {
            (true, _) => ("draining", StatusCode::SERVICE_UNAVAILABLE),
            (false, false) => ("starting", StatusCode::SERVICE_UNAVAILABLE),
            (false, true) => ("ok", StatusCode::OK),
        };
        let body = json!({
            "status": status,
            "synced": snapshot.synced,
            "pending_services": snapshot.pending,
            "generation": snapshot.generation,
            "staleness_seconds": self.statuses.staleness(),
        });
        let mut response = json_response(code, &body);
        if code != StatusCode::OK {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }

    fn metrics(&self) -> Response<Body> {
        let text = self.metrics.render();
        let mut response = Response::new(Body::full(text));
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
        );
        response
    }

    fn authorized(&self, request: &Request<Incoming>) -> bool {
        let Some(token) = &self.token else { return true };
        let bearer = bearer_token(request.headers()).map(std::borrow::Cow::Borrowed);
        let query = form_urlencoded::parse(request.uri().query().unwrap_or_default().as_bytes())
            .find_map(|(name, value)| (name == "token").then_some(value));
        [bearer, query].into_iter().flatten().any(|given| constant_time_eq(given.as_bytes(), token.as_bytes()))
    }
}

/// Longest a replica waits, after reading the catalog, for the health of
/// every routed service before it says it is ready anyway.
const READY_WITHIN: std::time::Duration = std::time::Duration::from_secs(10);

/// Compares without stopping at the first difference, so timing tells nothing.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    bool::from(subtle::ConstantTimeEq::ct_eq(a, b))
}

fn error(status: StatusCode, message: &str) -> Response<Body> {
    json_response(status, &json!({"error": message, "status": status.as_u16()}))
}

#[cfg(test)]
mod tests;
