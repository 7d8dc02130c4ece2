//! The blocking-query index rules, as pure functions.
//!
//! - send the last index back; the server answers when its index is greater,
//!   or when `wait` runs out (same index, same body: no proof of change);
//! - an index that went backwards (snapshot restore, agent restart) resets the
//!   loop: the next query starts from scratch;
//! - an index of 0 is never waited on: use 1 instead, which is always safe;
//! - `X-Consul-KnownLeader: false` is meaningless on streaming replies.

use reqwest::header::HeaderMap;

/// The index to send with the next query, given the one sent and the reply's.
pub fn next_index(sent: u64, reply: u64) -> u64 {
    let next = if reply < sent { 0 } else { reply };
    next.max(1)
}

/// True when the index went backwards, i.e. Consul's state was reset.
pub fn went_backwards(sent: u64, reply: u64) -> bool {
    reply < sent
}

/// `X-Consul-Index`, or 0 when it is missing or not a number.
pub fn reply_index(headers: &HeaderMap) -> u64 {
    header(headers, "x-consul-index").and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// True when the reply admits it has no leader. Streaming replies always say
/// `KnownLeader: false` whatever the truth, so they are believed never.
pub fn leader_missing(headers: &HeaderMap) -> bool {
    let streaming = header(headers, "x-consul-query-backend") == Some("streaming");
    !streaming && header(headers, "x-consul-knownleader") == Some("false")
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

#[cfg(test)]
mod tests;
