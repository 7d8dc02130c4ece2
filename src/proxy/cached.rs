//! A cached route's request: lookup, revalidation, serving stale, coalesced
//! fetch on a miss, store; and invalidation after unsafe methods
//! ([`invalidate`]).
//!
//! - A fresh entry answers at once (`HIT`), with a `304` when the client's
//!   own precondition holds ([`answer`]).
//! - A stale entry within `stale-while-revalidate` answers at once (`STALE`)
//!   while one background request refreshes it.
//! - Otherwise the request goes upstream; a stale entry with a validator
//!   makes it conditional, and a `304` refreshes the entry and serves it
//!   (`REVALIDATED`). When the instances fail (an error, or a 5xx) a stale
//!   entry within `stale-if-error` answers (`STALE`).
//! - Concurrent misses for one key wait for a single upstream request
//!   ([`crate::cache::flight`]). A storable response is read whole (up to
//!   the object limit) and served from the stored copy; anything larger
//!   streams on.
//! - Clients on a canary's side bypass the cache, so that neither side is
//!   served the other's answers.

mod answer;
pub mod invalidate;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};
use http::{header, HeaderMap, HeaderValue, Method, Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::time::Instant;

use super::error::ProxyError;
use super::exchange::Exchange;
use super::{Gateway, Leg, ProxyBody};
use crate::cache::control::{freshness, has_targeted, request_rules, strip_targeted, Exchanged, RoutePolicy};
use crate::cache::{flight, vary_values, CacheKey, Landing, Role, Stored, X_CACHE};
use crate::canary::Side;
use crate::metrics::EdgeOutcome;
use crate::routing::options::CacheSpec;
use crate::snapshot::Route;
use crate::upstream::outbound::declared_length;
use answer::{add_preconditions, answer, refreshed_headers};

/// What a request on a cached route brings to a fetch.
struct Fetch<'a> {
    key: CacheKey,
    leader: Option<flight::Leader<'a>>,
    spec: CacheSpec,
    credentials: bool,
    /// The stored entry for this variant, stale (or asked to be revalidated).
    stale: Option<Arc<Stored>>,
}

impl Gateway {
    /// Serves a GET or HEAD on a cached route.
    pub(super) async fn cached(
        &self,
        request: Request<Incoming>,
        mut leg: Leg<'_>,
        spec: CacheSpec,
        credentials: bool,
    ) -> Result<Response<ProxyBody>, ProxyError> {
        let route = leg.route;
        let cache = &self.policies.cache;
        let rules = request_rules(request.headers());
        let head_only = request.method() == Method::HEAD;
        // A canary's answers are its own: its clients neither read nor fill
        // the stable side's cache.
        let canary_side = route.canary.is_some() && self.steering(&request, &leg).choice.side == Side::Canary;
        if rules.bypass || canary_side {
            route.metrics.edge(EdgeOutcome::CacheBypass);
            return self.forward_marked(request, leg, "BYPASS").await;
        }
        let key = cache_key(route, leg.path, &request);
        let found = cache.lookup(&key, request.headers(), credentials).await;
        let now = Instant::now();
        if let (Some(stored), false) = (&found, rules.revalidate) {
            if stored.fresh(now) {
                return Ok(self.hit(stored, &request, &mut leg, head_only, "HIT"));
            }
            if stored.stale_while_revalidate(now) {
                let response = self.hit(stored, &request, &mut leg, head_only, "STALE");
                self.refresh_in_background(request, &leg, key, spec, credentials);
                return Ok(response);
            }
        }
        // HEAD, range and conditional requests may be answered from the cache,
        // but on a miss they go upstream alone: their 206 or 304 is no answer
        // for anyone else, and must not mark the key uncacheable.
        if head_only || !plain(request.headers()) || cache.is_pass(&key).await {
            return self.forward_or_stale(request, leg, found.as_deref(), head_only).await;
        }
        // A request that asks for a fresh answer neither waits for nor leads others.
        let leader = if rules.revalidate {
            None
        } else {
            match cache.flights.join(&key) {
                Role::Leader(leader) => Some(leader),
                Role::Follower(slot) => {
                    if let Some(hit) = follow(slot, cache.settings.lock_timeout, request.headers(), credentials).await {
                        return Ok(self.hit(&hit, &request, &mut leg, false, "HIT"));
                    }
                    return self.forward_or_stale(request, leg, found.as_deref(), false).await;
                }
            }
        };
        let fetch = Fetch { key, leader, spec, credentials, stale: found };
        self.fetch_and_store(request, leg, fetch).await
    }

