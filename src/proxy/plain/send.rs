//! Sending a plain request to an instance over a [`Wire`] and waiting for
//! its answer's head, with the same rules as the hyper path
//! ([`super::super::forward`]): another instance when that is safe and the
//! route's retry budget allows, and a request on an idle connection the
//! instance closed meanwhile sent again on a new one (not a retry).

use std::io;

use http::Method;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::buffers::Buf;
use super::wait::{read, ClientWatch, Read, Timer};
use crate::http1::head_end;
use crate::proxy::error::ProxyError;
use crate::proxy::exchange::Exchange;
use crate::proxy::forward::{connect_failed, count_failure, request_failed, Failed};
use crate::proxy::retry::{may_retry, Failure};
use crate::proxy::Gateway;
use crate::snapshot::{Choice, Route};
use crate::upstream::wire::Wire;
use crate::upstream::{Endpoint, InFlight};

/// Largest response head read from an instance.
const MAX_RESPONSE_HEAD: usize = 64 * 1024;

/// A request head on its way, with what its attempts use.
pub(super) struct Sending<'a> {
    /// The whole head, as the instance is to see it.
    pub request: &'a [u8],
    /// When the request started.
    pub now: Instant,
    /// Where the answer's head lands.
    pub up: &'a mut Buf,
    pub timer: &'a mut Timer,
    /// The client, watched while the answer is awaited.
    pub client: &'a TcpStream,
}

/// Why a request got no answer to relay.
pub(super) enum Unsent {
    /// The error the client gets.
    Failed(ProxyError),
    /// The client left while the answer was awaited.
    ClientGone,
}

/// An instance's answer whose head is in the caller's buffer.
pub(super) struct Answered {
    pub wire: Box<Wire>,
    /// The endpoint's index in the route.
    pub index: usize,
    /// Held until the body has been relayed.
    pub _in_flight: InFlight,
}

/// How one exchange on a connection failed.
enum Unanswered {
    /// The instance closed or reset the connection before any response
    /// byte: on a connection that had been idle, the request goes out again
    /// on a new one.
    Again,
    /// No head within the response timeout.
    TimedOut,
    /// Anything else, and what the instance may have seen.
    Failed(String, Failure),
    /// The client left meanwhile.
    ClientGone,
}

/// How one attempt on one instance failed.
enum Attempted {
    Failed(Failed),
    ClientGone,
}

impl Unanswered {
    /// The error the client would get, logged (throttled) like the hyper path's.
    fn on(self, endpoint: &Endpoint) -> Attempted {
        let (detail, failure) = match self {
            Unanswered::ClientGone => return Attempted::ClientGone,
            Unanswered::TimedOut => {
                return Attempted::Failed((ProxyError::Timeout { instance: endpoint.id.clone() }, None))
            }
            Unanswered::Again => ("connection closed before any response byte".to_string(), Failure::NoResponse),
            Unanswered::Failed(detail, failure) => (detail, failure),
        };
        Attempted::Failed(request_failed(&endpoint.id, detail, failure))
    }
}

impl Gateway {
    /// Sends `request` (a whole head) over `route`, retrying on another
    /// instance when that is safe; the answer's head lands in `up`.
    pub(super) async fn send_plain(
        &self,
        route: &Route,
        mut sending: Sending<'_>,
        exchange: &mut Exchange,
    ) -> Result<Answered, Unsent> {
        let settings = &self.settings;
        route.retry_budget.deposit(&self.upstreams.budget);
        let mut tried: Vec<usize> = Vec::new();
        let mut last_error = None;
        loop {
            let Some((index, endpoint)) = route.upstream.choose(Choice::default(), &tried, settings.slow_start) else {
                let error = last_error.unwrap_or_else(|| ProxyError::NoInstance { service: route.service.clone() });
                return Err(Unsent::Failed(error));
            };
            exchange.endpoint = Some(index);
            let in_flight = endpoint.state.begin();
            sending.up.consume(usize::MAX);
            let (error, failure) = match self.attempt(endpoint, &mut sending).await {
                Ok(wire) => return Ok(Answered { wire, index, _in_flight: in_flight }),
                Err(Attempted::ClientGone) => return Err(Unsent::ClientGone),
                Err(Attempted::Failed(failed)) => failed,
            };
            count_failure(route, index, (&error, failure), settings, exchange);
            let retry = failure.is_some_and(|f| may_retry(f, &Method::GET, true));
            if !(retry
                && tried.len() < settings.max_retries as usize
                && route.retry_budget.withdraw(&self.upstreams.budget))
            {
                return Err(Unsent::Failed(error));
            }
            route.metrics.retried();
            tracing::debug!(instance = %endpoint.id, "retrying on another instance");
            tried.push(index);
            last_error = Some(error);
        }
    }

