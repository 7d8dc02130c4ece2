//! API keys: a shared secret per identity, sent in one header.
//!
//! Only SHA-256 digests of the keys are kept, and a presented key is compared
//! with every digest in constant time, so neither the position of the first
//! differing byte nor which key matched shows in the response time.

use http::{HeaderName, HeaderValue};
use subtle::ConstantTimeEq;

use super::AuthError;

/// The header API keys arrive in unless configured otherwise.
pub const DEFAULT_HEADER: &str = "x-api-key";

/// Known keys and the identities they stand for.
pub struct ApiKeys {
    header: HeaderName,
    entries: Vec<([u8; 32], HeaderValue)>,
}

impl ApiKeys {
    /// Keys from `(identity, key)` pairs, read from `header`.
    pub fn new(header: &str, pairs: &[(String, String)]) -> Result<ApiKeys, AuthError> {
        let header = HeaderName::try_from(header)
            .map_err(|e| AuthError::Setting { what: "api_key_header", reason: e.to_string() })?;
        let mut entries = Vec::with_capacity(pairs.len());
        for (identity, key) in pairs {
            if key.len() < 16 {
                let reason = format!("the key of {identity:?} is shorter than 16 characters");
                return Err(AuthError::Setting { what: "api key", reason });
            }
            let identity = HeaderValue::from_str(identity)
                .map_err(|_| AuthError::Setting { what: "api key identity", reason: format!("{identity:?}") })?;
            entries.push((digest(key.as_bytes()), identity));
        }
        Ok(ApiKeys { header, entries })
    }

    /// The header keys are read from.
    pub fn header(&self) -> &HeaderName {
        &self.header
    }

    /// The identity whose key this is; every known key is compared.
    pub fn identify(&self, presented: &[u8]) -> Option<&HeaderValue> {
        let presented = digest(presented);
        let mut found = None;
        for (known, identity) in &self.entries {
            if bool::from(known.ct_eq(&presented)) {
                found = Some(identity);
            }
        }
        found
    }
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref());
    out
}

/// Parses `identity=key,identity2=key2` (the `PORTICO_API_KEYS` form).
pub fn parse_list(value: &str) -> Result<Vec<(String, String)>, String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((id, key)) if !id.trim().is_empty() && !key.trim().is_empty() => {
                Ok((id.trim().to_string(), key.trim().to_string()))
            }
            _ => Err("expected identity=key pairs separated by commas".to_string()),
        })
        .collect()
}