    /// Answers from `stored`, counted as a hit.
    fn hit(
        &self,
        stored: &Stored,
        request: &Request<Incoming>,
        leg: &mut Leg<'_>,
        head_only: bool,
        verdict: &'static str,
    ) -> Response<ProxyBody> {
        let response = answer(stored, request.headers(), head_only, verdict);
        leg.exchange.status = response.status().as_u16();
        leg.route.metrics.edge(EdgeOutcome::CacheHit);
        response
    }

    /// Refreshes a stale entry with this request in a task of its own (one
    /// per key at a time), while the client is served the stale copy.
    fn refresh_in_background(
        &self,
        request: Request<Incoming>,
        leg: &Leg<'_>,
        key: CacheKey,
        spec: CacheSpec,
        credentials: bool,
    ) {
        let Some(gateway) = self.shared() else { return };
        let (route, conn, path) = (Arc::clone(leg.route), leg.conn.clone(), leg.path.to_string());
        let request_id = leg.exchange.request_id().clone();
        tokio::spawn(async move {
            let cache = Arc::clone(&gateway.policies.cache);
            let Role::Leader(leader) = cache.flights.join(&key) else { return };
            let mut exchange = Exchange::new(&request, request_id, gateway.settings.access_log);
            exchange.route = Some(Arc::clone(&route));
            let stale = cache.lookup(&key, request.headers(), credentials).await;
            let leg = Leg { route: &route, path: &path, conn: &conn, exchange: &mut exchange };
            let fetch = Fetch { key, leader: Some(leader), spec, credentials, stale };
            if let Err(error) = gateway.fetch_and_store(request, leg, fetch).await {
                tracing::debug!(%error, "background refresh of a stale cache entry failed");
            }
        });
    }

    /// Forwards alone; when the instances fail, a stale `found` within its
    /// `stale-if-error` window answers instead.
    async fn forward_or_stale(
        &self,
        request: Request<Incoming>,
        leg: Leg<'_>,
        found: Option<&Stored>,
        head_only: bool,
    ) -> Result<Response<ProxyBody>, ProxyError> {
        let fallback = found.filter(|s| s.stale_if_error(Instant::now()));
        let Some(stale) = fallback else { return self.forward_marked(request, leg, "MISS").await };
        let headers = request.headers().clone();
        leg.route.metrics.edge(EdgeOutcome::CacheMiss);
        match self.forward(request, Leg { exchange: &mut *leg.exchange, ..leg }).await {
            Ok(response) if !response.status().is_server_error() => Ok(marked(response, "MISS")),
            _ => {
                leg.exchange.status = stale.status.as_u16();
                Ok(answer(stale, &headers, head_only, "STALE"))
            }
        }
    }

