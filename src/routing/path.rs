//! Request-path normalization, done once before matching and forwarding so
//! that the route a request matches is the route its path really names.
//!
//! Rules (RFC 3986 §6.2.2 plus the usual gateway hardening):
//! - percent-encoded *unreserved* characters are decoded (`%2e` → `.`,
//!   `%41` → `A`), so encoded dots cannot hide a dot segment;
//! - every other escape is kept, with upper-case hex: `%2F` stays data and
//!   never becomes a segment separator;
//! - an escape that is not `%` + two hex digits is an error (400);
//! - duplicate slashes collapse, `.` and `..` segments are resolved, and `..`
//!   never climbs above the root;
//! - a trailing slash is kept.
//!
//! The upstream receives the normalized path, so it sees exactly what was
//! matched. A path that is already normal is returned borrowed (no allocation).

use std::borrow::Cow;

/// Why a path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("path must start with '/'")]
    NotAbsolute,
    #[error("invalid percent-encoding in path")]
    BadEscape,
}

/// Normalizes a request path (without its query).
pub fn normalize(path: &str) -> Result<Cow<'_, str>, PathError> {
    if path.is_empty() {
        return Ok(Cow::Borrowed("/"));
    }
    if !path.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    if is_normal(path.as_bytes()) {
        return Ok(Cow::Borrowed(path));
    }
    let decoded = decode_unreserved(path)?;
    Ok(Cow::Owned(remove_dot_segments(&decoded)))
}

/// True when normalizing would change nothing: no escapes, no empty
/// segments, no dot segments.
fn is_normal(bytes: &[u8]) -> bool {
    !bytes.contains(&b'%')
        && !bytes.windows(2).any(|w| w == b"//")
        && bytes[1..].split(|b| *b == b'/').all(|seg| seg != b"." && seg != b"..")
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn hex_value(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Decodes escapes of unreserved characters and upper-cases the rest.
fn decode_unreserved(path: &str) -> Result<String, PathError> {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'%' {
            let next = bytes[i..].iter().position(|b| *b == b'%').map_or(bytes.len(), |p| i + p);
            out.push_str(&path[i..next]);
            i = next;
            continue;
        }
        let (hi, lo) = match (bytes.get(i + 1), bytes.get(i + 2)) {
            (Some(h), Some(l)) => (hex_value(*h), hex_value(*l)),
            _ => (None, None),
        };
        let (Some(hi), Some(lo)) = (hi, lo) else {
            return Err(PathError::BadEscape);
        };
        let value = hi * 16 + lo;
        if is_unreserved(value) {
            out.push(value as char);
        } else {
            out.push('%');
            out.push(char::from_digit(hi as u32, 16).unwrap_or('0').to_ascii_uppercase());
            out.push(char::from_digit(lo as u32, 16).unwrap_or('0').to_ascii_uppercase());
        }
        i += 3;
    }
    Ok(out)
}

/// Collapses empty segments and resolves `.` and `..`.
fn remove_dot_segments(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    let mut trailing_slash = false;
    for seg in path[1..].split('/') {
        trailing_slash = false;
        match seg {
            "" => trailing_slash = true,
            "." => trailing_slash = true,
            ".." => {
                segments.pop();
                trailing_slash = true;
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(path.len());
    for seg in &segments {
        out.push('/');
        out.push_str(seg);
    }
    if trailing_slash || out.is_empty() {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests;
