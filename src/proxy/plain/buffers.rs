//! Byte buffers for the plain path, lent per request from a per-thread
//! stock: a busy connection holds three, an idle one none, and a request
//! in the steady state allocates none.

use std::cell::RefCell;

/// Size of a lent buffer (a head, or a piece of a body, fits).
const SIZE: usize = 16 * 1024;

/// Buffers kept per thread for reuse; beyond that they are freed.
const KEPT: usize = 64;

thread_local! {
    static STOCK: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// An empty buffer from this thread's stock, or a new one.
pub(super) fn lend() -> Vec<u8> {
    STOCK.with(|stock| stock.borrow_mut().pop()).unwrap_or_else(|| Vec::with_capacity(SIZE))
}

/// Returns `buffer` to this thread's stock (emptied), unless it is full or
/// the buffer grew past the usual size.
pub(super) fn give_back(mut buffer: Vec<u8>) {
    if buffer.capacity() == 0 || buffer.capacity() > 4 * SIZE {
        return;
    }
    buffer.clear();
    STOCK.with(|stock| {
        let mut stock = stock.borrow_mut();
        if stock.len() < KEPT {
            stock.push(buffer);
        }
    });
}

/// Bytes read and not yet used: `data[start..]`.
#[derive(Debug, Default)]
pub(super) struct Buf {
    data: Vec<u8>,
    start: usize,
}

impl Buf {
    /// The bytes waiting.
    pub fn filled(&self) -> &[u8] {
        &self.data[self.start..]
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.data.len()
    }

    /// Marks the first `n` waiting bytes used.
    pub fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.data.len());
        if self.start == self.data.len() {
            self.data.clear();
            self.start = 0;
        }
    }

    /// Room to read at least `min` more bytes into: the vector to append to.
    pub fn room(&mut self, min: usize) -> &mut Vec<u8> {
        if self.data.capacity() == 0 {
            self.data = lend();
        }
        if self.start > 0 && self.data.capacity() - self.data.len() < min {
            self.data.drain(..self.start);
            self.start = 0;
        }
        self.data.reserve(min);
        &mut self.data
    }

    /// Gives the memory back while nothing waits in it (an idle connection holds none).
    pub fn release(&mut self) {
        if self.is_empty() {
            give_back(std::mem::take(&mut self.data));
            self.start = 0;
        }
    }

    /// The bytes waiting, as an owned vector.
    pub fn into_waiting(mut self) -> Vec<u8> {
        self.data.drain(..self.start);
        self.data
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn used_bytes_are_dropped_and_the_rest_kept() {
        let mut buf = Buf::default();
        buf.room(8).extend_from_slice(b"GET / one");
        buf.consume(4);
        assert_eq!(buf.filled(), b"/ one");
        buf.consume(5);
        assert!(buf.is_empty());
        buf.release();
        assert_eq!(buf.data.capacity(), 0, "an empty buffer goes back to the stock");
        buf.room(4).extend_from_slice(b"abc");
        buf.consume(1);
        assert_eq!(buf.into_waiting(), b"bc");
    }
}