    /// A miss (or a revalidation): forwards, then stores the answer if it
    /// may be stored, and tells any followers what came of it.
    async fn fetch_and_store(
        &self,
        mut request: Request<Incoming>,
        leg: Leg<'_>,
        fetch: Fetch<'_>,
    ) -> Result<Response<ProxyBody>, ProxyError> {
        leg.route.metrics.edge(EdgeOutcome::CacheMiss);
        let request_headers = request.headers().clone();
        let revalidating = fetch.stale.clone().filter(|s| s.revalidatable());
        if let Some(stale) = &revalidating {
            add_preconditions(stale, request.headers_mut());
        }
        let started = Instant::now();
        let forwarded = self.forward(request, Leg { exchange: &mut *leg.exchange, ..leg }).await;
        let exchanged = Exchanged { took: started.elapsed(), received: SystemTime::now() };
        let fallback = fetch.stale.clone().filter(|s| s.stale_if_error(Instant::now()));
        let response = match (forwarded, fallback) {
            (Ok(response), Some(stale)) if response.status().is_server_error() => {
                return Ok(self.serve_stale(&stale, fetch, &request_headers, leg.exchange));
            }
            (Ok(response), _) => response,
            (Err(_), Some(stale)) => return Ok(self.serve_stale(&stale, fetch, &request_headers, leg.exchange)),
            (Err(error), None) => {
                land(fetch.leader, Landing::NotStored);
                return Err(error);
            }
        };
        match revalidating {
            Some(stale) if response.status() == http::StatusCode::NOT_MODIFIED => {
                let refreshed = self.revalidated(&stale, response.headers(), &fetch, exchanged).await;
                let answer = answer(&refreshed, &request_headers, false, "REVALIDATED");
                leg.exchange.status = answer.status().as_u16();
                land(fetch.leader, Landing::Stored(refreshed));
                Ok(answer)
            }
            _ => self.store(response, fetch, &request_headers, exchanged).await,
        }
    }

    /// The instances failed: the stale entry answers.
    fn serve_stale(
        &self,
        stale: &Stored,
        fetch: Fetch<'_>,
        request: &HeaderMap,
        exchange: &mut Exchange,
    ) -> Response<ProxyBody> {
        land(fetch.leader, Landing::NotStored);
        let response = answer(stale, request, false, "STALE");
        exchange.status = response.status().as_u16();
        response
    }

    /// §4.3.4: the stale entry with the `304`'s header fields, fresh again.
    async fn revalidated(
        &self,
        stale: &Stored,
        not_modified: &HeaderMap,
        fetch: &Fetch<'_>,
        exchanged: Exchanged,
    ) -> Arc<Stored> {
        let headers = refreshed_headers(&stale.headers, not_modified);
        let targeted = has_targeted(&headers);
        let policy = RoutePolicy { default_ttl: fetch.spec.default_ttl, stale_if_error: fetch.spec.stale_if_error };
        let freshness = freshness(stale.status, &headers, fetch.credentials, policy, exchanged)
            .unwrap_or(crate::cache::Freshness { lifetime: Duration::ZERO, ..stale.freshness });
        let refreshed = Arc::new(Stored {
            status: stale.status,
            headers,
            body: stale.body.clone(),
            stored_at: Instant::now(),
            freshness,
            vary: stale.vary.clone(),
            targeted,
        });
        self.policies.cache.insert(fetch.key.clone(), Arc::clone(&refreshed)).await;
        refreshed
    }

    /// Stores `response` if it may be stored; the client's answer.
    async fn store(
        &self,
        response: Response<ProxyBody>,
        fetch: Fetch<'_>,
        request_headers: &HeaderMap,
        exchanged: Exchanged,
    ) -> Result<Response<ProxyBody>, ProxyError> {
        let cache = &self.policies.cache;
        let (status, headers) = (response.status(), response.headers());
        let fits = fits(headers, cache.settings.max_object_bytes);
        let policy = RoutePolicy { default_ttl: fetch.spec.default_ttl, stale_if_error: fetch.spec.stale_if_error };
        if !fits || freshness(status, headers, false, policy, exchanged).is_none() {
            cache.mark_pass(fetch.key.clone()).await;
        }
        let fresh = freshness(status, headers, fetch.credentials, policy, exchanged).filter(|_| fits);
        let (mut parts, body) = response.into_parts();
        let Some(fresh) = fresh else {
            land(fetch.leader, Landing::NotStored);
            strip_targeted(&mut parts.headers);
            return Ok(marked(Response::from_parts(parts, body), "MISS"));
        };
        match collect(body, cache.settings.max_object_bytes).await? {
            Collected::Whole(bytes) => {
                let stored = Arc::new(Stored {
                    targeted: has_targeted(&parts.headers),
                    status: parts.status,
                    vary: vary_values(&parts.headers, request_headers),
                    headers: parts.headers,
                    body: bytes,
                    stored_at: Instant::now(),
                    freshness: fresh,
                });
                cache.insert(fetch.key, Arc::clone(&stored)).await;
                land(fetch.leader, Landing::Stored(Arc::clone(&stored)));
                Ok(answer(&stored, &HeaderMap::new(), false, "MISS"))
            }
            Collected::TooLarge(head, rest) => {
                cache.mark_pass(fetch.key).await;
                land(fetch.leader, Landing::NotStored);
                strip_targeted(&mut parts.headers);
                let body = ProxyBody::Prefixed(Some(head), rest);
                Ok(marked(Response::from_parts(parts, body), "MISS"))
            }
        }
    }

