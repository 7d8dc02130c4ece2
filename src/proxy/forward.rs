//! Sending a request to the picked instance over a pooled connection.
//!
//! The request and response bodies are streamed, never buffered. The
//! response body carries the instance's in-flight guard. Protocol switches
//! (WebSocket) are handed to [`super::upgrade`].

use std::borrow::Cow;
use std::net::SocketAddr;

use http::uri::{PathAndQuery, Scheme};
use http::{header, Request, Response, Uri, Version};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use super::body::ProxyBody;
use super::error::ProxyError;
use super::exchange::Exchange;
use super::headers::{set_forwarded, strip_hop_by_hop, wants_upgrade};
use super::upgrade;
use crate::config::ProxySettings;
use crate::metrics::UpstreamErrorKind;
use crate::snapshot::{Endpoint, Route};

/// The pooled HTTP/1.1 client to all instances.
pub struct Upstreams {
    client: Client<HttpConnector, Incoming>,
}

impl Upstreams {
    /// A client with the configured connect and idle timeouts.
    pub fn new(settings: &ProxySettings) -> Upstreams {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(settings.connect_timeout));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(settings.pool_idle_timeout)
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .build(connector);
        Upstreams { client }
    }

    /// Forwards `request` to endpoint `index` of `route` with `path`; the
    /// exchange moves into the response body to be recorded when it ends.
    #[allow(clippy::too_many_arguments)]
    pub async fn send(
        &self,
        mut request: Request<Incoming>,
        path: &str,
        route: &Route,
        index: usize,
        client: SocketAddr,
        settings: &ProxySettings,
        exchange: &mut Exchange,
    ) -> Result<Response<ProxyBody>, ProxyError> {
        let endpoint = &route.upstream.endpoints[index];
        let upgrading = wants_upgrade(request.headers());
        let client_upgrade = upgrading.then(|| hyper::upgrade::on(&mut request));
        prepare(&mut request, path, endpoint, client)?;
        let in_flight = endpoint.state.begin();
        let sent = tokio::time::timeout(settings.response_timeout, self.client.request(request)).await;
        let mut response = match sent {
            Err(_) => {
                exchange.upstream_failed(UpstreamErrorKind::Timeout);
                return Err(ProxyError::Timeout { instance: endpoint.id.clone() });
            }
            Ok(Err(e)) => {
                let error = upstream_error(endpoint, &e);
                exchange.upstream_failed(match &error {
                    ProxyError::Timeout { .. } => UpstreamErrorKind::Timeout,
                    _ if e.is_connect() => UpstreamErrorKind::Connect,
                    _ => UpstreamErrorKind::Failed,
                });
                return Err(error);
            }
            Ok(Ok(response)) => response,
        };
        exchange.status = response.status().as_u16();
        if let (Some(client_side), true) = (client_upgrade, response.status() == http::StatusCode::SWITCHING_PROTOCOLS)
        {
            let upstream_side = hyper::upgrade::on(&mut response);
            upgrade::tunnel(client_side, upstream_side, in_flight);
            let (mut parts, _) = response.into_parts();
            strip_hop_by_hop(&mut parts.headers, true);
            return Ok(Response::from_parts(parts, ProxyBody::empty()));
        }
        let (mut parts, body) = response.into_parts();
        strip_hop_by_hop(&mut parts.headers, false);
        let exchange = exchange.hand_over();
        Ok(Response::from_parts(parts, ProxyBody::Upstream { body, in_flight, exchange }))
    }
}

/// Rewrites the request for the instance: URI, version, and headers.
fn prepare(
    request: &mut Request<Incoming>,
    path: &str,
    endpoint: &Endpoint,
    client: SocketAddr,
) -> Result<(), ProxyError> {
    let uri = upstream_uri(request.uri(), path, endpoint)?;
    let host = request
        .headers()
        .get(header::HOST)
        .cloned()
        .or_else(|| request.uri().authority().and_then(|a| a.as_str().parse().ok()));
    let upgrading = wants_upgrade(request.headers());
    let headers = request.headers_mut();
    strip_hop_by_hop(headers, upgrading);
    set_forwarded(headers, client.ip(), "http", host.as_ref());
    if let Some(host) = host {
        headers.insert(header::HOST, host);
    }
    *request.uri_mut() = uri;
    *request.version_mut() = Version::HTTP_11;
    Ok(())
}

fn upstream_uri(original: &Uri, path: &str, endpoint: &Endpoint) -> Result<Uri, ProxyError> {
    let path_and_query = match (original.path() == path, original.path_and_query()) {
        (true, Some(pq)) => pq.clone(),
        _ => {
            let joined = match original.query() {
                Some(q) => format!("{path}?{q}"),
                None => path.to_string(),
            };
            PathAndQuery::try_from(joined)
                .map_err(|_| ProxyError::BadPath(crate::routing::path::PathError::BadEscape))?
        }
    };
    let mut parts = http::uri::Parts::default();
    parts.scheme = Some(Scheme::HTTP);
    parts.authority = Some(endpoint.authority.clone());
    parts.path_and_query = Some(path_and_query);
    Uri::from_parts(parts).map_err(|_| ProxyError::BadPath(crate::routing::path::PathError::BadEscape))
}

/// The path the instance sees: normalized, without the prefix if the route strips it.
pub fn upstream_path<'a>(path: &'a str, route: &Route) -> Cow<'a, str> {
    if !route.options.strip_prefix || &*route.prefix == "/" {
        return Cow::Borrowed(path);
    }
    match path.strip_prefix(&*route.prefix) {
        Some("") | None => Cow::Borrowed("/"),
        Some(rest) if rest.starts_with('/') => Cow::Borrowed(rest),
        Some(rest) => Cow::Owned(format!("/{rest}")),
    }
}

fn upstream_error(endpoint: &Endpoint, error: &hyper_util::client::legacy::Error) -> ProxyError {
    let mut detail = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(s) = source {
        detail.push_str(": ");
        detail.push_str(&s.to_string());
        source = s.source();
    }
    tracing::warn!(instance = %endpoint.id, %detail, "upstream request failed");
    if detail.contains("timed out") {
        return ProxyError::Timeout { instance: endpoint.id.clone() };
    }
    ProxyError::Upstream { instance: endpoint.id.clone(), detail }
}
