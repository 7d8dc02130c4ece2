//! One request's record: what it asked for, where it went, how it ended.
//!
//! It travels with the request and then inside the response body, and when
//! it is dropped (the body ended, or the client went away) it records the
//! request once: the route's counters and latency histogram, the instance's
//! failure count, and the access-log line.

use std::sync::Arc;

use http::{HeaderValue, Method, Uri};
use tokio::time::Instant;

use crate::metrics::UpstreamErrorKind;
use crate::snapshot::Route;

/// The record of one request.
#[derive(Debug)]
pub struct Exchange {
    start: Instant,
    method: Method,
    uri: Uri,
    request_id: HeaderValue,
    access_log: bool,
    /// The matched route, once known.
    pub route: Option<Arc<Route>>,
    /// The picked endpoint's index in the route's upstream, once known.
    pub endpoint: Option<usize>,
    /// The status sent to the client.
    pub status: u16,
    /// Response body bytes sent.
    pub bytes: u64,
}

impl Exchange {
    /// Starts the record of `request`. Its method and target are kept for
    /// the access log only, so they are not copied when it is off.
    pub fn new<B>(request: &http::Request<B>, request_id: HeaderValue, access_log: bool) -> Exchange {
        let (method, uri) = match access_log {
            true => (request.method().clone(), request.uri().clone()),
            false => (Method::GET, Uri::default()),
        };
        Exchange::start_at(Instant::now(), method, uri, request_id, access_log)
    }

    /// Starts, at `start`, the record of a request given by its parts (the
    /// access log's fields are ignored when it is off).
    pub fn start_at(start: Instant, method: Method, uri: Uri, request_id: HeaderValue, access_log: bool) -> Exchange {
        Exchange { start, method, uri, request_id, access_log, route: None, endpoint: None, status: 0, bytes: 0 }
    }

    /// Moves the record out (into a response body), leaving an inert one
    /// behind that records nothing when dropped.
    pub fn hand_over(&mut self) -> Exchange {
        let inert = Exchange {
            start: self.start,
            method: Method::GET,
            uri: Uri::default(),
            request_id: HeaderValue::from_static("-"),
            access_log: false,
            route: None,
            endpoint: None,
            status: 0,
            bytes: 0,
        };
        std::mem::replace(self, inert)
    }

    /// When the request started.
    pub fn started(&self) -> Instant {
        self.start
    }

    /// Counts an upstream failure against the route and the instance.
    pub fn upstream_failed(&self, kind: UpstreamErrorKind) {
        if let Some(route) = &self.route {
            route.metrics.upstream_error(kind);
        }
    }

    /// The ID of the instance the request went to, or `-`.
    pub fn instance_id(&self) -> &str {
        self.endpoint().map_or("-", |e| &e.id)
    }

    /// The node of the instance the request went to, or `-`.
    pub fn node(&self) -> &str {
        self.endpoint().map_or("-", |e| &e.node)
    }

    /// The endpoint the request went to, once picked.
    /// The request's ID.
    pub fn request_id(&self) -> &HeaderValue {
        &self.request_id
    }

    pub fn endpoint(&self) -> Option<&crate::upstream::Endpoint> {
        match (&self.route, self.endpoint) {
            (Some(route), Some(i)) => route.upstream.endpoints.get(i),
            _ => None,
        }
    }
}

/// Recorded for a client that went away before its response head was
/// sent (nginx's convention), so it is not mistaken for a 1xx answer.
pub const CLIENT_CLOSED: u16 = 499;

impl Drop for Exchange {
    fn drop(&mut self) {
        let elapsed = self.start.elapsed();
        if self.status == 0 {
            self.status = CLIENT_CLOSED;
        }
        if let Some(route) = &self.route {
            route.metrics.record(self.endpoint, self.status, elapsed.as_secs_f64());
        }
        if self.access_log {
            tracing::info!(
                target: "portico::access",
                method = %self.method,
                path = %self.uri,
                route = self.route.as_ref().map_or("-", |r| &r.key),
                instance = self.instance_id(),
                node = self.node(),
                status = self.status,
                duration_ms = elapsed.as_secs_f64() * 1000.0,
                bytes = self.bytes,
                request_id = self.request_id.to_str().unwrap_or("-"),
            );
        }
    }
}
