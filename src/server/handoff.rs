//! A plain connection offered to the handler before hyper serves it
//! ([`super::Handler::serve_plain`]), and what the handler gives back when
//! it meets a request it leaves to hyper: the connection and the bytes it
//! has read, which hyper then reads first ([`Rewind`]).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::drain::Watcher;
use super::Conn;

/// A plain-HTTP connection, just accepted, with the limits it is served under.
pub struct PlainConnection<'a> {
    pub stream: TcpStream,
    pub conn: &'a Conn,
    /// A request head must arrive within this; an idle keep-alive connection closes after it.
    pub header_read_timeout: Duration,
    /// Largest request head.
    pub max_header_bytes: usize,
    /// Shutdown: the connection closes once its request in flight is answered.
    pub shutdown: &'a mut Watcher,
}

/// A connection the handler leaves to hyper, with the bytes it read from it.
pub struct Handoff {
    pub stream: TcpStream,
    pub read: Vec<u8>,
}

impl PlainConnection<'_> {
    /// Leaves the whole connection to hyper, nothing read.
    pub fn hand_off(self) -> Handoff {
        Handoff { stream: self.stream, read: Vec::new() }
    }
}

/// A stream whose first bytes were read already: they are read again first.
pub struct Rewind {
    read: Vec<u8>,
    pos: usize,
    stream: TcpStream,
}

impl Rewind {
    pub fn new(handoff: Handoff) -> Rewind {
        Rewind { read: handoff.read, pos: 0, stream: handoff.stream }
    }
}

impl AsyncRead for Rewind {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.pos < this.read.len() {
            let n = buf.remaining().min(this.read.len() - this.pos);
            buf.put_slice(&this.read[this.pos..this.pos + n]);
            this.pos += n;
            if this.pos == this.read.len() {
                this.read = Vec::new();
                this.pos = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Rewind {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn bytes_read_before_the_hand_off_are_read_again_first() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let client = tokio::spawn(async move {
            let mut s = TcpStream::connect(addr).await.expect("connect");
            s.write_all(b" world").await.expect("write");
        });
        let (stream, _) = listener.accept().await.expect("accept");
        client.await.expect("client");
        let mut rewound = Rewind::new(Handoff { stream, read: b"hello".to_vec() });
        let mut all = String::new();
        rewound.read_to_string(&mut all).await.expect("read");
        assert_eq!(all, "hello world");
    }
}
