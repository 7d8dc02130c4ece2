//! Sending a request to an instance over a pooled HTTP/1.1 connection or a
//! stream of a shared HTTP/2 one, and trying another instance when that is
//! safe ([`super::retry`]). The request's head is rewritten by
//! [`super::upstream_request`].
//!
//! Response bodies stream; request bodies stream past their first 64 KiB
//! ([`crate::upstream::outbound`]). The response body carries the instance's in-flight
//! guard. Every attempt's outcome feeds passive outlier detection. Protocol
//! switches (WebSocket) are handed to [`super::upgrade`].

use std::time::Duration;

use http::{header, Request, Response};
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;
use tokio::time::Instant;

use super::body::{ProxyBody, UpstreamBody};
use super::error::ProxyError;
use super::exchange::Exchange;
use super::headers::{accepts_trailers, strip_hop_by_hop, wants_upgrade};
use super::retry::{classify, may_retry, refused, Failure};
use super::steer::Steering;
use super::upgrade;
use super::upstream_request::{multiplexed_request, prepare, upstream_request, Http2Target};
use super::{Leg, ProxySettings};
use crate::log_throttle::LogThrottle;
use crate::metrics::UpstreamErrorKind;
use crate::routing::options::Proto;
use crate::snapshot::Route;
use crate::upstream::multiplex::{Dial, StreamLease};
use crate::upstream::outbound::{BodyLimits, Outbound};
use crate::upstream::pool::{self, ConnectError, Connection, SendError};
use crate::upstream::{clock_ms, BudgetPolicy, Endpoint, InFlight, Lease, TlsProfiles, UpstreamTls};

// One warning a second per kind of failure, with a count of those held back.
static CONNECT_FAILED: LogThrottle = LogThrottle::new(Duration::from_secs(1));
static REQUEST_FAILED: LogThrottle = LogThrottle::new(Duration::from_secs(1));
static EJECTED: LogThrottle = LogThrottle::new(Duration::from_secs(1));

/// Connections to instances ([`crate::upstream::pool`]) and the terms of the routes' retry budgets.
pub struct Upstreams {
    /// How TLS instances are reached (the runtime always sets it from
    /// `[upstream_tls]`; `None` only for a gateway built without it).
    tls: Option<TlsProfiles>,
    pub(super) connect_timeout: Duration,
    pub(super) idle_timeout: Duration,
    pub(super) body_idle: Duration,
    pub(super) budget: BudgetPolicy,
}

/// What every attempt of one request shares.
struct Attempt<'a> {
    head: &'a http::request::Parts,
    settings: &'a ProxySettings,
    upgrading: bool,
    /// How the route's instances are spoken to.
    proto: Proto,
    /// The route's `[upstream_tls.profiles.NAME]`, if it names one.
    tls_profile: Option<&'a str>,
    /// The client accepts trailers (`TE: trailers`), which HTTP/2 instances are told.
    trailers: bool,
    /// The client's gRPC deadline, if it set one.
    deadline: Option<Instant>,
}

/// A failed attempt, and what the instance may have seen of it.
pub(super) type Failed = (ProxyError, Option<Failure>);

/// An instance's response head, and the connection or stream its body comes on.
type Answer = (Response<Incoming>, Option<Lease>);

/// Times an HTTP/2 request goes out again, unprocessed, on a new connection
/// to the same instance after its connection refused it (GOAWAY).
const RESENDS: usize = 2;

impl Upstreams {
    /// HTTPS instances are verified as `tls` says.
    pub fn with_tls(mut self, tls: TlsProfiles) -> Upstreams {
        self.tls = Some(tls);
        self
    }

    /// Connections opened within `connect_timeout`, idle ones closed after `pool_idle_timeout`.
    pub fn new(settings: &ProxySettings) -> Upstreams {
        Upstreams {
            tls: None,
            connect_timeout: settings.connect_timeout,
            idle_timeout: settings.pool_idle_timeout,
            body_idle: settings.body_idle_timeout,
            budget: BudgetPolicy::new(settings.retry_budget, settings.retry_reserve),
        }
    }

