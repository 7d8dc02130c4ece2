//! Header rules between client and upstream.
//!
//! - hop-by-hop headers (RFC 9110 §7.6.1, plus any named in `Connection`)
//!   belong to one connection and are removed in both directions, except the
//!   `Upgrade` handshake of a protocol switch;
//! - `X-Forwarded-For` gains the client address, `X-Forwarded-Proto` and
//!   `X-Forwarded-Host` say what the client asked for;
//! - `X-Request-Id` is kept when the client sent a sane one, else generated,
//!   and echoed on the response so a client can quote it.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::BytesMut;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};

use crate::http1::request::sane_request_id;
use crate::http1::write::push_ip;

// `Trailer` is not among them (RFC 9110 §6.6.2 is end to end): it names the
// trailer fields to come, and an HTTP/1.1 client is sent only those.
static HOP_BY_HOP: [HeaderName; 7] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::TE,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::PROXY_AUTHORIZATION,
];

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
/// The request-ID header.
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// True when the message asks to switch protocols (`Connection: upgrade` + `Upgrade`).
pub fn wants_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE) && connection_tokens(headers).any(|t| t.eq_ignore_ascii_case("upgrade"))
}

/// True when the client accepts trailers (`TE: trailers`): `TE` is
/// hop-by-hop, so this is read before it is removed and said again to
/// HTTP/2 instances (gRPC servers refuse calls without it).
pub fn accepts_trailers(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::TE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("trailers")))
}

fn connection_tokens(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// Removes hop-by-hop headers. With `keep_upgrade`, the `Upgrade` header and
/// `Connection: upgrade` survive so the handshake reaches the other side.
///
/// Per message: one look at each name, then a removal only for what is
/// there (usually `Connection` alone, or nothing), and no allocation unless
/// `Connection` names a header of another name that the message carries.
pub fn strip_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) {
    let present = hop_by_hop_present(headers);
    if present == 0 {
        return;
    }
    let mut named: Vec<HeaderName> = Vec::new();
    if present & bit_of(&header::CONNECTION) != 0 && !names_only_itself(headers) {
        for token in connection_tokens(headers) {
            let listed = HOP_BY_HOP.iter().any(|h| token.eq_ignore_ascii_case(h.as_str()));
            if !listed && headers.contains_key(token) {
                named.extend(HeaderName::from_bytes(token.as_bytes()).ok());
            }
        }
    }
    for name in named {
        headers.remove(name);
    }
    let upgrade = match keep_upgrade && present & bit_of(&header::UPGRADE) != 0 {
        true => headers.remove(header::UPGRADE),
        false => None,
    };
    for (i, name) in HOP_BY_HOP.iter().enumerate() {
        if present & (1 << i) != 0 {
            headers.remove(name);
        }
    }
    if let Some(protocol) = upgrade {
        headers.insert(header::UPGRADE, protocol);
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    }
}

/// True for the usual `Connection: keep-alive`, which names no header to
/// remove besides those of [`HOP_BY_HOP`].
fn names_only_itself(headers: &HeaderMap) -> bool {
    let mut values = headers.get_all(header::CONNECTION).iter();
    match (values.next(), values.next()) {
        (Some(value), None) => value.as_bytes().eq_ignore_ascii_case(b"keep-alive"),
        _ => false,
    }
}

/// Which of [`HOP_BY_HOP`] `headers` carries, one bit each.
fn hop_by_hop_present(headers: &HeaderMap) -> u8 {
    headers.keys().filter_map(|name| hop_by_hop_index(name.as_str())).fold(0, |bits, i| bits | 1 << i)
}

/// `name`'s place in [`HOP_BY_HOP`]: by length first, so that most names
/// are passed over without comparing a byte.
fn hop_by_hop_index(name: &str) -> Option<usize> {
    let candidates: &[usize] = match name.len() {
        2 => &[3],
        7 => &[5],
        10 => &[0, 1],
        16 => &[2],
        17 => &[4],
        19 => &[6],
        _ => return None,
    };
    candidates.iter().copied().find(|&i| HOP_BY_HOP[i].as_str() == name)
}

fn bit_of(name: &HeaderName) -> u8 {
    hop_by_hop_index(name.as_str()).map_or(0, |i| 1 << i)
}

