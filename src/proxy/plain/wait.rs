//! Waiting on a socket within a deadline, with one timer per connection.
//!
//! A tokio timer set per request (tokio's `timeout`) costs a timer-wheel
//! entry each time, about 500 instructions per request in the counts. The
//! plain path keeps one sleep per connection and moves it lazily: it is
//! armed no later than the earliest deadline that can follow (every
//! timeout is at least [`Timer::step`]); when it fires early it is armed
//! again, so on a busy connection it fires once per `step`, not per request.

use std::future::{poll_fn, Future};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::ReadBuf;
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

use crate::server::drain::Watcher;
use crate::upstream::wire::mark_drained;

/// A connection's timer.
pub(super) struct Timer {
    sleep: Pin<Box<Sleep>>,
    /// The shortest timeout in use: the sleep is never further away.
    step: Duration,
}

impl Timer {
    /// A timer for deadlines that are each at least `step` away when set.
    pub fn new(step: Duration) -> Timer {
        let step = step.max(Duration::from_millis(1));
        Timer { sleep: Box::pin(tokio::time::sleep(step)), step }
    }

    /// True once `until` has passed (never for `None`); otherwise the task
    /// is woken no later than `until`.
    pub fn poll_passed(&mut self, cx: &mut Context<'_>, until: Option<Instant>) -> bool {
        loop {
            if self.sleep.as_mut().poll(cx).is_pending() {
                return false;
            }
            let now = Instant::now();
            if until.is_some_and(|until| now >= until) {
                return true;
            }
            let next = now + self.step;
            self.sleep.as_mut().reset(until.map_or(next, |until| until.min(next)));
        }
    }
}

/// How a wait for bytes ended.
#[derive(Debug)]
pub(super) enum Read {
    /// Bytes were appended.
    Data,
    /// The peer closed its side.
    Eof,
    /// The deadline passed first.
    TimedOut,
    /// Shutdown began while nothing was waiting to be read.
    Shutdown,
    /// The client closed or reset its connection meanwhile ([`ClientWatch`]).
    ClientGone,
}

/// Watches the client while its answer is awaited, as hyper's server does:
/// a client that closes its connection meanwhile ends the exchange (the
/// instance's connection is dropped, the request recorded as 499).
pub(super) struct ClientWatch<'a> {
    stream: &'a TcpStream,
    watching: bool,
}

impl<'a> ClientWatch<'a> {
    pub fn new(stream: &'a TcpStream) -> ClientWatch<'a> {
        ClientWatch { stream, watching: true }
    }

    /// True once the client has closed or reset its connection. A client
    /// that has sent more (a pipelined request) is there: it is no longer watched.
    fn poll_gone(&mut self, cx: &mut Context<'_>) -> bool {
        if !self.watching {
            return false;
        }
        let mut byte = [0u8; 1];
        match self.stream.poll_peek(cx, &mut ReadBuf::new(&mut byte)) {
            Poll::Pending => false,
            Poll::Ready(Ok(0) | Err(_)) => true,
            Poll::Ready(Ok(_)) => {
                self.watching = false;
                false
            }
        }
    }
}

/// Reads what `stream` has into `buf` (at least one byte), by `until`;
/// with `client`, gives up if the client leaves meanwhile.
pub(super) async fn read(
    stream: &TcpStream,
    buf: &mut Vec<u8>,
    timer: &mut Timer,
    until: Option<Instant>,
    mut client: Option<&mut ClientWatch<'_>>,
) -> io::Result<Read> {
    poll_fn(|cx| {
        // The read is tried first: it checks the socket's readiness itself.
        loop {
            match try_read(stream, buf) {
                Ok(Some(read)) => return Poll::Ready(Ok(read)),
                Ok(None) => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
            match stream.poll_read_ready(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => break,
            }
        }
        if client.as_mut().is_some_and(|c| c.poll_gone(cx)) {
            return Poll::Ready(Ok(Read::ClientGone));
        }
        match timer.poll_passed(cx, until) {
            true => Poll::Ready(Ok(Read::TimedOut)),
            false => Poll::Pending,
        }
    })
    .await
}

/// Reads what `stream` has now into `buf`, without waiting: `None` when
/// it has nothing (which clears the socket's readable mark).
///
/// A read that did not fill the room it was given emptied the socket, so
/// its readable mark is cleared at once ([`mark_drained`]), as HAProxy
/// does: one wasted system call less per request.
pub(super) fn try_read(stream: &TcpStream, buf: &mut Vec<u8>) -> io::Result<Option<Read>> {
    let room = buf.capacity() - buf.len();
    match stream.try_read_buf(buf) {
        Ok(0) => Ok(Some(Read::Eof)),
        Ok(n) => {
            if n < room {
                mark_drained(stream);
            }
            Ok(Some(Read::Data))
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
        Err(e) => Err(e),
    }
}

/// Waits, by `until`, until `stream` has something to read (holding no buffer meanwhile).
pub(super) async fn readable(
    stream: &TcpStream,
    timer: &mut Timer,
    until: Option<Instant>,
    shutdown: &mut Watcher,
) -> io::Result<Option<Read>> {
    poll_fn(|cx| {
        match stream.poll_read_ready(cx) {
            Poll::Ready(Ok(())) => return Poll::Ready(Ok(None)),
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => {}
        }
        if shutdown.poll_draining(cx).is_ready() {
            return Poll::Ready(Ok(Some(Read::Shutdown)));
        }
        match timer.poll_passed(cx, until) {
            true => Poll::Ready(Ok(Some(Read::TimedOut))),
            false => Poll::Pending,
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_deadline_is_kept_however_far_the_sleep_was_armed() {
        let mut timer = Timer::new(Duration::from_secs(10));
        let start = Instant::now();
        let until = start + Duration::from_secs(25);
        poll_fn(|cx| match timer.poll_passed(cx, Some(until)) {
            true => Poll::Ready(()),
            false => Poll::Pending,
        })
        .await;
        assert_eq!(Instant::now() - start, Duration::from_secs(25));
    }

    #[tokio::test(start_paused = true)]
    async fn a_read_gives_up_at_its_deadline() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let client = TcpStream::connect(listener.local_addr().expect("addr")).await.expect("connect");
        let (_server, _) = listener.accept().await.expect("accept");
        let mut timer = Timer::new(Duration::from_secs(5));
        let until = Some(Instant::now() + Duration::from_secs(7));
        let mut buf = Vec::new();
        let start = Instant::now();
        let outcome = read(&client, &mut buf, &mut timer, until, None).await.expect("no error");
        assert!(matches!(outcome, Read::TimedOut));
        assert_eq!(Instant::now() - start, Duration::from_secs(7));
    }
}
