//! The gateway's own answers on the plain path (a failed request's JSON
//! error), written as hyper's server would write them, and the `Date` it
//! adds to an answer that has none (formatted once a second per thread).

use std::cell::Cell;
use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use http::{header, Response};

use crate::proxy::ProxyBody;
use crate::server::Body;

/// An IMF-fixdate, as `Date` carries it.
pub(super) type HttpDate = [u8; 29];

thread_local! {
    static DATE: Cell<(u64, HttpDate)> = const { Cell::new((u64::MAX, [0; 29])) };
}

/// Now, as a `Date` header's value.
pub(super) fn date() -> HttpDate {
    let now = SystemTime::now();
    let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (cached, text) = DATE.get();
    if cached == second {
        return text;
    }
    let mut text = [0u8; 29];
    let formatted = httpdate::fmt_http_date(now);
    let len = formatted.len().min(29);
    text[..len].copy_from_slice(&formatted.as_bytes()[..len]);
    DATE.set((second, text));
    text
}

/// `response` (a body written whole) as bytes into `out`; without its body
/// for a `HEAD`.
pub(super) fn write_whole(out: &mut Vec<u8>, response: Response<ProxyBody>, head_only: bool) {
    let (parts, body) = response.into_parts();
    let body = match body {
        Body::Full(Some(bytes)) => bytes,
        _ => bytes::Bytes::new(),
    };
    let _ = write!(out, "HTTP/1.1 {} {}\r\n", parts.status.as_u16(), parts.status.canonical_reason().unwrap_or(""));
    for (name, value) in &parts.headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !parts.headers.contains_key(header::CONTENT_LENGTH) {
        let _ = write!(out, "content-length: {}\r\n", body.len());
    }
    out.extend_from_slice(b"date: ");
    out.extend_from_slice(&date());
    out.extend_from_slice(b"\r\n\r\n");
    if !head_only {
        out.extend_from_slice(&body);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_is_written_whole_and_a_head_gets_no_body() {
        let error = crate::proxy::ProxyError::NoInstance { service: "cart".into() };
        let mut out = Vec::new();
        write_whole(&mut out, error.into_response(None, 1), false);
        let text = String::from_utf8(out).expect("text");
        assert!(text.starts_with("HTTP/1.1 503 Service Unavailable\r\n"), "{text}");
        assert!(text.contains("retry-after: 1\r\n"), "{text}");
        let body = text.split("\r\n\r\n").nth(1).expect("body");
        assert!(text.contains(&format!("content-length: {}\r\n", body.len())), "{text}");
        assert!(body.contains("\"service\":\"cart\""), "{body}");
        let mut out = Vec::new();
        write_whole(&mut out, crate::proxy::ProxyError::NoRoute.into_response(None, 1), true);
        assert!(String::from_utf8(out).expect("text").ends_with("\r\n\r\n"));
    }

    #[test]
    fn the_date_is_an_imf_fixdate() {
        let date = date();
        let text = std::str::from_utf8(&date).expect("text");
        assert!(httpdate::parse_http_date(text).is_ok(), "{text}");
    }
}
