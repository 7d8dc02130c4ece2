//! Writing heads straight from the bytes they came in: the client's request
//! as the instance sees it, and the instance's answer as the client sees it.
//! The rules are those of the proxy's header module (hop-by-hop headers
//! out, `X-Forwarded-*` and `X-Request-Id` in), applied line by line.

use std::net::IpAddr;

use bytes::BufMut;

use super::name::{hop_by_hop, known, tokens, Known};
use super::response::ResponseHead;

/// What the gateway adds to a request on its way to an instance.
#[derive(Debug)]
pub struct Forwarding<'a> {
    /// The client's address, appended to `X-Forwarded-For`.
    pub client: IpAddr,
    /// The chain the client sent, to extend.
    pub prior_for: Option<&'a str>,
    /// `X-Forwarded-Proto`.
    pub proto: &'static str,
    /// The client's `Host`, also sent as `X-Forwarded-Host`.
    pub host: &'a str,
    /// A generated request ID, replacing any the client sent; `None` keeps the client's.
    pub new_request_id: Option<&'a [u8]>,
}

/// The request line (`path`, then `?query` if any) and headers for the instance.
pub fn request_head(
    out: &mut Vec<u8>,
    head_only: bool,
    (path, query): (&str, Option<&str>),
    headers: &[httparse::Header<'_>],
    forwarding: &Forwarding<'_>,
) {
    out.extend_from_slice(if head_only { b"HEAD " } else { b"GET " });
    out.extend_from_slice(path.as_bytes());
    if let Some(query) = query {
        out.push(b'?');
        out.extend_from_slice(query.as_bytes());
    }
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for header in headers {
        let kept = match known(header.name) {
            Known::XForwardedFor | Known::XForwardedProto | Known::XForwardedHost | Known::XAuthSubject => false,
            Known::XRequestId => forwarding.new_request_id.is_none(),
            k => !hop_by_hop(k),
        };
        if kept {
            line(out, header.name.as_bytes(), header.value);
        }
    }
    out.extend_from_slice(b"x-forwarded-for: ");
    if let Some(prior) = forwarding.prior_for {
        out.extend_from_slice(prior.as_bytes());
        out.extend_from_slice(b", ");
    }
    push_ip(out, forwarding.client);
    out.extend_from_slice(b"\r\nx-forwarded-proto: ");
    out.extend_from_slice(forwarding.proto.as_bytes());
    out.extend_from_slice(b"\r\n");
    line(out, b"x-forwarded-host", forwarding.host.as_bytes());
    if let Some(id) = forwarding.new_request_id {
        line(out, b"x-request-id", id);
    }
    out.extend_from_slice(b"\r\n");
}

/// What the gateway adds to an instance's answer.
#[derive(Debug)]
pub struct Answering<'a> {
    /// Echoed as `X-Request-Id` (replacing the instance's).
    pub request_id: &'a [u8],
    /// Sent as `Date` when the instance sent none.
    pub date: Option<&'a [u8]>,
    /// The body goes to the client chunked: it came chunked (the instance's
    /// `Transfer-Encoding` is hop-by-hop and not passed on), or it ends
    /// with the instance's connection.
    pub chunk: bool,
}

/// The status line and headers for the client. An interim (1xx) answer is
/// passed on without hop-by-hop headers and without additions.
pub fn response_head(out: &mut Vec<u8>, head: &ResponseHead<'_, '_>, answering: &Answering<'_>) {
    let headers = head.headers;
    let reason = match head.reason {
        "" => http::StatusCode::from_u16(head.code).ok().and_then(|s| s.canonical_reason()).unwrap_or(""),
        reason => reason,
    };
    out.extend_from_slice(b"HTTP/1.1 ");
    push_status(out, head.code);
    out.push(b' ');
    out.extend_from_slice(reason.as_bytes());
    out.extend_from_slice(b"\r\n");
    let interim = head.code < 200;
    for header in headers {
        let k = known(header.name);
        let dropped = hop_by_hop(k)
            || (k == Known::XRequestId && !interim)
            || (head.names_headers && named_by_connection(headers, header.name));
        if !dropped {
            line(out, header.name.as_bytes(), header.value);
        }
    }
    if !interim {
        if answering.chunk {
            out.extend_from_slice(b"transfer-encoding: chunked\r\n");
        }
        line(out, b"x-request-id", answering.request_id);
        if let (false, Some(date)) = (head.dated, answering.date) {
            line(out, b"date", date);
        }
    }
    out.extend_from_slice(b"\r\n");
}

/// True when a `Connection` header of `headers` lists `name`.
fn named_by_connection(headers: &[httparse::Header<'_>], name: &str) -> bool {
    headers
        .iter()
        .filter(|h| known(h.name) == Known::Connection)
        .flat_map(|h| tokens(h.value))
        .any(|t| t.eq_ignore_ascii_case(name.as_bytes()))
}

/// A status code's three digits (codes are 100–999).
fn push_status(out: &mut Vec<u8>, code: u16) {
    let code = code.min(999);
    out.extend_from_slice(&[b'0' + (code / 100) as u8, b'0' + (code / 10 % 10) as u8, b'0' + (code % 10) as u8]);
}

fn line(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Appends `ip` as text; IPv4 (nearly every client) by hand, without the
/// formatting machinery.
pub fn push_ip(out: &mut impl BufMut, ip: IpAddr) {
    let IpAddr::V4(v4) = ip else {
        out.put_slice(ip.to_string().as_bytes());
        return;
    };
    for (i, octet) in v4.octets().into_iter().enumerate() {
        if i > 0 {
            out.put_u8(b'.');
        }
        if octet >= 100 {
            out.put_u8(b'0' + octet / 100);
        }
        if octet >= 10 {
            out.put_u8(b'0' + octet / 10 % 10);
        }
        out.put_u8(b'0' + octet % 10);
    }
}

#[cfg(test)]
mod tests;