    /// Forwards `request` over `route` with `path`, retrying on another
    /// instance when that is safe; the exchange moves into the response body
    /// to be recorded when it ends.
    pub(super) async fn send(
        &self,
        mut request: Request<Incoming>,
        path: &str,
        leg: Leg<'_>,
        steering: Steering,
        settings: &ProxySettings,
    ) -> Result<Response<ProxyBody>, ProxyError> {
        let Leg { route, conn, exchange, .. } = leg;
        let upgrading = wants_upgrade(request.headers());
        let client_upgrade = upgrading.then(|| hyper::upgrade::on(&mut request));
        let (mut head, body) = request.into_parts();
        let trailers = accepts_trailers(&head.headers);
        let deadline = super::grpc::timeout(&head.headers).map(|t| Instant::now() + t);
        prepare(&mut head, path, conn, upgrading)?;
        if !route.options.request_headers.is_empty() {
            route.options.request_headers.apply(&mut head.headers);
        }
        let limit = route.options.max_body.or(settings.max_body);
        let limits = BodyLimits {
            buffer: settings.body_buffer,
            max: limit,
            total: settings.response_timeout,
            idle: settings.body_idle_timeout,
        };
        let mut body = Outbound::read(&head.headers, body, limits).await?;
        let fault = body.fault_flag();
        route.retry_budget.deposit(&self.budget);
        let proto = route.options.proto;
        let tls_profile = route.options.upstream_tls.as_deref();
        let attempt = Attempt { head: &head, settings, upgrading, proto, tls_profile, trailers, deadline };
        let mut tried: Vec<usize> = Vec::new();
        let mut last_error = None;
        loop {
            let Some((index, endpoint)) = route.upstream.choose(steering.choice, &tried, settings.slow_start) else {
                return Err(last_error.unwrap_or_else(|| ProxyError::NoInstance { service: route.service.clone() }));
            };
            exchange.endpoint = Some(index);
            let retries_left = tried.len() < settings.max_retries as usize;
            let (this, kept) = match (retries_left, body.replay()) {
                (true, Some(copy)) => (copy, Some(body)),
                _ => (body, None),
            };
            let in_flight = endpoint.state.begin();
            match self.attempt(&attempt, endpoint, this).await {
                Ok((response, conn)) => {
                    count_answer(route, index, response.status().as_u16(), settings, exchange);
                    let mut response = finish(response, conn, in_flight, client_upgrade, exchange);
                    if let Some(cookie) = steering.set_cookie {
                        response.headers_mut().append(header::SET_COOKIE, cookie);
                    }
                    return Ok(response);
                }
                Err((error, failure)) => {
                    count_failure(route, index, (&error, failure), settings, exchange);
                    if let Some(client_fault) = fault.as_ref().and_then(|f| f.error(limit)) {
                        return Err(client_fault.into());
                    }
                    let retry = failure.is_some_and(|f| may_retry(f, &head.method, kept.is_some()));
                    match kept {
                        Some(rest) if retry && route.retry_budget.withdraw(&self.budget) => {
                            route.metrics.retried();
                            tracing::debug!(instance = %endpoint.id, "retrying on another instance");
                            tried.push(index);
                            body = rest;
                            last_error = Some(error);
                        }
                        _ => return Err(error),
                    }
                }
            }
        }
    }

    /// One try on one instance: the error says whether the instance saw anything.
    async fn attempt(&self, attempt: &Attempt<'_>, endpoint: &Endpoint, body: Outbound) -> Result<Answer, Failed> {
        let timed_out = || (ProxyError::Timeout { instance: endpoint.id.clone() }, None);
        let wait = match attempt.deadline {
            Some(deadline) => attempt.settings.response_timeout.min(deadline.saturating_duration_since(Instant::now())),
            None => attempt.settings.response_timeout,
        };
        if wait.is_zero() {
            return Err(timed_out());
        }
        // The less common paths are boxed (HTTP/2 here, new connections in
        // `exchange`), so that the future of every request, moved whole at
        // each step up to hyper, is only as large as the reused-connection path.
        let exchanged = async {
            match attempt.proto.multiplexed() {
                true => Box::pin(self.exchange_multiplexed(attempt, endpoint, body)).await,
                false => self.exchange(attempt, endpoint, body).await,
            }
        };
        let answer = tokio::time::timeout(wait, exchanged).await.unwrap_or_else(|_| Err(timed_out()))?;
        // A switch nobody asked for (RFC 9110 §15.2.2) would leave the client
        // reading another protocol on its connection: the instance failed.
        if answer.0.status() == http::StatusCode::SWITCHING_PROTOCOLS && !attempt.upgrading {
            let detail = "101 Switching Protocols to a request that asked for no switch".to_string();
            return Err(request_failed(&endpoint.id, detail, Failure::Other));
        }
        Ok(answer)
    }

