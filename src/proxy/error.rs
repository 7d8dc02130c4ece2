//! Every way a request can fail, and the one place each becomes a response.
//!
//! Errors are JSON: `{"error": "...", "status": N, "request_id": "..."}` plus
//! context fields where useful. A client never sees a stack of hyper errors;
//! the log does.

use http::{header, HeaderValue, Response, StatusCode};

use super::body::ProxyBody;
use crate::auth::Denied;
use crate::ratelimit::Decision;
use crate::routing::path::PathError;
use crate::server::json_response;
use crate::upstream::outbound::BodyError;

/// A request that could not be proxied.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("bad request path: {0}")]
    BadPath(#[from] PathError),
    #[error("{0}")]
    BadHost(&'static str),
    #[error("encoded character {0} is not allowed in this route's paths")]
    EncodedChar(&'static str),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("malformed request body")]
    BadBody(String),
    #[error("request body not received in time")]
    BodyTimeout,
    #[error("request body too large")]
    TooLarge { limit: u64 },
    #[error("no route")]
    NoRoute,
    #[error(
        "misdirected request: this connection's certificate is not the one for this host; open a new connection to it"
    )]
    Misdirected,
    #[error("not ready: routes are not loaded from Consul yet")]
    NotReady,
    #[error("no live instance")]
    NoInstance { service: Box<str> },
    #[error("upstream failed")]
    Upstream { instance: Box<str>, detail: String },
    #[error("upstream timed out")]
    Timeout { instance: Box<str> },
    #[error("unauthorized")]
    Unauthorized { denied: Denied, api_key_header: http::HeaderName },
    #[error("rate limit exceeded")]
    RateLimited(Decision),
}

impl From<BodyError> for ProxyError {
    fn from(error: BodyError) -> ProxyError {
        match error {
            BodyError::TooLarge { limit } => ProxyError::TooLarge { limit },
            BodyError::Malformed(detail) => ProxyError::BadBody(detail),
            BodyError::Timeout => ProxyError::BodyTimeout,
        }
    }
}

impl ProxyError {
    /// The status code a client gets.
    pub fn status(&self) -> StatusCode {
        match self {
            ProxyError::BadPath(_) => StatusCode::BAD_REQUEST,
            ProxyError::BadHost(_) | ProxyError::EncodedChar(_) => StatusCode::BAD_REQUEST,
            ProxyError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ProxyError::BadBody(_) => StatusCode::BAD_REQUEST,
            ProxyError::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            ProxyError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ProxyError::NoRoute => StatusCode::NOT_FOUND,
            ProxyError::Misdirected => StatusCode::MISDIRECTED_REQUEST,
            ProxyError::NoInstance { .. } | ProxyError::NotReady => StatusCode::SERVICE_UNAVAILABLE,
            ProxyError::Upstream { .. } => StatusCode::BAD_GATEWAY,
            ProxyError::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            ProxyError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            ProxyError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    /// The JSON response, tagged with the request's ID.
    pub fn into_response(self, request_id: Option<&HeaderValue>, retry_after_secs: u32) -> Response<ProxyBody> {
        let status = self.status();
        let mut body = serde_json::json!({ "error": self.to_string(), "status": status.as_u16() });
        if let Some(id) = request_id.and_then(|v| v.to_str().ok()) {
            body["request_id"] = id.into();
        }
        match &self {
            ProxyError::NoInstance { service } => body["service"] = service.as_ref().into(),
            ProxyError::Upstream { instance, .. } | ProxyError::Timeout { instance } => {
                body["instance"] = instance.as_ref().into()
            }
            ProxyError::TooLarge { limit } => body["limit_bytes"] = (*limit).into(),
            ProxyError::Unauthorized { denied, .. } => body["reason"] = denied.reason.into(),
            ProxyError::RateLimited(decision) => {
                body["limit"] = decision.limit.into();
                body["retry_after_secs"] = decision.reset_secs.into();
            }
            _ => {}
        }
        let mut response = json_response(status, &body);
        if let Some(id) = request_id {
            response.headers_mut().insert("x-request-id", id.clone());
        }
        let headers = response.headers_mut();
        match &self {
            ProxyError::NoInstance { .. } | ProxyError::NotReady => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            }
            ProxyError::Unauthorized { denied, api_key_header } => {
                for challenge in denied.challenges(api_key_header) {
                    headers.append(header::WWW_AUTHENTICATE, challenge);
                }
            }
            ProxyError::RateLimited(decision) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(decision.reset_secs));
                decision.write_headers(headers);
            }
            _ => {}
        }
        response
    }
}

#[cfg(test)]
mod tests;
