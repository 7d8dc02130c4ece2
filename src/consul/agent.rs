//! What Portico writes to Consul, for running as several replicas: its own
//! registration with the local agent, Consul events that reach every
//! replica (cache purges), and the KV keys replicas acknowledge them with.
//! Reads that go with them (the agent's node name, whether it still holds
//! the registration, the event list) are here too.

use bytes::Bytes;
use http::Method;
use serde::Deserialize;

use super::{Client, Error, Reply};

/// A Consul user event, as `/v1/event/list` returns it.
#[derive(Debug, Clone, Deserialize)]
pub struct Event {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "LTime", default)]
    pub ltime: u64,
    /// Base64, as Consul sends it.
    #[serde(rename = "Payload", default)]
    pub payload: Option<String>,
}

#[derive(Deserialize)]
struct AgentSelf {
    #[serde(rename = "Config")]
    config: AgentConfig,
}

#[derive(Deserialize)]
struct AgentConfig {
    #[serde(rename = "NodeName")]
    node_name: String,
}

#[derive(Deserialize)]
struct Fired {
    #[serde(rename = "ID")]
    id: String,
}

impl Client {
    /// The name of the node the agent runs on (`/v1/agent/self`).
    pub async fn agent_node(&self) -> Result<String, Error> {
        let (_, _, body) = self.get(self.url_with(&["v1", "agent", "self"], 0, &[])?).await?;
        let parsed: AgentSelf = serde_json::from_slice(&body).map_err(|e| Error::Decode(e.to_string()))?;
        Ok(parsed.config.node_name)
    }

    /// Registers a service with the local agent (`PUT /v1/agent/service/register`).
    pub async fn register(&self, registration: &serde_json::Value) -> Result<(), Error> {
        let url = self.url_with(&["v1", "agent", "service", "register"], 0, &[])?;
        self.send(Method::PUT, url, Bytes::from(registration.to_string())).await.map(drop)
    }

    /// Removes a service from the local agent.
    pub async fn deregister(&self, id: &str) -> Result<(), Error> {
        let url = self.url_with(&["v1", "agent", "service", "deregister", id], 0, &[])?;
        self.send(Method::PUT, url, Bytes::new()).await.map(drop)
    }

    /// True when the local agent holds service `id`.
    pub async fn agent_has_service(&self, id: &str) -> Result<bool, Error> {
        match self.get(self.url_with(&["v1", "agent", "service", id], 0, &[])?).await {
            Ok(_) => Ok(true),
            Err(Error::Status { status: 404, .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Fires user event `name` with `payload`; its ID.
    pub async fn fire_event(&self, name: &str, payload: Bytes) -> Result<String, Error> {
        let url = self.url_with(&["v1", "event", "fire", name], 0, &[])?;
        let (_, _, body) = self.send(Method::PUT, url, payload).await?;
        let fired: Fired = serde_json::from_slice(&body).map_err(|e| Error::Decode(e.to_string()))?;
        Ok(fired.id)
    }

    /// The agent's recent events named `name`, blocking from `index`.
    pub async fn events(&self, name: &str, index: u64) -> Result<Reply<Vec<Event>>, Error> {
        let url = self.url_with(&["v1", "event", "list"], index, &[("name", name)])?;
        let (index, filtered, body) = self.get(url).await?;
        let events: Vec<Event> = serde_json::from_slice(&body).map_err(|e| Error::Decode(e.to_string()))?;
        Ok(Reply { index, body: events, filtered })
    }

    /// Writes `value` at KV `key`.
    pub async fn kv_put(&self, key: &str, value: Bytes) -> Result<(), Error> {
        let url = self.url_with(&kv_segments(key), 0, &[])?;
        self.send(Method::PUT, url, value).await.map(drop)
    }

    /// How many keys lie under KV `prefix`.
    pub async fn kv_count(&self, prefix: &str) -> Result<usize, Error> {
        let url = self.url_with(&kv_segments(prefix), 0, &[("keys", "")])?;
        match self.get(url).await {
            Ok((_, _, body)) => {
                let keys: Vec<String> = serde_json::from_slice(&body).map_err(|e| Error::Decode(e.to_string()))?;
                Ok(keys.len())
            }
            Err(Error::Status { status: 404, .. }) => Ok(0),
            Err(e) => Err(e),
        }
    }

    /// Deletes every key under KV `prefix`.
    pub async fn kv_delete_tree(&self, prefix: &str) -> Result<(), Error> {
        let url = self.url_with(&kv_segments(prefix), 0, &[("recurse", "")])?;
        self.send(Method::DELETE, url, Bytes::new()).await.map(drop)
    }
}

/// `/v1/kv/a/b/c` as path segments (each one escaped).
fn kv_segments(key: &str) -> Vec<&str> {
    ["v1", "kv"].into_iter().chain(key.split('/')).collect()
}
