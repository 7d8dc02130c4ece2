//! A waker that only raises a flag, for idle upstream connections.
//!
//! An idle connection in the pool must be checked before reuse: the
//! instance may have closed it meanwhile. Polling hyper's connection state
//! to find out costs several hundred instructions on every request. Instead,
//! a connection is last polled (when it goes idle) with this waker, which
//! the socket's readiness wakes if anything arrives (a close, or stray
//! bytes). Taking it back, a lowered flag means nothing arrived and the
//! poll can be skipped; a raised one means poll it and see.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Wake, Waker};

/// The flag, and a waker that raises it.
#[derive(Debug)]
pub struct WakeFlag {
    raised: Arc<Raised>,
    waker: Waker,
}

#[derive(Debug)]
struct Raised(AtomicBool);

impl Wake for Raised {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::Release);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.store(true, Ordering::Release);
    }
}

impl Default for WakeFlag {
    /// Raised: nothing is known yet.
    fn default() -> Self {
        let raised = Arc::new(Raised(AtomicBool::new(true)));
        WakeFlag { waker: Waker::from(Arc::clone(&raised)), raised }
    }
}

impl WakeFlag {
    /// Lowers the flag and returns the waker that raises it.
    pub fn lower(&self) -> &Waker {
        self.raised.0.store(false, Ordering::Release);
        &self.waker
    }

    /// True when the waker was woken since [`WakeFlag::lower`] (or never lowered).
    pub fn raised(&self) -> bool {
        self.raised.0.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_starts_raised_and_only_its_waker_raises_it_again() {
        let flag = WakeFlag::default();
        assert!(flag.raised());
        let waker = flag.lower().clone();
        assert!(!flag.raised());
        waker.wake_by_ref();
        assert!(flag.raised());
        flag.lower();
        waker.wake();
        assert!(flag.raised());
    }
}
