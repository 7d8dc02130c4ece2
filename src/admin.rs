//! The admin listener: `/healthz` and `/admin/routes`.
//!
//! It is a separate listener (loopback by default) so nothing here is ever
//! reachable through the public port.

mod routes;

use std::net::SocketAddr;

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::json;

use crate::discovery::Statuses;
use crate::proxy::error::json_response;
use crate::proxy::server::Handler;
use crate::proxy::ProxyBody;
use crate::snapshot::Shared;

/// What the admin endpoints read.
pub struct Admin {
    /// The routing snapshot in force.
    pub snapshot: Shared,
    /// The health of every Consul watch.
    pub statuses: Statuses,
}

impl Handler for Admin {
    async fn call(&self, request: Request<Incoming>, _client: SocketAddr) -> Response<ProxyBody> {
        if request.method() != Method::GET && request.method() != Method::HEAD {
            return json_response(
                StatusCode::METHOD_NOT_ALLOWED,
                &json!({"error": "method not allowed", "status": 405}),
            );
        }
        match request.uri().path() {
            "/healthz" => self.healthz(),
            "/admin/routes" => json_response(StatusCode::OK, &routes::report(&self.snapshot.load(), &self.statuses)),
            _ => json_response(StatusCode::NOT_FOUND, &json!({"error": "not found", "status": 404})),
        }
    }
}

impl Admin {
    /// Liveness plus whether Consul has been read yet.
    fn healthz(&self) -> Response<ProxyBody> {
        let snapshot = self.snapshot.load();
        json_response(
            StatusCode::OK,
            &json!({
                "status": "ok",
                "synced": snapshot.synced,
                "generation": snapshot.generation,
                "staleness_seconds": self.statuses.staleness(),
            }),
        )
    }
}
