//! Passing an instance's answer to the client: its head rewritten from
//! the bytes it came in, then its body as it arrives, framed as it came
//! (a body that ends with its connection goes to the client chunked).
//! A small answer leaves in one write: head and body together.

use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::buffers::Buf;
use super::wait::{read, Read, Timer};
use crate::http1::chunked::Chunked;
use crate::http1::response::{self, Framing, Invalid};
use crate::http1::write::{response_head, Answering};
use crate::log_throttle::LogThrottle;
use crate::upstream::wire::Wire;

static STALLED: LogThrottle = LogThrottle::new(Duration::from_secs(1));

/// Bytes read from an instance at a time.
const READ_SIZE: usize = 16 * 1024;

/// An answer's head, written for the client.
#[derive(Debug, Clone, Copy)]
pub(super) struct Framed {
    pub code: u16,
    pub framing: Framing,
    /// The instance's connection may carry another request once the body has ended.
    pub reusable: bool,
    pub idle_timeout: Option<Duration>,
}

/// Parses the answer's head in `up` and writes it for the client into
/// `out`; `up` keeps what follows it.
pub(super) fn write_head(
    up: &mut Buf,
    out: &mut Vec<u8>,
    head_only: bool,
    answering: &Answering<'_>,
) -> Result<Framed, Invalid> {
    let mut room = response::header_room();
    let head = response::parse(up.filled(), &mut room, head_only)?.ok_or(Invalid::Incomplete)?;
    // Most instances date their answers; the clock is read only for those that do not.
    let date = (!head.dated).then(super::reply::date);
    let chunk = matches!(head.framing, Framing::Chunked | Framing::UntilClose);
    let answering = Answering { chunk, date: date.as_ref().map(|d| &d[..]), ..*answering };
    response_head(out, &head, &answering);
    let framed =
        Framed { code: head.code, framing: head.framing, reusable: head.reusable, idle_timeout: head.idle_timeout };
    let len = head.len;
    up.consume(len);
    Ok(framed)
}

/// How relaying a body ended.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Relayed {
    /// Whole; the instance's connection is clean (nothing after the body).
    Done { clean: bool },
    /// Cut (the instance broke off, stalled or sent bad framing, or the
    /// client went away): the client's connection must close too.
    Broken,
}

/// What is left of a body.
enum Left {
    Bytes(u64),
    Chunks(Chunked),
    UntilClose,
    Nothing,
}

/// The pieces of a body relay.
pub(super) struct Relay<'a> {
    pub client: &'a mut TcpStream,
    pub wire: &'a mut Wire,
    pub up: &'a mut Buf,
    /// Holds the head, not yet written; then the framed pieces of the body.
    pub out: &'a mut Vec<u8>,
    pub timer: &'a mut Timer,
    /// A body that stalls this long is cut (zero: never).
    pub body_idle: Duration,
    /// Body bytes passed on.
    pub bytes: &'a mut u64,
}

impl Relay<'_> {
    /// Sends the head in `out`, and the body framed as `framing` says.
    pub async fn run(mut self, framing: Framing) -> Relayed {
        let mut left = match framing {
            Framing::Empty => Left::Nothing,
            Framing::Length(n) => Left::Bytes(n),
            Framing::Chunked => Left::Chunks(Chunked::default()),
            Framing::UntilClose => Left::UntilClose,
        };
        loop {
            if !self.write_through(&mut left).await {
                return Relayed::Broken;
            }
            // What was valid goes out even when the framing then broke: the
            // client sees the body cut, as it would from the instance.
            let passed = self.pass_on(&mut left);
            if !self.out.is_empty() {
                if self.client.write_all(self.out).await.is_err() {
                    return Relayed::Broken;
                }
                self.out.clear();
            }
            match passed {
                None => return Relayed::Broken,
                Some(true) => return Relayed::Done { clean: self.up.is_empty() },
                Some(false) => {}
            }
            match self.more().await {
                Some(true) => {}
                Some(false) if matches!(left, Left::UntilClose) => {
                    self.out.extend_from_slice(b"0\r\n\r\n");
                    let sent = self.client.write_all(self.out).await.is_ok();
                    self.out.clear();
                    return if sent { Relayed::Done { clean: false } } else { Relayed::Broken };
                }
                _ => return Relayed::Broken,
            }
        }
    }

    /// Once the head is out, the bytes of a body of known length go to the
    /// client straight from where they were read, not copied first: false
    /// when the client went away.
    async fn write_through(&mut self, left: &mut Left) -> bool {
        let Left::Bytes(n) = left else { return true };
        let take = (*n).min(self.up.filled().len() as u64) as usize;
        if !self.out.is_empty() || take == 0 {
            return true;
        }
        if self.client.write_all(&self.up.filled()[..take]).await.is_err() {
            return false;
        }
        *self.bytes += take as u64;
        *n -= take as u64;
        self.up.consume(take);
        true
    }

    /// Moves what `up` holds of the body into `out`, framed for the
    /// client: whether the body has ended (`None`: bad chunked framing).
    fn pass_on(&mut self, left: &mut Left) -> Option<bool> {
        let waiting = self.up.filled();
        match left {
            Left::Nothing => Some(true),
            Left::Bytes(n) => {
                let take = (*n).min(waiting.len() as u64) as usize;
                self.out.extend_from_slice(&waiting[..take]);
                *self.bytes += take as u64;
                *n -= take as u64;
                self.up.consume(take);
                Some(*n == 0)
            }
            Left::Chunks(chunked) => {
                let before = self.out.len();
                let (used, done) = chunked.relay(waiting, self.out).ok()?;
                *self.bytes += (self.out.len() - before) as u64;
                self.up.consume(used);
                Some(done)
            }
            Left::UntilClose => {
                if !waiting.is_empty() {
                    let _ = std::io::Write::write_fmt(self.out, format_args!("{:x}\r\n", waiting.len()));
                    self.out.extend_from_slice(waiting);
                    self.out.extend_from_slice(b"\r\n");
                    *self.bytes += waiting.len() as u64;
                    let used = waiting.len();
                    self.up.consume(used);
                }
                Some(false)
            }
        }
    }

    /// Reads more of the body: `Some(true)` for bytes, `Some(false)` at the
    /// instance's close, `None` when it failed or stalled.
    async fn more(&mut self) -> Option<bool> {
        let until = (!self.body_idle.is_zero()).then(|| Instant::now() + self.body_idle);
        match read(&self.wire.stream, self.up.room(READ_SIZE), self.timer, until, None).await {
            Ok(Read::Data) => Some(true),
            Ok(Read::Eof) => Some(false),
            Ok(Read::TimedOut) => {
                if let Some(suppressed) = STALLED.admit() {
                    tracing::warn!(instance = %self.wire.authority(), suppressed, "response body stalled; ending it");
                }
                None
            }
            Ok(Read::Shutdown | Read::ClientGone) | Err(_) => None,
        }
    }
}
