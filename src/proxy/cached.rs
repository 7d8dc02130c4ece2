//! A cached route's request: lookup, coalesced fetch on a miss, store.
//!
//! A hit never reaches the balancer. On a miss the first request fetches and
//! the others for the same key wait for it ([`crate::cache::flight`]). A
//! response that may be stored is read whole (up to the object limit) and
//! served to the leader from the stored copy; anything larger streams on.
//! Clients on a canary's side bypass the cache, so that neither side is
//! served the other's answers.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{header, HeaderMap, HeaderValue, Method, Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::time::Instant;

use super::error::ProxyError;
use super::{Gateway, Leg, ProxyBody};
use crate::cache::control::{freshness, request_rules};
use crate::cache::{flight, vary_values, CacheKey, Landing, Role, Stored, X_CACHE};
use crate::canary::Side;
use crate::metrics::EdgeOutcome;
use crate::routing::options::CacheSpec;
use crate::snapshot::Route;
use crate::upstream::outbound::declared_length;

impl Gateway {
    /// Serves a GET or HEAD on a cached route.
    pub(super) async fn cached(
        &self,
        request: Request<Incoming>,
        leg: Leg<'_>,
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
        if !rules.revalidate {
            if let Some(hit) = cache.lookup(&key, request.headers(), credentials).await {
                leg.exchange.status = hit.status.as_u16();
                route.metrics.edge(EdgeOutcome::CacheHit);
                return Ok(answer(&hit, head_only, "HIT"));
            }
        }
        // HEAD, range and conditional requests may be answered from the cache,
        // but on a miss they go upstream alone: their 206 or 304 is no answer
        // for anyone else, and must not mark the key uncacheable.
        if head_only || !plain(request.headers()) || cache.is_pass(&key).await {
            return self.forward_marked(request, leg, "MISS").await;
        }
        // A request that asks for a fresh answer neither waits for nor leads others.
        let leader = if rules.revalidate {
            None
        } else {
            match cache.flights.join(&key) {
                Role::Leader(leader) => Some(leader),
                Role::Follower(slot) => {
                    if let Some(hit) = follow(slot, cache.settings.lock_timeout, request.headers(), credentials).await {
                        leg.exchange.status = hit.status.as_u16();
                        route.metrics.edge(EdgeOutcome::CacheHit);
                        return Ok(answer(&hit, false, "HIT"));
                    }
                    return self.forward_marked(request, leg, "MISS").await;
                }
            }
        };
        self.fetch_and_store(request, leg, key, leader, spec, credentials).await
    }

    /// A miss: forwards, then stores the answer if it may be stored, and
    /// tells any followers what came of it.
    async fn fetch_and_store(
        &self,
        request: Request<Incoming>,
        leg: Leg<'_>,
        key: CacheKey,
        leader: Option<flight::Leader<'_>>,
        spec: CacheSpec,
        credentials: bool,
    ) -> Result<Response<ProxyBody>, ProxyError> {
        let cache = &self.policies.cache;
        leg.route.metrics.edge(EdgeOutcome::CacheMiss);
        let request_headers = request.headers().clone();
        let response = self.forward(request, leg).await?;
        let (status, headers) = (response.status(), response.headers());
        let fits = fits(headers, cache.settings.max_object_bytes);
        if !fits || freshness(status, headers, false, spec.default_ttl).is_none() {
            cache.mark_pass(key.clone()).await;
        }
        let fresh = freshness(status, headers, credentials, spec.default_ttl).filter(|_| fits);
        let Some(fresh) = fresh else {
            land(leader, Landing::NotStored);
            return Ok(marked(response, "MISS"));
        };
        let (parts, body) = response.into_parts();
        match collect(body, cache.settings.max_object_bytes).await? {
            Collected::Whole(bytes) => {
                let stored = Arc::new(Stored {
                    status: parts.status,
                    vary: vary_values(&parts.headers, &request_headers),
                    headers: parts.headers,
                    body: bytes,
                    stored_at: Instant::now(),
                    ttl: fresh.ttl,
                    public: fresh.public,
                });
                cache.insert(key, Arc::clone(&stored)).await;
                land(leader, Landing::Stored(Arc::clone(&stored)));
                Ok(answer(&stored, false, "MISS"))
            }
            Collected::TooLarge(head, rest) => {
                cache.mark_pass(key).await;
                land(leader, Landing::NotStored);
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
        Ok(marked(self.forward(request, leg).await?, verdict))
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

fn cache_key(route: &Arc<Route>, path: &str, request: &Request<Incoming>) -> CacheKey {
    // HTTP/2 names the host in `:authority` and may send no `Host` at all.
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()))
        .unwrap_or("");
    let target = match request.uri().query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    };
    CacheKey { route: Arc::clone(&route.key), host: host.to_ascii_lowercase().into(), target: target.into() }
}

/// The client's response from a stored one, with `Age` and `X-Cache`.
fn answer(stored: &Stored, head_only: bool, verdict: &'static str) -> Response<ProxyBody> {
    let body = if head_only { ProxyBody::empty() } else { ProxyBody::full(stored.body.clone()) };
    let mut response = Response::new(body);
    *response.status_mut() = stored.status;
    *response.headers_mut() = stored.headers.clone();
    response.headers_mut().insert(header::AGE, HeaderValue::from(stored.age_secs()));
    response.headers_mut().insert(X_CACHE.clone(), HeaderValue::from_static(verdict));
    response
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
