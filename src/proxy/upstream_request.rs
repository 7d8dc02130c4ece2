//! The request as an instance sees it: the client's head rewritten once
//! per request ([`prepare`]: hop-by-hop headers out, `X-Forwarded-*` in,
//! the route's path), then aimed at each attempt's instance, over HTTP/1.1
//! ([`upstream_request`], origin-form target) or HTTP/2
//! ([`multiplexed_request`], absolute target and `TE: trailers`).

use std::borrow::Cow;

use http::request::Parts;
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{header, HeaderValue, Request, Uri, Version};

use super::error::ProxyError;
use super::headers::{set_forwarded, strip_hop_by_hop};
use crate::routing::path::PathError;
use crate::server::Conn;
use crate::snapshot::Route;
use crate::upstream::outbound::Outbound;
use crate::upstream::Endpoint;

/// Where an HTTP/2 request goes, and what it says there.
#[derive(Clone, Copy)]
pub(super) struct Http2Target<'a> {
    pub endpoint: &'a Endpoint,
    /// Over TLS (`:scheme` https).
    pub secure: bool,
    /// The client accepts trailers.
    pub trailers: bool,
}

/// The request for one attempt: the prepared head aimed at `endpoint`.
pub(super) fn upstream_request(head: &Parts, endpoint: &Endpoint, body: Outbound) -> Request<Outbound> {
    let mut request = Request::new(body);
    *request.method_mut() = head.method.clone();
    *request.uri_mut() = origin_form(&head.uri);
    *request.version_mut() = Version::HTTP_11;
    *request.headers_mut() = head.headers.clone();
    if !request.headers().contains_key(header::HOST) {
        if let Ok(host) = HeaderValue::from_str(endpoint.authority.as_str()) {
            request.headers_mut().insert(header::HOST, host);
        }
    }
    request
}

/// The request for one attempt over HTTP/2: the target in absolute form
/// (`:scheme`, `:authority` from the client's `Host`, `:path`), and
/// `TE: trailers` when the client accepts them (gRPC servers require it).
pub(super) fn multiplexed_request(head: &Parts, to: Http2Target<'_>, body: Outbound) -> Request<Outbound> {
    let endpoint = to.endpoint;
    let mut request = Request::new(body);
    *request.method_mut() = head.method.clone();
    *request.version_mut() = Version::HTTP_2;
    let mut headers = head.headers.clone();
    let authority = headers
        .remove(header::HOST)
        .and_then(|host| Authority::try_from(host.as_bytes()).ok())
        .unwrap_or_else(|| endpoint.authority.clone());
    if to.trailers {
        headers.insert(header::TE, HeaderValue::from_static("trailers"));
    }
    *request.headers_mut() = headers;
    let scheme = if to.secure { Scheme::HTTPS } else { Scheme::HTTP };
    let path = head.uri.path_and_query().cloned().unwrap_or_else(|| PathAndQuery::from_static("/"));
    let uri = Uri::builder().scheme(scheme).authority(authority).path_and_query(path).build();
    *request.uri_mut() = uri.unwrap_or_else(|_| origin_form(&head.uri));
    request
}

/// Rewrites the request head for the instances: path, headers. With
/// `upgrading` (the client asks to switch protocols), the handshake's
/// `Upgrade` and `Connection: upgrade` are kept.
pub(super) fn prepare(head: &mut Parts, path: &str, conn: &Conn, upgrading: bool) -> Result<(), ProxyError> {
    let host =
        head.headers.get(header::HOST).cloned().or_else(|| head.uri.authority().and_then(|a| a.as_str().parse().ok()));
    strip_hop_by_hop(&mut head.headers, upgrading);
    // The client's `100-continue` was answered when its body was read (the
    // server sends `100` on the first read), so the instance must not wait for
    // a second go-ahead that nobody will send.
    if head.headers.contains_key(header::EXPECT) {
        head.headers.remove(header::EXPECT);
    }
    let proto = if conn.tls { "https" } else { "http" };
    // Room for what is added next, so the map grows at most once.
    head.headers.reserve(4);
    set_forwarded(&mut head.headers, conn.client.ip(), proto, host.as_ref());
    if let Some(host) = host {
        head.headers.insert(header::HOST, host);
    }
    if head.uri.path() != path {
        let joined = match head.uri.query() {
            Some(q) => format!("{path}?{q}"),
            None => path.to_string(),
        };
        let pq = PathAndQuery::try_from(joined).map_err(|_| ProxyError::BadPath(PathError::BadEscape))?;
        let mut parts = std::mem::take(&mut head.uri).into_parts();
        parts.path_and_query = Some(pq);
        head.uri = Uri::from_parts(parts).map_err(|_| ProxyError::BadPath(PathError::BadEscape))?;
    }
    Ok(())
}

/// The request target as an HTTP/1.1 origin server expects it: path and query.
fn origin_form(original: &Uri) -> Uri {
    let pq = original.path_and_query().cloned().unwrap_or_else(|| PathAndQuery::from_static("/"));
    Uri::from(pq)
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
