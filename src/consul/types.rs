//! Consul's JSON, decoded leniently: every field defaults, unknown keys are
//! ignored, so an agent version that adds or omits fields cannot break us.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{Error, Services};

/// One passing instance of a service, as Portico routes to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// Consul service ID: unique on its agent, not in the cluster (two nodes
    /// may each run a `web` with ID `web`), so an instance is (node, ID).
    pub id: String,
    /// The Consul node (agent) it is registered on.
    pub node: String,
    /// Host to connect to: `Service.Address`, else `Node.Address`.
    pub address: String,
    /// Port (80 when Consul has none).
    pub port: u16,
    /// `Weights.Passing` (1 when absent).
    pub weight: u32,
    /// `Service.Meta`.
    pub meta: BTreeMap<String, String>,
    /// `Service.Tags`: this instance's own tags (a canary's differ).
    pub tags: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
struct Entry {
    node: Node,
    service: Service,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
struct Node {
    node: String,
    address: String,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
struct Service {
    #[serde(rename = "ID")]
    id: String,
    address: String,
    port: u16,
    weights: Option<Weights>,
    meta: Option<BTreeMap<String, String>>,
    tags: Option<Vec<String>>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
struct Weights {
    passing: u32,
}

/// Decodes `/v1/catalog/services`, dropping Consul's own `consul` service.
pub fn decode_services(bytes: &[u8]) -> Result<Services, Error> {
    let raw: BTreeMap<String, Option<Vec<String>>> =
        serde_json::from_slice(bytes).map_err(|e| Error::Decode(e.to_string()))?;
    Ok(raw
        .into_iter()
        .filter(|(name, _)| name != "consul")
        .map(|(name, tags)| (name, tags.unwrap_or_default()))
        .collect())
}

/// Decodes `/v1/health/service/<name>`: instances without an ID or an address
/// are skipped; the rest are sorted by ID, then node, so equal sets compare equal.
pub fn decode_health(bytes: &[u8]) -> Result<Vec<Instance>, Error> {
    let entries: Vec<Entry> = serde_json::from_slice(bytes).map_err(|e| Error::Decode(e.to_string()))?;
    let mut instances: Vec<Instance> = entries.into_iter().filter_map(Entry::into_instance).collect();
    instances.sort_by(|a, b| (&a.id, &a.node).cmp(&(&b.id, &b.node)));
    instances.dedup_by(|a, b| a.id == b.id && a.node == b.node);
    Ok(instances)
}

impl Entry {
    fn into_instance(self) -> Option<Instance> {
        let Entry { node, service } = self;
        let address = if service.address.is_empty() { node.address } else { service.address };
        let node = node.node;
        if service.id.is_empty() || address.is_empty() {
            return None;
        }
        Some(Instance {
            id: service.id,
            node,
            address,
            port: if service.port == 0 { 80 } else { service.port },
            weight: service.weights.map_or(1, |w| w.passing.max(1)),
            meta: service.meta.unwrap_or_default(),
            tags: service.tags.unwrap_or_default(),
        })
    }
}

/// One instance with its checks, passing or not (for `/admin/explain`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct InstanceHealth {
    pub id: String,
    pub node: String,
    pub checks: Vec<CheckState>,
}

/// One check of one instance (or of its node).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default, serde::Serialize)]
#[serde(default, rename_all(deserialize = "PascalCase", serialize = "snake_case"))]
pub struct CheckState {
    #[serde(rename(deserialize = "CheckID", serialize = "id"))]
    pub check_id: String,
    pub name: String,
    pub status: String,
    pub output: String,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
struct EntryWithChecks {
    node: Node,
    service: Service,
    checks: Vec<CheckState>,
}

/// Decodes `/v1/health/service/<name>` without `?passing`: every instance
/// and its checks.
pub fn decode_health_checks(bytes: &[u8]) -> Result<Vec<InstanceHealth>, Error> {
    let entries: Vec<EntryWithChecks> = serde_json::from_slice(bytes).map_err(|e| Error::Decode(e.to_string()))?;
    Ok(entries.into_iter().map(|e| InstanceHealth { id: e.service.id, node: e.node.node, checks: e.checks }).collect())
}

/// One check of `/v1/health/state/any`, reduced to what says which
/// service changed: a check that appears, disappears, or whose status, tags
/// or output moved its `ModifyIndex`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
pub struct CheckRow {
    pub node: String,
    #[serde(rename = "CheckID")]
    pub check_id: String,
    /// Empty for a node's own checks (`serfHealth`, maintenance).
    pub service_name: String,
    pub status: String,
    pub create_index: u64,
    pub modify_index: u64,
}

/// Decodes `/v1/health/state/any`, sorted by node and check ID.
pub fn decode_checks(bytes: &[u8]) -> Result<Vec<CheckRow>, Error> {
    let mut rows: Vec<CheckRow> = serde_json::from_slice(bytes).map_err(|e| Error::Decode(e.to_string()))?;
    rows.sort_unstable();
    Ok(rows)
}

impl Instance {
    /// The cluster-wide key of the instance: `node/ID`.
    pub fn key(&self) -> String {
        instance_key(&self.node, &self.id)
    }

    /// `host:port` for a URI authority, with IPv6 literals bracketed.
    pub fn authority(&self) -> String {
        if self.address.contains(':') && !self.address.starts_with('[') {
            format!("[{}]:{}", self.address, self.port)
        } else {
            format!("{}:{}", self.address, self.port)
        }
    }
}

/// `node/ID`: node names cannot hold a `/`, so the key splits back unambiguously.
pub fn instance_key(node: &str, id: &str) -> String {
    format!("{node}/{id}")
}

/// The node and service ID of a key made by [`instance_key`].
pub fn split_instance_key(key: &str) -> (&str, &str) {
    key.split_once('/').unwrap_or(("", key))
}

#[cfg(test)]
mod tests;
