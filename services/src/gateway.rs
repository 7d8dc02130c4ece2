//! Calls to sibling services. They always go through Portico, never straight
//! to an instance: the shop exercises the gateway it demonstrates, and an
//! instance that leaves is never called.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// A failed call through the gateway.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("gateway unreachable: {0}")]
    Transport(#[from] reqwest::Error),
    #[error("{service} answered {status}: {body}")]
    Status { service: String, status: StatusCode, body: String },
}

impl CallError {
    /// The upstream status, if it answered at all.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            CallError::Status { status, .. } => Some(*status),
            CallError::Transport(_) => None,
        }
    }
}

/// A client of Portico's public listener.
#[derive(Debug, Clone)]
pub struct Gateway {
    http: reqwest::Client,
    base: String,
}

impl Gateway {
    /// A client for Portico at `base`, with its timeouts (never a client without them).
    pub fn new(base: &str) -> Result<Gateway, reqwest::Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(60))
            .build()?;
        Ok(Gateway { http, base: base.trim_end_matches('/').to_string() })
    }

    /// `GET path`, decoded.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, CallError> {
        self.call(Method::GET, path, None::<&()>).await
    }

    /// `POST path` with a JSON body, decoded.
    pub async fn post<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> Result<T, CallError> {
        self.call(Method::POST, path, Some(body)).await
    }

    /// `DELETE path`.
    pub async fn delete(&self, path: &str) -> Result<(), CallError> {
        self.call::<(), serde_json::Value>(Method::DELETE, path, None).await.map(|_| ())
    }

    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, CallError> {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await?;
        let status = response.status();
        if !status.is_success() {
            let service = path.split('/').nth(1).unwrap_or_default().to_string();
            let body = response.text().await.unwrap_or_default();
            return Err(CallError::Status { service, status, body: body.trim().to_string() });
        }
        Ok(response.json().await?)
    }
}