    async fn forward_marked(
        &self,
        request: Request<Incoming>,
        leg: Leg<'_>,
        verdict: &'static str,
    ) -> Result<Response<ProxyBody>, ProxyError> {
        if verdict == "MISS" {
            leg.route.metrics.edge(EdgeOutcome::CacheMiss);
        }
        let mut response = self.forward(request, leg).await?;
        strip_targeted(response.headers_mut());
        Ok(marked(response, verdict))
    }
}

/// Waits up to `timeout` for the leader; its stored answer, if it serves this request.
async fn follow(slot: flight::Slot, timeout: Duration, request: &HeaderMap, credentials: bool) -> Option<Arc<Stored>> {
    let landing = flight::wait_at_most(slot, timeout).await;
    match landing {
        Some(Landing::Stored(stored)) if stored.serves(request, credentials, Instant::now()) => Some(stored),
        _ => None,
    }
}

fn land(leader: Option<flight::Leader<'_>>, landing: Landing) {
    if let Some(leader) = leader {
        leader.land(landing);
    }
}

/// No `Range` and no precondition: an answer to this request is an answer for anyone.
fn plain(headers: &HeaderMap) -> bool {
    const SPECIAL: [header::HeaderName; 5] = [
        header::RANGE,
        header::IF_NONE_MATCH,
        header::IF_MODIFIED_SINCE,
        header::IF_MATCH,
        header::IF_UNMODIFIED_SINCE,
    ];
    !SPECIAL.iter().any(|name| headers.contains_key(name))
}

/// The key of a request on `route` for normalized `path`: the route, the
/// host (`Host`, or `:authority` on HTTP/2), and path with query.
fn cache_key(route: &Arc<Route>, path: &str, request: &Request<Incoming>) -> CacheKey {
    invalidate::key_for(route, invalidate::raw_host(request), path, request.uri().query())
}

fn marked(mut response: Response<ProxyBody>, verdict: &'static str) -> Response<ProxyBody> {
    response.headers_mut().insert(X_CACHE.clone(), HeaderValue::from_static(verdict));
    response
}

/// False when `Content-Length` already says the body is over the limit.
fn fits(headers: &HeaderMap, limit: usize) -> bool {
    declared_length(headers).is_none_or(|n| n <= limit as u64)
}

enum Collected {
    Whole(Bytes),
    /// Over the limit: what was read, and the rest still to stream.
    TooLarge(Bytes, Box<ProxyBody>),
}

async fn collect(mut body: ProxyBody, limit: usize) -> Result<Collected, ProxyError> {
    let mut buffer = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| ProxyError::Upstream { instance: "".into(), detail: e.to_string() })?;
        if let Ok(data) = frame.into_data() {
            buffer.extend_from_slice(&data);
            if buffer.len() > limit {
                return Ok(Collected::TooLarge(buffer.freeze(), Box::new(body)));
            }
        }
    }
    Ok(Collected::Whole(buffer.freeze()))
}
