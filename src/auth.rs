//! Authentication at the edge: API keys and JWT bearer tokens.
//!
//! A route that names a scheme (`portico.auth`) has its credentials checked
//! here, before rate limiting, caching or any upstream work; routes without
//! one never reach this module. A request that passes carries its identity
//! upstream in `X-Auth-Subject` (a client's own copy of that header is always
//! removed first). A request that fails gets a 401 whose JSON says which check
//! failed, never echoing the credential.

pub mod api_key;
pub mod jwt;

use http::{HeaderMap, HeaderName, HeaderValue};

use crate::routing::options::AuthScheme;
pub use api_key::ApiKeys;
pub use jwt::{JwtSettings, JwtVerifier};

/// The header that carries the authenticated identity to the instance.
pub static X_AUTH_SUBJECT: HeaderName = HeaderName::from_static("x-auth-subject");

/// Why credentials could not be loaded; the message names the file or setting.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("invalid key in {path}: {reason}")]
    Key { path: String, reason: String },
    #[error("invalid auth setting {what}: {reason}")]
    Setting { what: &'static str, reason: String },
}

/// A refused request: which scheme was asked for and which check failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    pub scheme: AuthScheme,
    /// Short, fixed text; never contains the credential.
    pub reason: &'static str,
    /// True when no credential was sent at all (no `error=` in the challenge).
    pub missing: bool,
}

impl Denied {
    fn missing(scheme: AuthScheme) -> Denied {
        Denied { scheme, reason: "missing credentials", missing: true }
    }

    fn invalid(scheme: AuthScheme, reason: &'static str) -> Denied {
        Denied { scheme, reason, missing: false }
    }

    /// `WWW-Authenticate` values (RFC 6750 for bearer tokens), one per accepted scheme.
    pub fn challenges(&self, api_key_header: &HeaderName) -> Vec<HeaderValue> {
        let bearer = if self.missing || self.scheme == AuthScheme::ApiKey {
            "Bearer realm=\"portico\"".to_string()
        } else {
            format!("Bearer realm=\"portico\", error=\"invalid_token\", error_description=\"{}\"", self.reason)
        };
        let api_key = format!("ApiKey realm=\"portico\", header=\"{api_key_header}\"");
        let list = match self.scheme {
            AuthScheme::Jwt => vec![bearer],
            AuthScheme::ApiKey => vec![api_key],
            AuthScheme::Any => vec![bearer, api_key],
        };
        list.into_iter().filter_map(|v| HeaderValue::from_str(&v).ok()).collect()
    }
}

/// Checks credentials for the schemes routes ask for.
pub struct Authenticator {
    pub api_keys: ApiKeys,
    pub jwt: Option<JwtVerifier>,
}

impl Authenticator {
    /// The identity behind the request's credentials, as a header value.
    pub fn authenticate(&self, scheme: AuthScheme, headers: &HeaderMap) -> Result<HeaderValue, Denied> {
        let bearer = bearer_token(headers);
        let key = headers.get(self.api_keys.header());
        match scheme {
            AuthScheme::Jwt => self.check_jwt(scheme, bearer),
            AuthScheme::ApiKey => self.check_api_key(scheme, key),
            AuthScheme::Any if bearer.is_some() => self.check_jwt(scheme, bearer),
            AuthScheme::Any => self.check_api_key(scheme, key),
        }
    }

    /// Re-reads JWT key files; on error the keys in use stay.
    pub fn reload(&self) -> Result<(), AuthError> {
        match &self.jwt {
            Some(jwt) => jwt.reload(),
            None => Ok(()),
        }
    }

    fn check_jwt(&self, scheme: AuthScheme, token: Option<&str>) -> Result<HeaderValue, Denied> {
        let token = token.ok_or(Denied::missing(scheme))?;
        let jwt = self.jwt.as_ref().ok_or(Denied::invalid(scheme, "JWT authentication is not configured"))?;
        jwt.verify(token).map_err(|reason| Denied::invalid(scheme, reason))
    }

    fn check_api_key(&self, scheme: AuthScheme, key: Option<&HeaderValue>) -> Result<HeaderValue, Denied> {
        let key = key.ok_or(Denied::missing(scheme))?;
        self.api_keys.identify(key.as_bytes()).cloned().ok_or(Denied::invalid(scheme, "unknown API key"))
    }
}

/// The token of `Authorization: Bearer <token>` (scheme case-insensitive).
/// The token of an `Authorization: Bearer <token>` header (scheme in any case).
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests;
