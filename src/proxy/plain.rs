//! The plain proxied request on the gateway's own HTTP/1.1 path.
//!
//! Most of what a gateway proxies is a `GET` with no body on a route with
//! no edge policy. hyper serves it as it serves everything: the head parsed
//! into a header map, rewritten there and encoded again, on both sides; the
//! counts in BENCHMARKS.md put that at about as much work as all of nginx.
//! Here such a request is read with [`crate::http1`], its head for the
//! instance is written straight from the bytes it came in, and so is the
//! answer's head for the client; the connection to the instance is a
//! [`Wire`](crate::upstream::wire::Wire) from the instance's own idle queue.
//!
//! The rules are the hyper path's, step for step: the same host check,
//! path normalization, route match, instance pick, retry rules and budget,
//! outlier counts, header rules, request ID, errors and record
//! ([`super::exchange::Exchange`]). Anything else (a body, an upgrade,
//! `Expect`, HTTP/1.0, `Connection: close`, a route with policies, matchers,
//! header rules, a canary or another protocol, any request hyper would
//! refuse) hands the connection to hyper with the bytes read so far, and
//! hyper serves it from that request on.

mod buffers;
mod relay;
mod reply;
mod send;
mod wait;

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderValue, Method, Uri};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::Instant;

use buffers::Buf;
use relay::{Relay, Relayed};
use wait::{read, readable, try_read, Read, Timer};

use super::error::ProxyError;
use super::exchange::Exchange;
use super::forward::{count_answer, count_failure, request_failed};
use super::headers::REQUEST_ID_MAX;
use super::retry::Failure;
use super::upstream_request::upstream_path;
use super::validate::valid_host;
use super::{refused_escape, Gateway};
use crate::http1::head_end;
use crate::http1::request::{self, Head, Parsed};
use crate::http1::write::{request_head, Answering, Forwarding};
use crate::routing::host;
use crate::routing::options::Proto;
use crate::routing::path::normalize;
use crate::server::drain::Watcher;
use crate::server::{Conn, Handoff, PlainConnection};
use crate::snapshot::Route;

/// What became of the connection after a request.
enum Next {
    /// Another request may follow.
    KeepAlive,
    /// It is over.
    Close,
}

/// How waiting for a request head ended.
enum Waited {
    /// A whole head is in the buffer.
    Head,
    /// For hyper: too large to be a plain request's.
    TooLarge,
    /// The client left, idled past the header timeout, or shutdown began.
    Over,
}

/// A request this path serves, and where it goes.
struct Admitted<'a> {
    route: Arc<Route>,
    /// The normalized path.
    path: Cow<'a, str>,
}

/// A connection's buffers and timer while it serves requests.
struct Serving<'a> {
    client: TcpStream,
    conn: &'a Conn,
    timer: Timer,
    input: Buf,
    up: Buf,
    out: Vec<u8>,
}

impl Gateway {
    /// Serves a plain connection's plain requests; the first other request
    /// hands the connection to hyper.
    pub(super) async fn serve_plain_connection(&self, plain: PlainConnection<'_>) -> Option<Handoff> {
        if self.https_redirect.is_some() || !self.settings.fast_path {
            return Some(plain.hand_off());
        }
        let PlainConnection { stream, conn, header_read_timeout, max_header_bytes, shutdown } = plain;
        let timer = Timer::new(self.shortest_timeout(header_read_timeout));
        let mut serving =
            Serving { client: stream, conn, timer, input: Buf::default(), up: Buf::default(), out: Vec::new() };
        loop {
            match serving.next_head(header_read_timeout, max_header_bytes, shutdown).await {
                Waited::Head => {}
                Waited::TooLarge => return Some(serving.hand_off()),
                Waited::Over => return None,
            }
            let mut room = request::header_room();
            let input = std::mem::take(&mut serving.input);
            let Parsed::Plain(head) = request::parse(input.filled(), &mut room) else {
                serving.input = input;
                return Some(serving.hand_off());
            };
            let Some(admitted) = self.admit(&head) else {
                serving.input = input;
                return Some(serving.hand_off());
            };
            let next = self.serve_one(&mut serving, &head, admitted).await;
            let len = head.len;
            serving.input = input;
            serving.input.consume(len);
            if matches!(next, Next::Close) || shutdown.draining() {
                return None;
            }
            serving.rest();
        }
    }

