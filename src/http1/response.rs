//! Reading an instance's response head and how its body is framed
//! (RFC 9112 §6.3), and whether the connection can carry another request.

use std::mem::MaybeUninit;
use std::time::Duration;

use super::name::{known, tokens, Known};

/// How the body after a response head ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// There is none (`HEAD`, 1xx, 204, 304).
    Empty,
    /// `Content-Length` bytes.
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
    /// Everything until the instance closes the connection.
    UntilClose,
}

/// Room for the header lines of an answer, left uninitialised.
pub type HeaderRoom<'b> = [MaybeUninit<httparse::Header<'b>>; super::MAX_RESPONSE_HEADERS];

/// Room for an answer's header lines.
pub fn header_room<'b>() -> HeaderRoom<'b> {
    [const { MaybeUninit::uninit() }; super::MAX_RESPONSE_HEADERS]
}

/// A response head, borrowed from the bytes it came in.
#[derive(Debug)]
pub struct ResponseHead<'h, 'b> {
    /// Bytes of the head, blank line included.
    pub len: usize,
    /// Its header lines.
    pub headers: &'h [httparse::Header<'b>],
    pub code: u16,
    pub reason: &'b str,
    pub framing: Framing,
    /// The connection may carry another request once the body has ended.
    pub reusable: bool,
    /// `Keep-Alive: timeout=N`, when the instance says how long it keeps an idle connection.
    pub idle_timeout: Option<Duration>,
    /// The instance sent a `Date`.
    pub dated: bool,
    /// It sent a `Connection` header naming other headers, which are hop-by-hop too.
    pub names_headers: bool,
}

/// Why a response head cannot be relayed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    #[error("malformed response head: {0}")]
    Malformed(httparse::Error),
    #[error("invalid Content-Length")]
    Length,
    #[error("101 Switching Protocols to a request that asked for no switch")]
    Switch,
    #[error("incomplete response head")]
    Incomplete,
}

/// Parses `buf` as the answer to a `GET` (or a `HEAD`, with `head_only`);
/// `None` until the head is whole.
pub fn parse<'h, 'b>(
    buf: &'b [u8],
    room: &'h mut [MaybeUninit<httparse::Header<'b>>],
    head_only: bool,
) -> Result<Option<ResponseHead<'h, 'b>>, Invalid> {
    let mut response = httparse::Response::new(&mut []);
    let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(&mut response, buf, room);
    let len = match parsed.map_err(Invalid::Malformed)? {
        httparse::Status::Complete(len) => len,
        httparse::Status::Partial => return Ok(None),
    };
    let code = response.code.unwrap_or(0);
    if code == 101 {
        return Err(Invalid::Switch);
    }
    let http11 = response.version == Some(1);
    let headers: &'h [httparse::Header<'b>] = response.headers;
    let mut head = ResponseHead {
        len,
        headers,
        code,
        reason: response.reason.unwrap_or(""),
        framing: Framing::UntilClose,
        reusable: false,
        idle_timeout: None,
        dated: false,
        names_headers: false,
    };
    let (mut length, mut chunked, mut coded) = (None, false, false);
    let mut connection = ConnectionTokens::default();
    for header in headers {
        match known(header.name) {
            Known::Connection => connection.read(header.value),
            Known::KeepAlive => head.idle_timeout = keep_alive_timeout(header.value),
            Known::Date => head.dated = true,
            Known::TransferEncoding => {
                coded = true;
                chunked = tokens(header.value).last().is_some_and(|t| t.eq_ignore_ascii_case(b"chunked"));
            }
            Known::ContentLength => length = Some(content_length(header.value, length)?),
            _ => {}
        }
    }
    head.reusable = connection.reusable(http11);
    head.names_headers = connection.others;
    head.framing = match (coded, chunked, length) {
        _ if head_only || code < 200 || code == 204 || code == 304 => Framing::Empty,
        (true, true, _) => Framing::Chunked,
        (false, _, Some(n)) => Framing::Length(n),
        _ => Framing::UntilClose,
    };
    // A message with both codings is a smuggling attempt or a broken
    // server: its connection is not trusted with another request.
    if (coded && length.is_some()) || head.framing == Framing::UntilClose {
        head.reusable = false;
    }
    Ok(Some(head))
}

/// What a response's `Connection` headers say.
#[derive(Default)]
struct ConnectionTokens {
    close: bool,
    keep_alive: bool,
    /// Tokens naming other headers, which are hop-by-hop too.
    others: bool,
}

impl ConnectionTokens {
    fn read(&mut self, value: &[u8]) {
        for token in tokens(value) {
            match token {
                t if t.eq_ignore_ascii_case(b"close") => self.close = true,
                t if t.eq_ignore_ascii_case(b"keep-alive") => self.keep_alive = true,
                _ => self.others = true,
            }
        }
    }

    /// `close` ends the connection after this message; HTTP/1.0 needs `keep-alive` to keep it.
    fn reusable(&self, http11: bool) -> bool {
        !self.close && (http11 || self.keep_alive)
    }
}

/// One `Content-Length` value (a list of equal values is one value), equal
/// to any seen before.
fn content_length(value: &[u8], before: Option<u64>) -> Result<u64, Invalid> {
    let mut found = before;
    for token in value.split(|b| *b == b',') {
        let token = super::name::trim(token);
        if token.is_empty() || token.len() > 19 || !token.iter().all(u8::is_ascii_digit) {
            return Err(Invalid::Length);
        }
        let n = token.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
        if found.is_some_and(|f| f != n) {
            return Err(Invalid::Length);
        }
        found = Some(n);
    }
    found.ok_or(Invalid::Length)
}

/// The `timeout` of a `Keep-Alive` header (`timeout=5, max=100`).
pub fn keep_alive_timeout(value: &[u8]) -> Option<Duration> {
    let text = std::str::from_utf8(value).ok()?;
    let timeout = text.split(',').find_map(|p| p.trim().strip_prefix("timeout="))?;
    timeout.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests;