    /// One try on one instance: an idle connection first, then a new one.
    async fn attempt(&self, endpoint: &Endpoint, sending: &mut Sending<'_>) -> Result<Box<Wire>, Attempted> {
        let until = sending.now + self.settings.response_timeout;
        let Sending { request, up, timer, now, client } = sending;
        let mut watch = ClientWatch::new(client);
        if let Some(wire) = self.idle_wire(endpoint, *now) {
            match exchange_on(wire, request, up, timer, (until, &mut watch)).await {
                Ok(wire) => return Ok(wire),
                Err(Unanswered::Again) => {
                    tracing::debug!(instance = %endpoint.id, "idle connection closed under a request; sending it again");
                    up.consume(usize::MAX);
                }
                Err(other) => return Err(other.on(endpoint)),
            }
        }
        let wire = Wire::connect(&endpoint.authority, self.upstreams.connect_timeout)
            .await
            .map_err(|e| Attempted::Failed(connect_failed(endpoint, e)))?;
        exchange_on(wire, request, up, timer, (until, &mut watch)).await.map_err(|e| e.on(endpoint))
    }
}

impl Gateway {
    /// An idle plain connection to `endpoint` from this thread's queue, or
    /// one hyper's client let go of.
    fn idle_wire(&self, endpoint: &Endpoint, now: Instant) -> Option<Box<Wire>> {
        let (connections, max_age) = (&endpoint.connections, self.upstreams.idle_timeout);
        if let Some(wire) = connections.take_wire(&endpoint.authority, max_age, now) {
            return Some(wire);
        }
        connections.take(&endpoint.authority, None, max_age)?.into_wire()
    }
}

/// Writes `request` on `wire` and reads until a final (non-1xx) answer's
/// head is whole in `up`; interim answers are passed over, as hyper does.
async fn exchange_on(
    mut wire: Box<Wire>,
    request: &[u8],
    up: &mut Buf,
    timer: &mut Timer,
    (until, client): (Instant, &mut ClientWatch<'_>),
) -> Result<Box<Wire>, Unanswered> {
    if let Err(e) = wire.stream.write_all(request).await {
        return Err(unanswered(&e));
    }
    loop {
        if let Some(end) = head_end(up.filled()) {
            if !interim(up.filled()) {
                return Ok(wire);
            }
            up.consume(end);
            continue;
        }
        if up.filled().len() > MAX_RESPONSE_HEAD {
            return Err(Unanswered::Failed("response head too large".to_string(), Failure::Other));
        }
        let nothing_yet = up.is_empty();
        match read(&wire.stream, up.room(4096), timer, Some(until), Some(&mut *client)).await {
            Ok(Read::Data) => {}
            Ok(Read::Eof | Read::Shutdown) if nothing_yet => return Err(Unanswered::Again),
            Ok(Read::Eof | Read::Shutdown) => {
                return Err(Unanswered::Failed("connection closed mid-head".to_string(), Failure::Other))
            }
            Ok(Read::TimedOut) => return Err(Unanswered::TimedOut),
            Ok(Read::ClientGone) => return Err(Unanswered::ClientGone),
            Err(e) if nothing_yet => return Err(unanswered(&e)),
            Err(e) => return Err(Unanswered::Failed(e.to_string(), Failure::Other)),
        }
    }
}

/// An interim answer: a `1xx` other than `101` (a switch nobody asked
/// for, which the head's parser refuses).
fn interim(head: &[u8]) -> bool {
    head.starts_with(b"HTTP/") && head.get(9) == Some(&b'1') && head.get(9..12) != Some(b"101")
}

/// A write or read that failed before any response byte: the instance
/// closed or reset the connection.
fn unanswered(error: &io::Error) -> Unanswered {
    use io::ErrorKind::*;
    match error.kind() {
        ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof => Unanswered::Again,
        _ => Unanswered::Failed(error.to_string(), Failure::Other),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn interim_answers_are_told_from_final_ones() {
        assert!(super::interim(b"HTTP/1.1 100 Continue\r\n\r\n"));
        assert!(super::interim(b"HTTP/1.1 103 Early Hints\r\n\r\n"));
        assert!(!super::interim(b"HTTP/1.1 101 Switching Protocols\r\n\r\n"));
        assert!(!super::interim(b"HTTP/1.1 200 OK\r\n\r\n"));
        assert!(!super::interim(b"garbage"));
    }
}
