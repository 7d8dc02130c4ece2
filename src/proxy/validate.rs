//! What Portico refuses before it routes a request: a target host that is
//! missing, repeated or malformed (RFC 9112 §3.2). Two hops that read such a
//! request differently (one takes the first `Host`, the other the last) can
//! be played against each other, so it is refused with 400 and never
//! forwarded.

use http::{header, HeaderMap, Version};

use super::error::ProxyError;
use crate::http1::name::byte_set;

/// Checks the `Host` lines of a request of `version`.
pub fn check_host(version: Version, headers: &HeaderMap) -> Result<(), ProxyError> {
    let mut hosts = headers.get_all(header::HOST).iter();
    let first = hosts.next();
    if hosts.next().is_some() {
        return Err(ProxyError::BadHost("more than one Host header"));
    }
    match first {
        None if version == Version::HTTP_11 => Err(ProxyError::BadHost("a Host header is required")),
        None => Ok(()),
        Some(host) if valid_host(host.as_bytes()) => Ok(()),
        Some(_) => Err(ProxyError::BadHost("invalid Host header")),
    }
}

/// The bytes of a registered name or IPv4 address: unreserved, sub-delims, `%`.
static NAME_BYTES: [bool; 256] = byte_set(b"-._~!$&'()*+,;=%");

/// `host [":" port]` of RFC 3986: a registered name or IPv4 address, or a
/// bracketed IP literal, then an optional decimal port. No user info, path,
/// spaces or controls.
pub fn valid_host(value: &[u8]) -> bool {
    let (host, port) = match value.first() {
        Some(b'[') => match value.iter().position(|b| *b == b']') {
            Some(end) => (&value[..=end], &value[end + 1..]),
            None => return false,
        },
        _ => match value.iter().position(|b| *b == b':') {
            Some(colon) => (&value[..colon], &value[colon..]),
            None => (value, &value[value.len()..]),
        },
    };
    let port_ok = port.is_empty() || (port[0] == b':' && port.len() <= 6 && port[1..].iter().all(u8::is_ascii_digit));
    let host_ok = match host.first() {
        Some(b'[') => {
            host.len() > 2 && host[1..host.len() - 1].iter().all(|b| b.is_ascii_hexdigit() || b":.".contains(b))
        }
        Some(_) => host.iter().all(|b| NAME_BYTES[usize::from(*b)]),
        None => false,
    };
    host_ok && port_ok
}

#[cfg(test)]
mod tests;
