//! The parts of Consul's agent API the shop uses: service registration and
//! the KV store with check-and-set and blocking reads.

use std::time::Duration;

use base64::Engine;
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::Value;

/// A failed Consul call.
#[derive(Debug, thiserror::Error)]
pub enum ConsulError {
    #[error("consul unreachable: {0}")]
    Transport(#[from] reqwest::Error),
    #[error("consul answered {0}: {1}")]
    Status(u16, String),
    #[error("consul sent something unexpected: {0}")]
    Decode(String),
}

/// One KV entry.
#[derive(Debug, Clone)]
pub struct Entry {
    pub key: String,
    pub value: Vec<u8>,
    /// For check-and-set: the write must name this index to succeed.
    pub modify_index: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawEntry {
    key: String,
    value: Option<String>,
    modify_index: u64,
}

/// A client of the local Consul agent.
#[derive(Debug, Clone)]
pub struct Consul {
    http: reqwest::Client,
    base: String,
}

impl Consul {
    /// A client for `base` (e.g. `http://127.0.0.1:8500`) with an optional ACL token.
    pub fn new(base: &str, token: Option<&str>) -> Result<Consul, ConsulError> {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(token) = token.filter(|t| !t.is_empty()) {
            let value = token.parse().map_err(|_| ConsulError::Decode("token is not a valid header value".into()))?;
            headers.insert("x-consul-token", value);
        }
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(120))
            .build()?;
        Ok(Consul { http, base: base.trim_end_matches('/').to_string() })
    }

    /// `PUT /v1/agent/service/register`.
    pub async fn register(&self, registration: &Value) -> Result<(), ConsulError> {
        let response =
            self.http.put(format!("{}/v1/agent/service/register", self.base)).json(registration).send().await?;
        check(response).await.map(|_| ())
    }

    /// `PUT /v1/agent/service/deregister/<id>`; a 404 means it is already gone.
    pub async fn deregister(&self, id: &str) -> Result<(), ConsulError> {
        let response = self.http.put(format!("{}/v1/agent/service/deregister/{id}", self.base)).send().await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(());
        }
        check(response).await.map(|_| ())
    }

    /// One key, or `None` when absent.
    pub async fn get(&self, key: &str) -> Result<Option<Entry>, ConsulError> {
        let response = self.http.get(format!("{}/v1/kv/{key}", self.base)).send().await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let entries = decode(check(response).await?)?;
        Ok(entries.into_iter().next())
    }

    /// Every key under `prefix`, blocking while the index is still `index`
    /// (up to `wait`); returns the entries and the new index.
    pub async fn list(&self, prefix: &str, index: u64, wait: Duration) -> Result<(Vec<Entry>, u64), ConsulError> {
        let mut url = format!("{}/v1/kv/{prefix}?recurse", self.base);
        if index > 0 {
            url.push_str(&format!("&index={index}&wait={}ms", wait.as_millis()));
        }
        let response = self.http.get(url).timeout(wait + wait / 16 + Duration::from_secs(5)).send().await?;
        let new_index = portico::consul::index::reply_index(response.headers());
        if response.status() == StatusCode::NOT_FOUND {
            return Ok((Vec::new(), new_index));
        }
        Ok((decode(check(response).await?)?, new_index))
    }

    /// Writes `value` if the key's modify index is still `cas` (0: only if absent).
    pub async fn cas(&self, key: &str, value: Vec<u8>, cas: u64) -> Result<bool, ConsulError> {
        let url = format!("{}/v1/kv/{key}?cas={cas}", self.base);
        let body = check(self.http.put(url).body(value).send().await?).await?;
        Ok(body.trim() == "true")
    }

    /// Deletes a key.
    pub async fn delete(&self, key: &str) -> Result<(), ConsulError> {
        check(self.http.delete(format!("{}/v1/kv/{key}", self.base)).send().await?).await.map(|_| ())
    }
}

async fn check(response: reqwest::Response) -> Result<String, ConsulError> {
    let status = response.status();
    let body = response.text().await?;
    if status.is_success() {
        Ok(body)
    } else {
        Err(ConsulError::Status(status.as_u16(), body.trim().to_string()))
    }
}

fn decode(body: String) -> Result<Vec<Entry>, ConsulError> {
    let raw: Vec<RawEntry> = serde_json::from_str(&body).map_err(|e| ConsulError::Decode(e.to_string()))?;
    raw.into_iter()
        .map(|e| {
            let value = match e.value {
                Some(v) => base64::engine::general_purpose::STANDARD
                    .decode(v)
                    .map_err(|err| ConsulError::Decode(err.to_string()))?,
                None => Vec::new(),
            };
            Ok(Entry { key: e.key, value, modify_index: e.modify_index })
        })
        .collect()
}
