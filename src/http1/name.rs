//! The header names the plain path acts on, recognised by length first so
//! that most names are passed over without comparing a byte.

/// A header the plain path treats specially; [`Known::Other`] is forwarded as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Known {
    Other,
    Host,
    Date,
    Connection,
    KeepAlive,
    ProxyConnection,
    ProxyAuthorization,
    Te,
    TransferEncoding,
    Upgrade,
    ContentLength,
    Expect,
    XForwardedFor,
    XForwardedProto,
    XForwardedHost,
    XRequestId,
    XAuthSubject,
}

/// What `name` is, ignoring case: one candidate by length and first
/// letter, then one comparison.
pub fn known(name: &str) -> Known {
    let bytes = name.as_bytes();
    let Some(first) = bytes.first() else { return Known::Other };
    let (candidate, known): (&str, Known) = match (bytes.len(), first | 0x20) {
        (2, b't') => ("te", Known::Te),
        (4, b'h') => ("host", Known::Host),
        (4, b'd') => ("date", Known::Date),
        (6, b'e') => ("expect", Known::Expect),
        (7, b'u') => ("upgrade", Known::Upgrade),
        (10, b'c') => ("connection", Known::Connection),
        (10, b'k') => ("keep-alive", Known::KeepAlive),
        (12, b'x') => ("x-request-id", Known::XRequestId),
        (14, b'c') => ("content-length", Known::ContentLength),
        (14, b'x') => ("x-auth-subject", Known::XAuthSubject),
        (15, b'x') => ("x-forwarded-for", Known::XForwardedFor),
        (16, b'p') => ("proxy-connection", Known::ProxyConnection),
        (16, b'x') => ("x-forwarded-host", Known::XForwardedHost),
        (17, b't') => ("transfer-encoding", Known::TransferEncoding),
        (17, b'x') => ("x-forwarded-proto", Known::XForwardedProto),
        (19, b'p') => ("proxy-authorization", Known::ProxyAuthorization),
        _ => return Known::Other,
    };
    match candidate.as_bytes().eq_ignore_ascii_case(bytes) {
        true => known,
        false => Known::Other,
    }
}

/// True for the headers that belong to one connection (RFC 9110 §7.6.1).
pub fn hop_by_hop(known: Known) -> bool {
    matches!(
        known,
        Known::Connection
            | Known::KeepAlive
            | Known::ProxyConnection
            | Known::ProxyAuthorization
            | Known::Te
            | Known::TransferEncoding
            | Known::Upgrade
    )
}

/// A table of the bytes that are ASCII letters or digits or are in `also`,
/// for checking a value byte by byte with one lookup each.
pub const fn byte_set(also: &[u8]) -> [bool; 256] {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = (i as u8).is_ascii_alphanumeric();
        i += 1;
    }
    let mut j = 0;
    while j < also.len() {
        table[also[j] as usize] = true;
        j += 1;
    }
    table
}

/// The comma-separated tokens of a list header, trimmed, empty ones skipped.
pub fn tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value.split(|b| *b == b',').map(trim).filter(|t| !t.is_empty())
}

/// `value` without leading and trailing spaces and tabs.
pub fn trim(value: &[u8]) -> &[u8] {
    let start = value.iter().position(|b| !matches!(b, b' ' | b'\t')).unwrap_or(value.len());
    let end = value.iter().rposition(|b| !matches!(b, b' ' | b'\t')).map_or(start, |i| i + 1);
    &value[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_recognised_in_any_case_and_others_pass() {
        assert_eq!(known("Host"), Known::Host);
        assert_eq!(known("CONNECTION"), Known::Connection);
        assert_eq!(known("Keep-Alive"), Known::KeepAlive);
        assert_eq!(known("x-forwarded-proto"), Known::XForwardedProto);
        assert_eq!(known("Transfer-Encoding"), Known::TransferEncoding);
        assert_eq!(known("accept"), Known::Other);
        assert_eq!(known("hosts"), Known::Other);
        assert_eq!(known("x-request-ix"), Known::Other);
    }

    #[test]
    fn a_byte_set_holds_letters_digits_and_what_it_adds() {
        let set = byte_set(b"-.");
        assert!(set[usize::from(b'a')] && set[usize::from(b'Z')] && set[usize::from(b'7')]);
        assert!(set[usize::from(b'-')] && set[usize::from(b'.')]);
        assert!(!set[usize::from(b'/')] && !set[usize::from(b' ')] && !set[0x80]);
    }

    #[test]
    fn list_tokens_are_trimmed() {
        let found: Vec<&[u8]> = tokens(b" close ,, X-Foo\t").collect();
        assert_eq!(found, vec![&b"close"[..], &b"X-Foo"[..]]);
        assert_eq!(trim(b"  "), b"");
    }
}