    /// Sends over an idle connection, or a new one. A protocol switch always
    /// gets a new one. An idle connection may have been closed by the instance
    /// meanwhile (servers close idle keep-alive connections on their own
    /// clock): a request it could not take, or one that got no response byte
    /// and can be sent again (its body is buffered), goes out once more on a
    /// new connection to the same instance. That is not a retry: the instance
    /// never saw the request, and the retry budget is not spent.
    async fn exchange(&self, attempt: &Attempt<'_>, endpoint: &Endpoint, body: Outbound) -> Result<Answer, Failed> {
        let tls = self.tls_for(attempt, endpoint)?;
        if attempt.upgrading {
            let request = upstream_request(attempt.head, endpoint, body);
            let mut sender = Box::pin(self.connect(endpoint, tls)).await?.detach_for_upgrade();
            let response = sender.send_request(request).await.map_err(|e| failed(endpoint, &e))?;
            return Ok((response, None));
        }
        let Some(idle) = self.idle_connection(endpoint, tls).await else {
            return Box::pin(self.send_new(endpoint, tls, upstream_request(attempt.head, endpoint, body))).await;
        };
        let again = body.replay();
        let request = match idle.send(upstream_request(attempt.head, endpoint, body)).await {
            Ok((response, conn)) => return Ok((response, Some(Lease::Http1(conn)))),
            Err(SendError::NotSent(request, _)) => *request,
            Err(SendError::Failed(e)) => match again {
                Some(body) if classify(&e) == Failure::NoResponse => {
                    tracing::debug!(instance = %endpoint.id, "idle connection closed under a request; sending it again");
                    upstream_request(attempt.head, endpoint, body)
                }
                _ => return Err(failed(endpoint, &e)),
            },
        };
        Box::pin(self.send_new(endpoint, tls, request)).await
    }

    /// An idle connection to `endpoint` from this thread's queue, or, for a
    /// plain one, one the gateway's own HTTP/1.1 path let go of.
    async fn idle_connection(&self, endpoint: &Endpoint, tls: Option<&UpstreamTls>) -> Option<Box<Connection>> {
        let connections = &endpoint.connections;
        if let Some(idle) = connections.take(&endpoint.authority, tls.map(UpstreamTls::id), self.idle_timeout) {
            return Some(idle);
        }
        let wire =
            tls.is_none().then(|| connections.take_wire(&endpoint.authority, self.idle_timeout, Instant::now()))??;
        pool::adopt(wire, self.body_idle).await.ok()
    }