/// Sets the `X-Forwarded-*` headers for a request from `client`.
pub fn set_forwarded(headers: &mut HeaderMap, client: IpAddr, proto: &'static str, host: Option<&HeaderValue>) {
    // A prior chain that is not plain text is replaced, not extended.
    let prior = headers.get(&X_FORWARDED_FOR).and_then(|v| v.to_str().ok()).filter(|p| !p.trim().is_empty());
    let mut chain = BytesMut::with_capacity(prior.map_or(0, |p| p.len() + 2) + 39);
    if let Some(prior) = prior {
        chain.extend_from_slice(prior.as_bytes());
        chain.extend_from_slice(b", ");
    }
    push_ip(&mut chain, client);
    if let Ok(value) = HeaderValue::from_maybe_shared(chain.freeze()) {
        headers.insert(X_FORWARDED_FOR.clone(), value);
    }
    headers.insert(X_FORWARDED_PROTO.clone(), HeaderValue::from_static(proto));
    if let Some(host) = host {
        headers.insert(X_FORWARDED_HOST.clone(), host.clone());
    }
}

/// Longest generated request ID.
pub const REQUEST_ID_MAX: usize = 25;

/// Generates request IDs: a random per-process prefix and a counter, so
/// they are unique without coordination or a lock.
#[derive(Debug)]
pub struct RequestIds {
    prefix: u32,
    counter: AtomicU64,
}

impl Default for RequestIds {
    fn default() -> Self {
        RequestIds { prefix: fastrand::u32(..), counter: AtomicU64::new(0) }
    }
}

impl RequestIds {
    /// The client's ID if it is sane (1–128 visible ASCII), else a new one; also stored in `headers`.
    pub fn ensure(&self, headers: &mut HeaderMap) -> HeaderValue {
        if let Some(given) = headers.get(&X_REQUEST_ID) {
            if sane_request_id(given.as_bytes()) {
                return given.clone();
            }
        }
        let mut text = [0u8; REQUEST_ID_MAX];
        let len = self.write_new(&mut text);
        let id = HeaderValue::from_bytes(&text[..len]).unwrap_or_else(|_| HeaderValue::from_static("unknown"));
        headers.insert(X_REQUEST_ID.clone(), id.clone());
        id
    }

    /// Writes a new ID into `text`: its length.
    pub fn write_new(&self, text: &mut [u8; REQUEST_ID_MAX]) -> usize {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        // `{prefix:08x}-{n:012x}`, written by hand: `format!` costs ten times more.
        push_hex(&mut text[..8], u64::from(self.prefix));
        text[8] = b'-';
        let digits = if n >> 48 == 0 { 12 } else { 16 };
        push_hex(&mut text[9..9 + digits], n);
        9 + digits
    }
}

/// Writes `value`'s low hex digits into all of `out`, zero-padded.
fn push_hex(out: &mut [u8], mut value: u64) {
    for byte in out.iter_mut().rev() {
        *byte = b"0123456789abcdef"[(value & 0xf) as usize];
        value >>= 4;
    }
}

#[cfg(test)]
mod tests;

/// A `308` to the same host and path over HTTPS on `port`, for a plain-HTTP
/// listener that only redirects. No `Host` → 400; a `Host` the gateway would
/// refuse ([`super::validate::valid_host`]) → 400, never a `Location` built from it.
pub fn redirect_to_https<B>(request: &http::Request<B>, port: u16) -> http::Response<super::ProxyBody> {
    let host = request.headers().get(header::HOST).and_then(|h| h.to_str().ok()).or(request.uri().host());
    let Some(host) = host.filter(|h| !h.is_empty()) else {
        let body = serde_json::json!({"error": "a Host header is required", "status": 400});
        return crate::server::json_response(http::StatusCode::BAD_REQUEST, &body);
    };
    if !super::validate::valid_host(host.as_bytes()) {
        let body = serde_json::json!({"error": "bad Host header", "status": 400});
        return crate::server::json_response(http::StatusCode::BAD_REQUEST, &body);
    }
    let host = strip_port(host);
    let target = request.uri().path_and_query().map_or("/", |pq| pq.as_str());
    let location =
        if port == 443 { format!("https://{host}{target}") } else { format!("https://{host}:{port}{target}") };
    let mut response = http::Response::new(super::ProxyBody::empty());
    *response.status_mut() = http::StatusCode::PERMANENT_REDIRECT;
    match HeaderValue::from_str(&location) {
        Ok(value) => {
            response.headers_mut().insert(header::LOCATION, value);
            response
        }
        Err(_) => {
            let body = serde_json::json!({"error": "bad Host header", "status": 400});
            crate::server::json_response(http::StatusCode::BAD_REQUEST, &body)
        }
    }
}

/// `example.com:8080` → `example.com`; `[::1]:8080` → `[::1]`.
fn strip_port(host: &str) -> &str {
    if let Some(end) = host.find(']') {
        return &host[..=end];
    }
    host.rsplit_once(':').map_or(host, |(h, _)| h)
}
