//! Typed JSON documents in Consul's KV store, with optimistic concurrency:
//! read a document and its index, change it, write it back only if nobody
//! else wrote in between, and retry otherwise.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::consul::{Consul, ConsulError};

/// A document and the index a conditional write must name.
#[derive(Debug, Clone)]
pub struct Versioned<T> {
    pub value: T,
    pub index: u64,
}

/// JSON documents under `shop/`.
#[derive(Debug, Clone)]
pub struct Store {
    consul: Consul,
}

/// What a change function decided.
pub enum Change<T, E> {
    /// Write this new value.
    Write(T),
    /// Give up with this error; nothing is written.
    Abort(E),
}

/// Why a conditional update did not happen.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError<E> {
    #[error(transparent)]
    Consul(#[from] ConsulError),
    #[error("too much contention on {0}")]
    Contention(String),
    #[error("aborted")]
    Aborted(E),
}

impl Store {
    pub fn new(consul: Consul) -> Store {
        Store { consul }
    }

    /// The document at `key`, if any; a document that does not decode is an
    /// error, never taken for an absent one (which a write would overwrite).
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<Versioned<T>>, ConsulError> {
        let Some(entry) = self.consul.get(key).await? else { return Ok(None) };
        let value = serde_json::from_slice(&entry.value)
            .map_err(|e| ConsulError::Decode(format!("document {key} is corrupt: {e}")))?;
        Ok(Some(Versioned { value, index: entry.modify_index }))
    }

    /// All documents under `prefix`, blocking while the index is `index`.
    pub async fn list<T: DeserializeOwned>(
        &self,
        prefix: &str,
        index: u64,
        wait: Duration,
    ) -> Result<(Vec<T>, u64), ConsulError> {
        let (entries, index) = self.consul.list(prefix, index, wait).await?;
        let decoded = entries.iter().filter_map(|e| match serde_json::from_slice(&e.value) {
            Ok(value) => Some(value),
            Err(error) => {
                tracing::warn!(key = %e.key, %error, "skipping a corrupt document");
                None
            }
        });
        Ok((decoded.collect(), index))
    }

    /// Writes `value` only if the document's index is still `index` (0: only if absent).
    pub async fn put_if<T: Serialize>(&self, key: &str, value: &T, index: u64) -> Result<bool, ConsulError> {
        let bytes = serde_json::to_vec(value).map_err(|e| ConsulError::Decode(e.to_string()))?;
        self.consul.cas(key, bytes, index).await
    }

    /// Deletes a document.
    pub async fn delete(&self, key: &str) -> Result<(), ConsulError> {
        self.consul.delete(key).await
    }

    /// Read-modify-write with check-and-set, retried on conflicting writes.
    /// `change` sees the current document (or `None`) and decides.
    pub async fn update<T, E>(
        &self,
        key: &str,
        mut change: impl FnMut(Option<T>) -> Change<T, E>,
    ) -> Result<T, UpdateError<E>>
    where
        T: Serialize + DeserializeOwned,
    {
        for attempt in 0..50u64 {
            let current = self.get::<T>(key).await?;
            let index = current.as_ref().map_or(0, |v| v.index);
            let next = match change(current.map(|v| v.value)) {
                Change::Write(next) => next,
                Change::Abort(e) => return Err(UpdateError::Aborted(e)),
            };
            if self.put_if(key, &next, index).await? {
                return Ok(next);
            }
            tokio::time::sleep(Duration::from_millis(fastrand::u64(1..=5 + attempt))).await;
        }
        Err(UpdateError::Contention(key.to_string()))
    }
}
