//! HTTP/1.1 on the wire, for the plain proxied request.
//!
//! hyper's server and client serve every request Portico proxies, and they
//! cost about as much as the whole of nginx (callgrind, BENCHMARKS.md): each
//! head is parsed into a header map, rewritten there, and encoded again. The
//! plain request (a `GET` or `HEAD` over HTTP/1.1, no body, no upgrade, on a
//! route with no edge policy) needs none of that: its head can be read with
//! `httparse` and rewritten straight from the bytes it came in, and so can
//! the instance's answer. This module is that codec and nothing else: it
//! says whether a request is such a request ([`request`]), how an answer is
//! framed ([`response`], [`chunked`]), and writes both heads ([`write`]).
//! What is not plain is left to hyper, which reads the same bytes again.

pub mod chunked;
pub mod name;
pub mod request;
pub mod response;
pub mod write;

/// Header lines read from one head; a head with more goes to hyper (100).
pub const MAX_HEADERS: usize = 64;

/// Header lines of an instance's answer (hyper's client allows 100).
pub const MAX_RESPONSE_HEADERS: usize = 100;

/// Where a head ends in `buf` (just past its blank line), if it has.
/// Lines may end in CRLF or, as parsers tolerate, a bare LF.
pub fn head_end(buf: &[u8]) -> Option<usize> {
    memchr::memchr_iter(b'\n', buf).find_map(|at| match buf.get(at + 1..) {
        Some([b'\n', ..]) => Some(at + 2),
        Some([b'\r', b'\n', ..]) => Some(at + 3),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_head_ends_at_its_blank_line() {
        assert_eq!(super::head_end(b"GET / HTTP/1.1\r\nHost: a\r\n\r\nbody"), Some(27));
        assert_eq!(super::head_end(b"GET / HTTP/1.1\nHost: a\n\nbody"), Some(24));
        assert_eq!(super::head_end(b"GET / HTTP/1.1\r\nHost: a\r\n"), None);
        assert_eq!(super::head_end(b""), None);
    }
}
