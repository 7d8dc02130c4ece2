//! How many streams an HTTP/2 instance accepts at once on one connection
//! (`SETTINGS_MAX_CONCURRENT_STREAMS`), read off the wire.
//!
//! hyper's client obeys the limit (a stream beyond it waits in a queue) but
//! does not tell what it is, and a gateway that does not know it piles
//! requests up behind a full connection instead of opening another. The
//! first frame a server sends must be its SETTINGS (RFC 9113 §3.4): this
//! wrapper reads that one frame as it passes by, then only forwards bytes.
//! A later SETTINGS frame that lowers the limit is not seen here; hyper
//! still obeys it, so requests queue rather than fail.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;

/// The limit an instance announced; 0 until its SETTINGS frame arrived.
#[derive(Debug, Default)]
pub struct PeerLimit {
    value: AtomicU32,
    /// Told once the first frame has been read, or found not to be SETTINGS.
    read: Notify,
}

impl PeerLimit {
    /// The announced limit, `None` until known (no limit announced: `u32::MAX`).
    pub fn get(&self) -> Option<u32> {
        match self.value.load(Ordering::Relaxed) {
            0 => None,
            n => Some(n),
        }
    }

    /// Waits until the first frame has been read (the limit is then known,
    /// or the instance does not speak HTTP/2).
    pub async fn first_frame(&self) {
        if self.get().is_none() {
            self.read.notified().await;
        }
    }

    fn set(&self, value: u32) {
        // 0 is a legal announcement (no new streams for now); store it as 1
        // so it is not mistaken for "unknown": hyper queues what is beyond.
        self.value.store(value.max(1), Ordering::Relaxed);
        self.read.notify_one();
    }

    fn not_settings(&self) {
        self.read.notify_one();
    }
}

/// SETTINGS frame type and the parameter wanted (RFC 9113 §6.5.2).
const SETTINGS: u8 = 0x4;
const MAX_CONCURRENT_STREAMS: u16 = 0x3;
/// Frame header length.
const HEADER: usize = 9;
/// A first SETTINGS frame larger than this is not read (real ones carry a
/// handful of 6-byte parameters).
const MAX_PAYLOAD: usize = 6 * 64;

/// A byte stream whose first incoming HTTP/2 frame is read for [`PeerLimit`].
#[derive(Debug)]
pub struct Watched<S> {
    inner: S,
    /// The first frame's bytes so far; `None` once read (or given up on).
    first: Option<Vec<u8>>,
    limit: Arc<PeerLimit>,
}

impl<S> Watched<S> {
    /// Watches `inner`'s incoming bytes, reporting to `limit`.
    pub fn new(inner: S, limit: Arc<PeerLimit>) -> Watched<S> {
        Watched { inner, first: Some(Vec::with_capacity(HEADER + 36)), limit }
    }

    /// The stream ended before its first frame.
    fn gone(&mut self) {
        self.first = None;
        self.limit.not_settings();
    }

    /// Takes in bytes just read; done once the first frame is complete.
    fn observe(&mut self, bytes: &[u8]) {
        let Some(first) = self.first.as_mut() else { return };
        first.extend_from_slice(bytes);
        if first.len() < HEADER {
            return;
        }
        let length = usize::from(first[0]) << 16 | usize::from(first[1]) << 8 | usize::from(first[2]);
        if first[3] != SETTINGS || length > MAX_PAYLOAD {
            self.first = None;
            self.limit.not_settings();
            return;
        }
        if first.len() < HEADER + length {
            return;
        }
        let announced = first[HEADER..HEADER + length]
            .chunks_exact(6)
            .filter(|p| u16::from_be_bytes([p[0], p[1]]) == MAX_CONCURRENT_STREAMS)
            .map(|p| u32::from_be_bytes([p[2], p[3], p[4], p[5]]))
            .next_back();
        self.limit.set(announced.unwrap_or(u32::MAX));
        self.first = None;
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        match polled {
            Poll::Ready(Ok(())) if this.first.is_some() => {
                let read = &buf.filled()[before..];
                match read.is_empty() {
                    true => this.gone(),
                    false => this.observe(read),
                }
            }
            Poll::Ready(Err(_)) if this.first.is_some() => this.gone(),
            _ => {}
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(params: &[(u16, u32)]) -> Vec<u8> {
        let len = params.len() * 6;
        let mut frame = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, SETTINGS, 0, 0, 0, 0, 0];
        for (id, value) in params {
            frame.extend_from_slice(&id.to_be_bytes());
            frame.extend_from_slice(&value.to_be_bytes());
        }
        frame
    }

    fn watched() -> (Watched<()>, Arc<PeerLimit>) {
        let limit = Arc::new(PeerLimit::default());
        (Watched::new((), Arc::clone(&limit)), limit)
    }

    #[test]
    fn the_limit_is_read_from_the_first_frame_even_split_across_reads() {
        let (mut w, limit) = watched();
        let frame = settings(&[(0x1, 4096), (MAX_CONCURRENT_STREAMS, 7), (0x4, 65535)]);
        for piece in frame.chunks(4) {
            assert_eq!(limit.get(), None);
            w.observe(piece);
        }
        assert_eq!(limit.get(), Some(7));
        w.observe(&settings(&[(MAX_CONCURRENT_STREAMS, 500)]));
        assert_eq!(limit.get(), Some(7), "only the first frame is read");
    }

    #[test]
    fn no_announcement_means_no_limit_and_zero_is_not_unknown() {
        let (mut w, limit) = watched();
        w.observe(&settings(&[(0x4, 65535)]));
        assert_eq!(limit.get(), Some(u32::MAX));
        let (mut w, limit) = watched();
        w.observe(&settings(&[(MAX_CONCURRENT_STREAMS, 0)]));
        assert_eq!(limit.get(), Some(1));
    }

    #[test]
    fn a_first_frame_that_is_not_settings_is_left_alone() {
        let (mut w, limit) = watched();
        w.observe(&[0, 0, 8, 0x7, 0, 0, 0, 0, 0]);
        assert!(w.first.is_none());
        assert_eq!(limit.get(), None);
    }
}
