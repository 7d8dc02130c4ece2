//! Reading a client's request head, and telling a plain request from the
//! rest: anything this path does not serve exactly as hyper would (a body,
//! an upgrade, `Expect`, `TE`, HTTP/1.0, `Connection: close`, an unusual
//! target, a malformed head) is [`Parsed::Other`], and hyper reads it again.

use std::mem::MaybeUninit;

use super::name::{byte_set, known, tokens, trim, Known};

/// Room for the header lines of one head, left uninitialised (httparse
/// fills what it reads).
pub type HeaderRoom<'b> = [MaybeUninit<httparse::Header<'b>>; super::MAX_HEADERS];

/// Room for a request's header lines.
pub fn header_room<'b>() -> HeaderRoom<'b> {
    [const { MaybeUninit::uninit() }; super::MAX_HEADERS]
}

/// What the bytes read so far hold.
#[derive(Debug)]
pub enum Parsed<'h, 'b> {
    /// Not a whole head yet.
    Partial,
    /// A plain request.
    Plain(Head<'h, 'b>),
    /// Anything else: for hyper.
    Other,
}

/// A plain request's head, borrowed from the bytes it came in.
#[derive(Debug)]
pub struct Head<'h, 'b> {
    /// Bytes of the head, blank line included.
    pub len: usize,
    /// Its header lines.
    pub headers: &'h [httparse::Header<'b>],
    /// `HEAD` (else `GET`).
    pub head_only: bool,
    /// The request target as sent: origin form.
    pub target: &'b str,
    /// Its path (before `?`).
    pub path: &'b str,
    /// Its query (after `?`), if any.
    pub query: Option<&'b str>,
    /// The `Host` header, if exactly one was sent ([`Head::hosts`] says how many).
    pub host: Option<&'b str>,
    pub hosts: usize,
    /// The first `X-Request-Id`, when it is sane (1–128 visible ASCII).
    pub request_id: Option<&'b [u8]>,
    /// The first `X-Forwarded-For`, when it is text and not blank.
    pub forwarded_for: Option<&'b str>,
}

/// Parses `buf` with `room` for the header lines.
pub fn parse<'h, 'b>(buf: &'b [u8], room: &'h mut [MaybeUninit<httparse::Header<'b>>]) -> Parsed<'h, 'b> {
    let mut request = httparse::Request::new(&mut []);
    let len = match request.parse_with_uninit_headers(buf, room) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(_) => return Parsed::Other,
    };
    let head_only = match request.method {
        Some("GET") => false,
        Some("HEAD") => true,
        _ => return Parsed::Other,
    };
    let (Some(1), Some(target)) = (request.version, request.path) else { return Parsed::Other };
    if !plain_target(target) {
        return Parsed::Other;
    }
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target, None),
    };
    let headers: &'h [httparse::Header<'b>] = request.headers;
    let mut head = Head {
        len,
        headers,
        head_only,
        target,
        path,
        query,
        host: None,
        hosts: 0,
        request_id: None,
        forwarded_for: None,
    };
    let mut request_id_seen = false;
    for header in headers {
        match known(header.name) {
            Known::Host => {
                head.hosts += 1;
                head.host = std::str::from_utf8(header.value).ok();
            }
            Known::Connection if !only_keep_alive(header.value) => return Parsed::Other,
            Known::Te | Known::TransferEncoding | Known::Upgrade | Known::ContentLength | Known::Expect => {
                return Parsed::Other
            }
            Known::XRequestId if !request_id_seen => {
                request_id_seen = true;
                head.request_id = Some(header.value).filter(|v| sane_request_id(v));
            }
            Known::XForwardedFor if head.forwarded_for.is_none() => {
                head.forwarded_for = text(header.value).filter(|v| !v.trim().is_empty());
            }
            _ => {}
        }
    }
    if head.hosts != 1 {
        head.host = None;
    }
    Parsed::Plain(head)
}

/// An origin-form target of the characters RFC 3986 allows in a path and
/// query: anything else is for hyper to accept or refuse.
fn plain_target(target: &str) -> bool {
    target.starts_with('/') && target.bytes().all(|b| TARGET_BYTES[usize::from(b)])
}

/// The bytes of [`plain_target`]: unreserved, sub-delims, `:@/?%`.
static TARGET_BYTES: [bool; 256] = byte_set(b"-._~!$&'()*+,;=:@/?%");

/// `Connection: keep-alive` (the default in HTTP/1.1, so nothing to act on).
fn only_keep_alive(value: &[u8]) -> bool {
    let mut listed = tokens(value);
    matches!((listed.next(), listed.next()), (Some(t), None) if t.eq_ignore_ascii_case(b"keep-alive"))
}

/// What the gateway keeps of a client's request ID: 1–128 visible ASCII.
pub fn sane_request_id(value: &[u8]) -> bool {
    (1..=128).contains(&value.len()) && value.iter().all(u8::is_ascii_graphic)
}

/// `value` as text, if it is visible ASCII, spaces and tabs.
fn text(value: &[u8]) -> Option<&str> {
    let visible = value.iter().all(|b| *b == b'\t' || (b' '..=b'~').contains(b));
    visible.then(|| std::str::from_utf8(trim(value)).ok()).flatten()
}

#[cfg(test)]
mod tests;
