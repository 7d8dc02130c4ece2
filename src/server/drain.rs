//! Graceful shutdown of served connections, costing one atomic load per
//! poll of a connection.
//!
//! hyper-util's `GracefulShutdown` polls a `watch` channel's `changed()`
//! every time a connection is polled, which takes the channel's lock: a few
//! hundred instructions on every request. Here a connection registers its
//! task's waker once (under a lock, once per connection); afterwards each
//! poll reads one flag. Shutdown sets the flag, wakes every registered
//! connection so it starts its graceful close (HTTP/1 finishes the request
//! in flight and closes; HTTP/2 sends GOAWAY), and waits for the last one.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use hyper_util::server::graceful::GracefulConnection;
use tokio::sync::Notify;

/// The shutdown signal for the connections of one proxy thread.
#[derive(Default, Clone)]
pub struct Drain {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    draining: AtomicBool,
    /// Connections not yet told, by registration number.
    waiting: Mutex<HashMap<u64, Waker>>,
    next: AtomicU64,
    live: AtomicUsize,
    gone: Notify,
}

impl Inner {
    fn waiting(&self) -> MutexGuard<'_, HashMap<u64, Waker>> {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drain {
    /// A handle for a connection just accepted: [`Drain::shutdown`] waits
    /// for it from now on, until it is dropped or its connection ends.
    pub fn watcher(&self) -> Watcher {
        self.inner.live.fetch_add(1, Ordering::Relaxed);
        Watcher { inner: Arc::clone(&self.inner), registered: None }
    }

    /// Tells every connection to close gracefully and waits until all have.
    pub async fn shutdown(&self) {
        let wakers: Vec<Waker> = {
            let mut waiting = self.inner.waiting();
            self.inner.draining.store(true, Ordering::Release);
            waiting.drain().map(|(_, waker)| waker).collect()
        };
        wakers.into_iter().for_each(Waker::wake);
        loop {
            let gone = self.inner.gone.notified();
            if self.inner.live.load(Ordering::Acquire) == 0 {
                return;
            }
            gone.await;
        }
    }
}

/// One connection's place in the count [`Drain::shutdown`] waits on.
pub struct Watcher {
    inner: Arc<Inner>,
    /// Its task's waker is left to be woken at shutdown ([`Watcher::poll_draining`]).
    registered: Option<u64>,
}

impl Watcher {
    /// `connection`, closed gracefully once shutdown begins.
    pub fn watch<C: GracefulConnection>(self, connection: C) -> Watched<C> {
        Watched { connection: Box::pin(connection), watcher: self, told: false }
    }

    /// True once shutdown has begun.
    pub fn draining(&self) -> bool {
        self.inner.draining.load(Ordering::Acquire)
    }

    /// Ready once shutdown has begun: the first call leaves the task's
    /// waker to be woken then (a task's waker stays the same from poll to
    /// poll); later calls read one flag.
    pub fn poll_draining(&mut self, cx: &Context<'_>) -> Poll<()> {
        if self.draining() {
            return Poll::Ready(());
        }
        if self.registered.is_none() {
            let mut waiting = self.inner.waiting();
            if self.inner.draining.load(Ordering::Acquire) {
                return Poll::Ready(());
            }
            let id = self.inner.next.fetch_add(1, Ordering::Relaxed);
            waiting.insert(id, cx.waker().clone());
            self.registered = Some(id);
        }
        Poll::Pending
    }

    fn unregister(&mut self) {
        if let Some(id) = self.registered.take() {
            self.inner.waiting().remove(&id);
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.unregister();
        if self.inner.live.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.inner.gone.notify_waiters();
        }
    }
}

/// A connection that closes gracefully when its [`Drain`] is shut down.
pub struct Watched<C> {
    connection: Pin<Box<C>>,
    watcher: Watcher,
    /// Its graceful close has begun.
    told: bool,
}

impl<C: GracefulConnection> Future for Watched<C> {
    type Output = Result<(), C::Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        if !this.told && this.watcher.poll_draining(cx).is_ready() {
            this.told = true;
            this.connection.as_mut().graceful_shutdown();
        }
        this.connection.as_mut().poll(cx)
    }
}

#[cfg(test)]
mod tests;