    /// Sends on a stream of a shared HTTP/2 connection. A request the
    /// connection refused unprocessed (the instance sent GOAWAY, or refused
    /// the stream) goes out again on another connection to the same
    /// instance; like a request on a closed idle connection, that is not a
    /// retry. Protocol switches are not carried over HTTP/2.
    async fn exchange_multiplexed(
        &self,
        attempt: &Attempt<'_>,
        endpoint: &Endpoint,
        body: Outbound,
    ) -> Result<Answer, Failed> {
        if attempt.upgrading {
            let detail = "protocol switch (Upgrade) over an HTTP/2 route is not supported".to_string();
            return Err((ProxyError::Upstream { instance: endpoint.id.clone(), detail }, Some(Failure::Other)));
        }
        let mut again = body.replay();
        let to = Http2Target { endpoint, secure: attempt.proto.secure(), trailers: attempt.trailers };
        let mut request = multiplexed_request(attempt.head, to, body);
        let mut resends = 0;
        loop {
            let mut stream = self.lease(attempt, endpoint).await?;
            let error = match stream.send(request).await {
                Ok(response) => return Ok((response, Some(Lease::Http2(stream)))),
                Err(SendError::NotSent(back, e)) => {
                    request = *back;
                    e
                }
                Err(SendError::Failed(e)) => match again.take() {
                    Some(body) if refused(&e) => {
                        again = body.replay();
                        request = multiplexed_request(attempt.head, to, body);
                        e
                    }
                    _ => return Err(failed(endpoint, &e)),
                },
            };
            stream.drain();
            if resends == RESENDS {
                return Err(failed(endpoint, &error));
            }
            resends += 1;
            tracing::debug!(instance = %endpoint.id, "HTTP/2 connection refused the request unprocessed; sending it on another");
        }
    }

    /// A stream to `endpoint` on a shared HTTP/2 connection. A gRPC stream
    /// may rightly stay quiet for long (a subscription): it is not cut for
    /// idling, and the connection's pings tell a live instance from a dead one.
    async fn lease(&self, attempt: &Attempt<'_>, endpoint: &Endpoint) -> Result<StreamLease, Failed> {
        let tls = self.tls_for(attempt, endpoint)?;
        let body_idle = if attempt.proto.grpc() { Duration::ZERO } else { self.body_idle };
        let dial = Dial { tls, connect_timeout: self.connect_timeout, body_idle };
        endpoint.connections.multiplexed.lease(&endpoint.authority, dial).await.map_err(|e| connect_failed(endpoint, e))
    }

    /// Sends `request` on a new connection to `endpoint`.
    async fn send_new(
        &self,
        endpoint: &Endpoint,
        tls: Option<&UpstreamTls>,
        request: Request<Outbound>,
    ) -> Result<Answer, Failed> {
        match self.connect(endpoint, tls).await?.send(request).await {
            Ok((response, conn)) => Ok((response, Some(Lease::Http1(conn)))),
            Err(SendError::NotSent(_, e) | SendError::Failed(e)) => Err(failed(endpoint, &e)),
        }
    }

    async fn connect(&self, endpoint: &Endpoint, tls: Option<&UpstreamTls>) -> Result<Box<Connection>, Failed> {
        pool::connect(&endpoint.authority, tls, self.connect_timeout, self.body_idle)
            .await
            .map_err(|e| connect_failed(endpoint, e))
    }

    /// The TLS settings for the instances of a TLS route (`None` for a
    /// plain one). A profile nobody configured is a 502 that names it.
    fn tls_for(&self, attempt: &Attempt<'_>, endpoint: &Endpoint) -> Result<Option<&UpstreamTls>, Failed> {
        if !attempt.proto.secure() {
            return Ok(None);
        }
        match self.tls.as_ref().and_then(|profiles| profiles.get(attempt.tls_profile)) {
            Some(tls) => Ok(Some(tls)),
            None => {
                let detail = match attempt.tls_profile {
                    Some(name) => format!("the route names [upstream_tls.profiles.{name}], which is not configured"),
                    None => "no TLS settings for TLS instances ([upstream_tls])".to_string(),
                };
                if let Some(suppressed) = CONNECT_FAILED.admit() {
                    tracing::warn!(instance = %endpoint.id, %detail, suppressed, "cannot connect to instance");
                }
                Err((ProxyError::Upstream { instance: endpoint.id.clone(), detail }, Some(Failure::Other)))
            }
        }
    }
}

/// Counts an answer with `status` from endpoint `index`: outlier detection,
/// the canary's health, the record.
pub(super) fn count_answer(
    route: &Route,
    index: usize,
    status: u16,
    settings: &ProxySettings,
    exchange: &mut Exchange,
) {
    let server_error = (500..600).contains(&status);
    route.upstream.record_outcome(index, server_error, &settings.ejection);
    judge_canary(route, index, server_error);
    exchange.status = status;
}

