//! gRPC at the edge: a gRPC client cannot read a JSON error page, so a
//! request that says it is gRPC (`content-type: application/grpc...`) and
//! fails in Portico gets a gRPC error instead: HTTP 200 with `grpc-status`
//! and `grpc-message` and no body (a "Trailers-Only" response), which every
//! gRPC library reports as the call's status. `grpc-timeout` bounds how long
//! Portico waits for an instance, as the client's deadline does.

use std::time::Duration;

use http::{header, HeaderMap, HeaderName, HeaderValue, Response, StatusCode};

use super::body::ProxyBody;
use super::error::ProxyError;

static GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");
static GRPC_MESSAGE: HeaderName = HeaderName::from_static("grpc-message");
static GRPC_TIMEOUT: HeaderName = HeaderName::from_static("grpc-timeout");

/// gRPC status codes Portico answers with (grpc/doc/statuscodes.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Code {
    InvalidArgument = 3,
    DeadlineExceeded = 4,
    PermissionDenied = 7,
    ResourceExhausted = 8,
    Unimplemented = 12,
    Internal = 13,
    Unavailable = 14,
    Unauthenticated = 16,
}

/// True when the request is a gRPC call.
pub fn is_grpc(headers: &HeaderMap) -> bool {
    headers.get(header::CONTENT_TYPE).is_some_and(|v| {
        let v = v.as_bytes();
        v.len() >= 16 && v[..16].eq_ignore_ascii_case(b"application/grpc")
    })
}

/// The call's deadline from `grpc-timeout` (1 to 8 digits and a unit:
/// `H`, `M`, `S`, `m`, `u`, `n`), if it has a valid one.
pub fn timeout(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(&GRPC_TIMEOUT)?.as_bytes();
    let (&unit, digits) = value.split_last()?;
    if digits.is_empty() || digits.len() > 8 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let amount: u64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some(match unit {
        b'H' => Duration::from_secs(amount * 3600),
        b'M' => Duration::from_secs(amount * 60),
        b'S' => Duration::from_secs(amount),
        b'm' => Duration::from_millis(amount),
        b'u' => Duration::from_micros(amount),
        b'n' => Duration::from_nanos(amount),
        _ => return None,
    })
}

/// The gRPC status for a request Portico could not proxy.
pub fn code_of(error: &ProxyError) -> Code {
    match error {
        ProxyError::NoRoute | ProxyError::MethodNotAllowed => Code::Unimplemented,
        ProxyError::NotReady | ProxyError::NoInstance { .. } | ProxyError::Upstream { .. } => Code::Unavailable,
        ProxyError::Misdirected => Code::Unavailable,
        ProxyError::Timeout { .. } | ProxyError::BodyTimeout => Code::DeadlineExceeded,
        ProxyError::Unauthorized { .. } => Code::Unauthenticated,
        ProxyError::RateLimited(_) | ProxyError::TooLarge { .. } => Code::ResourceExhausted,
        ProxyError::BadPath(_) | ProxyError::BadHost(_) | ProxyError::EncodedChar(_) => Code::InvalidArgument,
        ProxyError::BadBody(_) => Code::Internal,
    }
}

/// `error` as a gRPC client reads it.
pub fn error_response(error: &ProxyError, request_id: Option<&HeaderValue>) -> Response<ProxyBody> {
    let mut response = Response::new(ProxyBody::empty());
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    headers.insert(&GRPC_STATUS, HeaderValue::from(code_of(error) as u16));
    if let Ok(message) = HeaderValue::try_from(percent_encode(&message_of(error))) {
        headers.insert(&GRPC_MESSAGE, message);
    }
    if let Some(id) = request_id {
        headers.insert("x-request-id", id.clone());
    }
    response
}

/// The message, with the instance or service named where that helps.
fn message_of(error: &ProxyError) -> String {
    match error {
        ProxyError::NoInstance { service } => format!("{error}: {service}"),
        ProxyError::Upstream { instance, .. } | ProxyError::Timeout { instance } => format!("{error}: {instance}"),
        _ => error.to_string(),
    }
}

/// `grpc-message` encoding: printable ASCII except `%` as is, the rest as `%XX`.
fn percent_encode(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for &b in message.as_bytes() {
        if (0x20..=0x7e).contains(&b) && b != b'%' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(name: &'static str, value: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_static(value));
        h
    }

    #[test]
    fn grpc_calls_are_recognised_by_content_type() {
        assert!(is_grpc(&headers("content-type", "application/grpc")));
        assert!(is_grpc(&headers("content-type", "application/grpc+proto")));
        assert!(is_grpc(&headers("content-type", "Application/GRPC-web")));
        assert!(!is_grpc(&headers("content-type", "application/json")));
        assert!(!is_grpc(&HeaderMap::new()));
    }

    #[test]
    fn grpc_timeout_units_and_bad_values() {
        assert_eq!(timeout(&headers("grpc-timeout", "250m")), Some(Duration::from_millis(250)));
        assert_eq!(timeout(&headers("grpc-timeout", "2S")), Some(Duration::from_secs(2)));
        assert_eq!(timeout(&headers("grpc-timeout", "1H")), Some(Duration::from_secs(3600)));
        assert_eq!(timeout(&headers("grpc-timeout", "99999999n")), Some(Duration::from_nanos(99_999_999)));
        for bad in ["", "m", "123456789m", "12x", "-1S", "1.5S"] {
            assert_eq!(timeout(&headers("grpc-timeout", bad)), None, "{bad:?}");
        }
    }

    #[test]
    fn failures_become_the_statuses_grpc_clients_expect() {
        let no_instance = ProxyError::NoInstance { service: "echo".into() };
        let response = error_response(&no_instance, None);
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["grpc-status"], "14");
        assert_eq!(response.headers()["grpc-message"], "no live instance: echo");
        assert_eq!(code_of(&ProxyError::NoRoute), Code::Unimplemented);
        assert_eq!(code_of(&ProxyError::Timeout { instance: "a".into() }), Code::DeadlineExceeded);
    }

    #[test]
    fn messages_are_percent_encoded() {
        assert_eq!(percent_encode("50% off: café"), "50%25 off: caf%C3%A9");
    }
}
