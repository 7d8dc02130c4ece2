//! One blocking-query loop, independent of which endpoint it polls.
//!
//! [`Watch::next_change`] returns only when the result differs from the last
//! one returned: timeouts and no-op wake-ups are absorbed here, so nothing
//! downstream rebuilds for them. Errors are retried forever with backoff, and
//! the index is reset so the first good reply after an outage is read in full.

use std::future::Future;
use std::sync::Arc;

use crate::consul::ConsulSettings;
use crate::consul::{index, Error, Reply};

use super::backoff::Backoff;
use super::limiter::TokenBucket;
use super::status::WatchStatus;

/// Something that answers blocking queries: a Consul endpoint, or a script in tests.
pub trait Source: Send {
    type Item: Clone + PartialEq + Send;
    fn fetch(&mut self, index: u64) -> impl Future<Output = Result<Reply<Self::Item>, Error>> + Send;
}

/// A blocking-query loop over a [`Source`].
pub struct Watch<S: Source> {
    source: S,
    index: u64,
    last: Option<S::Item>,
    limiter: TokenBucket,
    backoff: Backoff,
    status: Arc<WatchStatus>,
    name: String,
    /// The highest index seen, kept across errors, to notice a reset.
    high_water: u64,
    /// Set when a reply's index fell below `high_water`.
    reset: bool,
}

impl<S: Source> Watch<S> {
    /// A watch that has seen nothing yet.
    pub fn new(name: &str, source: S, settings: &ConsulSettings, status: Arc<WatchStatus>) -> Self {
        Watch {
            source,
            index: 0,
            last: None,
            limiter: TokenBucket::new(settings.rate, settings.burst),
            backoff: Backoff::new(settings.backoff_base, settings.backoff_max),
            status,
            name: name.to_string(),
            high_water: 0,
            reset: false,
        }
    }

    /// The index the next query will send.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// Waits until the result differs from the last one returned.
    pub async fn next_change(&mut self) -> S::Item {
        loop {
            self.limiter.acquire().await;
            match self.source.fetch(self.index).await {
                Ok(reply) => {
                    if let Some(item) = self.accept(reply) {
                        return item;
                    }
                }
                Err(error) => self.fail(error).await,
            }
        }
    }

    /// True (once) when Consul's state was reset since the last call.
    pub fn take_reset(&mut self) -> bool {
        std::mem::take(&mut self.reset)
    }

    fn accept(&mut self, reply: Reply<S::Item>) -> Option<S::Item> {
        if index::went_backwards(self.index, reply.index) {
            tracing::info!(watch = %self.name, sent = self.index, got = reply.index, "consul index went backwards; re-reading");
        }
        if index::went_backwards(self.high_water, reply.index) {
            self.reset = true;
        }
        self.high_water = if self.reset { reply.index } else { self.high_water.max(reply.index) };
        self.index = index::next_index(self.index, reply.index);
        self.backoff.reset();
        self.status.ok(reply.index);
        if self.status.set_filtered(reply.filtered) && reply.filtered {
            tracing::warn!(watch = %self.name, "consul filtered this reply by ACL: the token cannot read everything (see the README's policy)");
        }
        if self.last.as_ref() == Some(&reply.body) {
            return None;
        }
        self.last = Some(reply.body.clone());
        Some(reply.body)
    }

    async fn fail(&mut self, error: Error) {
        let next = self.backoff.next_delay();
        if let Error::Blind(_) = error {
            self.status.set_filtered(true);
        }
        if let Error::Denied { .. } | Error::Blind(_) = error {
            // A refused token will not be accepted a moment later: wait the
            // longest backoff straight away instead of hammering the agent.
            let delay = self.backoff.longest();
            tracing::error!(watch = %self.name, %error, retry_in = ?delay, "consul refused the ACL token; keeping the routes in force");
            self.status.denied(&error.to_string());
            self.wait(delay).await;
        } else {
            tracing::warn!(watch = %self.name, %error, retry_in = ?next, "consul query failed");
            self.status.failed(&error.to_string());
            self.wait(next).await;
        }
    }

    /// Waits before the next query, which starts from scratch (index 0).
    async fn wait(&mut self, delay: std::time::Duration) {
        self.index = 0;
        tokio::time::sleep(delay).await;
    }
}

#[cfg(test)]
mod tests;