    /// The route of a plain request on a route without policies, matchers,
    /// header rules, canary or hash key, over plain HTTP/1.1; `None` for
    /// anything hyper is to serve (including every refusal).
    fn admit<'a>(&self, head: &Head<'_, 'a>) -> Option<Admitted<'a>> {
        let host = head.host.filter(|h| valid_host(h.as_bytes()))?;
        let path = normalize(head.path).ok()?;
        let snapshot = self.snapshot.load();
        let by_host = if snapshot.table.has_hosts() { host::of_host_header(host) } else { None };
        let mut matchers = false;
        let found = snapshot.table.find(by_host.as_deref(), &path, |r: &Arc<Route>| {
            matchers |= !r.options.matchers.is_empty();
            r.options.matchers.is_empty()
        });
        let route = Arc::clone(found.filter(|_| !matchers)?);
        drop(snapshot);
        (plain_route(&route) && refused_escape(&path, &route).is_none()).then_some(Admitted { route, path })
    }

    /// Forwards one admitted request and relays the answer (or answers an error).
    async fn serve_one(
        &self,
        serving: &mut Serving<'_>,
        head: &Head<'_, '_>,
        Admitted { route, path }: Admitted<'_>,
    ) -> Next {
        let mut generated = [0u8; REQUEST_ID_MAX];
        let (request_id, new_request_id) = match head.request_id {
            Some(given) => (given, None),
            None => {
                let len = self.ids.write_new(&mut generated);
                (&generated[..len], Some(&generated[..len]))
            }
        };
        let now = Instant::now();
        let mut exchange = self.plain_exchange(head, request_id, now);
        exchange.route = Some(Arc::clone(&route));
        serving.write_upstream_head(head, (&route, &path), new_request_id);
        let sending = send::Sending {
            request: &serving.out,
            now,
            up: &mut serving.up,
            timer: &mut serving.timer,
            client: &serving.client,
        };
        let sent = self.send_plain(&route, sending, &mut exchange).await;
        serving.out.clear();
        match sent {
            Ok(answered) => {
                self.relay_answer(serving, head.head_only, &route, answered, (request_id, &mut exchange)).await
            }
            Err(send::Unsent::ClientGone) => Next::Close,
            Err(send::Unsent::Failed(error)) => {
                self.answer_error(serving, error, head.head_only, request_id, &mut exchange).await
            }
        }
    }

    /// Writes the instance's answer for the client: its head, then its body.
    async fn relay_answer(
        &self,
        serving: &mut Serving<'_>,
        head_only: bool,
        route: &Route,
        mut answered: send::Answered,
        (request_id, exchange): (&[u8], &mut Exchange),
    ) -> Next {
        let answering = Answering { request_id, date: None, chunk: false };
        let framed = match relay::write_head(&mut serving.up, &mut serving.out, head_only, &answering) {
            Ok(framed) => framed,
            Err(invalid) => {
                let instance = route.upstream.endpoints.get(answered.index).map_or("-", |e| &e.id);
                let (error, failure) = request_failed(instance, invalid.to_string(), Failure::Other);
                count_failure(route, answered.index, (&error, failure), &self.settings, exchange);
                return self.answer_error(serving, error, head_only, request_id, exchange).await;
            }
        };
        count_answer(route, answered.index, framed.code, &self.settings, exchange);
        let relay = Relay {
            client: &mut serving.client,
            wire: &mut answered.wire,
            up: &mut serving.up,
            out: &mut serving.out,
            timer: &mut serving.timer,
            body_idle: self.settings.body_idle_timeout,
            bytes: &mut exchange.bytes,
        };
        match relay.run(framed.framing).await {
            Relayed::Done { clean } => {
                if let (true, Some(endpoint)) = (framed.reusable && clean, route.upstream.endpoints.get(answered.index))
                {
                    if let Some(timeout) = framed.idle_timeout {
                        answered.wire.server_idle(timeout);
                    }
                    endpoint.connections.put_wire(answered.wire, exchange.started());
                }
                Next::KeepAlive
            }
            Relayed::Broken => Next::Close,
        }
    }

    /// The record of a plain request (its method and target only for the access log).
    fn plain_exchange(&self, head: &Head<'_, '_>, request_id: &[u8], now: Instant) -> Exchange {
        if !self.settings.access_log {
            return Exchange::start_at(now, Method::GET, Uri::default(), HeaderValue::from_static("-"), false);
        }
        let method = if head.head_only { Method::HEAD } else { Method::GET };
        let uri = Uri::try_from(head.target).unwrap_or_default();
        let id = HeaderValue::from_bytes(request_id).unwrap_or_else(|_| HeaderValue::from_static("-"));
        Exchange::start_at(now, method, uri, id, true)
    }