/// Counts a failed attempt on endpoint `index`, and ejects the endpoint
/// when it has failed too often in a row.
pub(super) fn count_failure(
    route: &Route,
    index: usize,
    (error, failure): (&ProxyError, Option<Failure>),
    settings: &ProxySettings,
    exchange: &Exchange,
) {
    exchange.upstream_failed(kind_of(error, failure));
    judge_canary(route, index, true);
    if route.upstream.record_failure(index, &settings.ejection).is_some() {
        route.metrics.ejected();
        if let Some(suppressed) = EJECTED.admit() {
            let instance = route.upstream.endpoints.get(index).map_or("-", |e| &e.id);
            tracing::warn!(instance, suppressed, "instance ejected after repeated failures");
        }
    }
}

/// A connection to `endpoint` that could not be made: logged (throttled),
/// and a 504 if it timed out, else a 502.
pub(super) fn connect_failed(endpoint: &Endpoint, e: ConnectError) -> Failed {
    let detail = crate::error_chain::describe(&e);
    if let Some(suppressed) = CONNECT_FAILED.admit() {
        tracing::warn!(instance = %endpoint.id, %detail, suppressed, "cannot connect to instance");
    }
    let error = match e.timed_out() {
        true => ProxyError::Timeout { instance: endpoint.id.clone() },
        false => ProxyError::Upstream { instance: endpoint.id.clone(), detail },
    };
    (error, Some(Failure::Connect))
}

/// Counts an answer of endpoint `index` for the route's canary rule, and
/// reports the abort it causes.
fn judge_canary(route: &Route, index: usize, server_error: bool) {
    let Some(canary) = &route.canary else { return };
    let side = route.upstream.side_of(index);
    if let Some(abort) = canary.health.record(side, server_error, clock_ms(), route.options.canary()) {
        route.metrics.canary_aborted();
        tracing::warn!(route = %route.key, service = %route.service, reason = %abort.reason, "canary aborted: its share is now 0");
    }
}

/// A request that got no response head from `endpoint`.
fn failed(endpoint: &Endpoint, error: &hyper::Error) -> Failed {
    request_failed(&endpoint.id, crate::error_chain::describe(error), classify(error))
}

/// A request to `instance` that got no usable answer, as `detail` says:
/// logged (throttled), and a 502.
pub(super) fn request_failed(instance: &str, detail: String, failure: Failure) -> Failed {
    if let Some(suppressed) = REQUEST_FAILED.admit() {
        tracing::warn!(instance, %detail, suppressed, "upstream request failed");
    }
    (ProxyError::Upstream { instance: instance.into(), detail }, Some(failure))
}

fn kind_of(error: &ProxyError, failure: Option<Failure>) -> UpstreamErrorKind {
    match (error, failure) {
        (ProxyError::Timeout { .. }, _) => UpstreamErrorKind::Timeout,
        (_, Some(Failure::Connect)) => UpstreamErrorKind::Connect,
        _ => UpstreamErrorKind::Failed,
    }
}

/// Turns the instance's response into the client's: a tunnel for `101`,
/// otherwise a streamed body carrying the in-flight guard and the exchange.
fn finish(
    mut response: Response<Incoming>,
    conn: Option<Lease>,
    in_flight: InFlight,
    client_upgrade: Option<OnUpgrade>,
    exchange: &mut Exchange,
) -> Response<ProxyBody> {
    if let (Some(client_side), true) = (client_upgrade, response.status() == http::StatusCode::SWITCHING_PROTOCOLS) {
        let upstream_side = hyper::upgrade::on(&mut response);
        upgrade::tunnel(client_side, upstream_side, in_flight);
        let (mut parts, _) = response.into_parts();
        strip_hop_by_hop(&mut parts.headers, true);
        return Response::from_parts(parts, ProxyBody::empty());
    }
    let (mut parts, body) = response.into_parts();
    strip_hop_by_hop(&mut parts.headers, false);
    let exchange = exchange.hand_over();
    Response::from_parts(parts, ProxyBody::Streamed(UpstreamBody::new(body, conn, in_flight, exchange)))
}
