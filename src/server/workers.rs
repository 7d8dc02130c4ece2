//! The threads that serve proxied connections.
//!
//! One multi-threaded tokio runtime would let any thread poll any
//! connection, and wake one thread from another whenever work moves; measured
//! on a busy 2-core machine that cost Portico a fifth of its request rate
//! against nginx. Here each proxy thread runs a single-threaded runtime of its
//! own, as nginx runs worker processes: the accept loop hands each new
//! connection to the next thread in turn, and the connection, its requests and
//! the upstream connections they use stay on that thread
//! ([`crate::upstream::pool`] keeps idle connections per thread). Discovery, the admin
//! listener and the accept loops stay on the main runtime.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;

use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;

/// Proxy threads, each with a single-threaded runtime; stopped when dropped.
#[derive(Debug)]
pub struct Workers {
    handles: Vec<Handle>,
    next: AtomicUsize,
    stop: CancellationToken,
    threads: Vec<JoinHandle<()>>,
}

impl Workers {
    /// Starts `count` threads (at least one) named `portico-proxy-<n>`.
    pub fn start(count: usize) -> std::io::Result<Workers> {
        let stop = CancellationToken::new();
        let mut handles = Vec::new();
        let mut threads = Vec::new();
        for n in 0..count.max(1) {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            handles.push(runtime.handle().clone());
            let stop = stop.clone();
            let thread = std::thread::Builder::new().name(format!("portico-proxy-{n}")).spawn(move || {
                crate::upstream::pool::set_thread_slot(n + 1);
                runtime.block_on(stop.cancelled());
            })?;
            threads.push(thread);
        }
        Ok(Workers { handles, next: AtomicUsize::new(0), stop, threads })
    }

    /// The thread whose turn it is.
    pub fn next(&self) -> usize {
        self.next.fetch_add(1, Ordering::Relaxed) % self.handles.len()
    }

    /// Runs `task` on thread `n` (modulo their number).
    pub fn spawn_on<F>(&self, n: usize, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.handles[n % self.handles.len()].spawn(task);
    }

    /// Number of threads.
    pub fn len(&self) -> usize {
        self.handles.len()
    }

    /// True when there is none (never: at least one is started).
    pub fn is_empty(&self) -> bool {
        self.handles.is_empty()
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        // Tasks still running are dropped with their runtime (after the
        // server's grace period, connections are cut anyway).
        self.stop.cancel();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::sync::{Arc, Mutex};

    use super::*;

    #[tokio::test]
    async fn connections_are_dealt_to_every_thread_in_turn() {
        let workers = Workers::start(3).expect("threads");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (done_tx, mut done_rx) = tokio::sync::mpsc::channel(6);
        for _ in 0..6 {
            let (seen, done) = (Arc::clone(&seen), done_tx.clone());
            workers.spawn_on(workers.next(), async move {
                let name = std::thread::current().name().unwrap_or_default().to_string();
                seen.lock().expect("lock").push(name);
                let _ = done.send(()).await;
            });
        }
        for _ in 0..6 {
            done_rx.recv().await.expect("task ran");
        }
        let names = seen.lock().expect("lock").clone();
        let distinct: HashSet<&String> = names.iter().collect();
        assert_eq!(distinct.len(), 3, "{names:?}");
        assert!(names.iter().all(|n| n.starts_with("portico-proxy-")), "{names:?}");
    }

    #[test]
    fn dropping_the_workers_stops_their_threads() {
        let workers = Workers::start(2).expect("threads");
        let (tx, rx) = std::sync::mpsc::channel();
        workers.spawn_on(workers.next(), async move {
            let _ = tx.send(());
            std::future::pending::<()>().await;
        });
        rx.recv().expect("task started");
        drop(workers); // returns only once both threads have ended
    }
}