    /// Answers `error` as the hyper path would (JSON, `Retry-After` on 503).
    async fn answer_error(
        &self,
        serving: &mut Serving<'_>,
        error: ProxyError,
        head_only: bool,
        request_id: &[u8],
        exchange: &mut Exchange,
    ) -> Next {
        tracing::debug!(%error, "request failed");
        exchange.status = error.status().as_u16();
        let id = HeaderValue::from_bytes(request_id).ok();
        let response = error.into_response(id.as_ref(), self.settings.retry_after_secs);
        serving.out.clear();
        reply::write_whole(&mut serving.out, response, head_only);
        match serving.client.write_all(&serving.out).await {
            Ok(()) => Next::KeepAlive,
            Err(_) => Next::Close,
        }
    }

    /// The shortest of the timeouts the connection's timer serves.
    fn shortest_timeout(&self, header_read_timeout: Duration) -> Duration {
        let settings = &self.settings;
        [header_read_timeout, settings.response_timeout, settings.body_idle_timeout]
            .into_iter()
            .filter(|t| !t.is_zero())
            .min()
            .unwrap_or(header_read_timeout)
    }
}

/// A route whose requests need nothing but routing and forwarding.
fn plain_route(route: &Route) -> bool {
    let options = &route.options;
    !options.has_policies()
        && options.proto == Proto::Http
        && options.matchers.is_empty()
        && options.request_headers.is_empty()
        && options.response_headers.is_empty()
        && options.hash_key.is_none()
        && route.canary.is_none()
}

impl Serving<'_> {
    /// Writes into `out` the request head the instance is to see: the
    /// route's path, the client's headers without hop-by-hop ones, and the
    /// forwarding headers.
    fn write_upstream_head(
        &mut self,
        head: &Head<'_, '_>,
        (route, path): (&Route, &str),
        new_request_id: Option<&[u8]>,
    ) {
        let upstream = upstream_path(path, route);
        let target = match *upstream == *head.path {
            true => (head.path, head.query),
            false => (&*upstream, head.query),
        };
        let proto = if self.conn.tls { "https" } else { "http" };
        let forwarding = Forwarding {
            client: self.conn.client.ip(),
            prior_for: head.forwarded_for,
            proto,
            host: head.host.unwrap_or_default(),
            new_request_id,
        };
        if self.out.capacity() == 0 {
            self.out = buffers::lend();
        }
        self.out.clear();
        request_head(&mut self.out, head.head_only, target, head.headers, &forwarding);
    }

    /// Waits until a whole request head is in the input, within the
    /// header timeout (an idle keep-alive connection closes after it too).
    async fn next_head(&mut self, timeout: Duration, max_header_bytes: usize, shutdown: &mut Watcher) -> Waited {
        let mut until = None;
        loop {
            if head_end(self.input.filled()).is_some() {
                return Waited::Head;
            }
            if self.input.filled().len() >= max_header_bytes {
                return Waited::TooLarge;
            }
            let until = *until.get_or_insert_with(|| Instant::now() + timeout);
            if self.input.is_empty() {
                // Idle: wait holding no buffer, and for shutdown too. The
                // socket may still be marked readable from the last read;
                // a read that finds nothing clears the mark, and the wait
                // starts again.
                self.input.release();
                match readable(&self.client, &mut self.timer, Some(until), shutdown).await {
                    Ok(None) => {}
                    Ok(Some(_)) | Err(_) => return Waited::Over,
                }
                match try_read(&self.client, self.input.room(4096)) {
                    Ok(Some(Read::Data)) | Ok(None) => continue,
                    Ok(Some(_)) | Err(_) => return Waited::Over,
                }
            }
            match read(&self.client, self.input.room(4096), &mut self.timer, Some(until), None).await {
                Ok(Read::Data) => {}
                Ok(_) | Err(_) => return Waited::Over,
            }
        }
    }

    /// Between requests: an idle connection holds no buffer.
    fn rest(&mut self) {
        self.input.release();
        self.up.release();
        buffers::give_back(std::mem::take(&mut self.out));
    }

    /// The connection and what was read of it, for hyper.
    fn hand_off(self) -> Handoff {
        let Serving { client, input, mut up, out, .. } = self;
        up.release();
        buffers::give_back(out);
        Handoff { stream: client, read: input.into_waiting() }
    }
}
