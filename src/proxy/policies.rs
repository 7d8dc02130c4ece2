//! The edge policies a route can ask for, in the order the README documents:
//! route → authenticate → rate limit → cache → pick → forward.
//!
//! A route without policies never enters this module: [`super::Gateway`]
//! checks one flag and forwards. Every refusal here happens before any
//! upstream work. Whether the request carried credentials is read before
//! authentication removes the API key, so the cache still treats it as a
//! request with credentials.

use std::sync::Arc;

use http::{Method, Request, Response};
use hyper::body::Incoming;

use super::cached::invalidate;
use super::error::ProxyError;
use super::{Gateway, Leg, ProxyBody};
use crate::auth::{Authenticator, X_AUTH_SUBJECT};
use crate::cache::ResponseCache;
use crate::metrics::EdgeOutcome;
use crate::ratelimit::{ClientKey, Limiters, TrustedProxies};

/// The shared state behind every route's policies.
pub struct Policies {
    pub auth: Authenticator,
    pub limiters: Arc<Limiters>,
    pub cache: Arc<ResponseCache>,
    pub trusted: TrustedProxies,
}

impl Gateway {
    /// `Authorization` or an API key: answers to such requests are private
    /// unless the response says `public`.
    fn has_credentials(&self, headers: &http::HeaderMap) -> bool {
        headers.contains_key(http::header::AUTHORIZATION) || headers.contains_key(self.policies.auth.api_keys.header())
    }

    /// Applies `route`'s policies, then forwards (possibly through the cache).
    pub(super) async fn with_policies(
        &self,
        mut request: Request<Incoming>,
        leg: Leg<'_>,
    ) -> Result<Response<ProxyBody>, ProxyError> {
        let (route, conn) = (leg.route, leg.conn);
        let options = &route.options;
        let policies = &self.policies;
        let credentials = self.has_credentials(request.headers());
        let subject = match options.auth {
            Some(scheme) => {
                let subject = policies.auth.authenticate(scheme, request.headers()).map_err(|denied| {
                    route.metrics.edge(EdgeOutcome::AuthDenied);
                    ProxyError::Unauthorized { denied, api_key_header: policies.auth.api_keys.header().clone() }
                })?;
                route.metrics.edge(EdgeOutcome::AuthAllowed);
                // The API key is a secret between client and gateway; the
                // instance gets the identity instead (a bearer token is kept:
                // its claims are meant for the instance too).
                request.headers_mut().remove(policies.auth.api_keys.header());
                request.headers_mut().insert(X_AUTH_SUBJECT.clone(), subject.clone());
                Some(subject)
            }
            None => None,
        };
        let decision = match options.rate {
            Some(spec) => {
                let client = match subject {
                    Some(subject) => ClientKey::Subject(subject),
                    None => policies.limiters.ip_key(policies.trusted.client_ip(conn.client.ip(), request.headers())),
                };
                let decision = policies.limiters.check(&route.key, spec, client);
                if !decision.allowed {
                    route.metrics.edge(EdgeOutcome::RateLimited);
                    return Err(ProxyError::RateLimited(decision));
                }
                route.metrics.edge(EdgeOutcome::RateAllowed);
                Some(decision)
            }
            None => None,
        };
        let cacheable = matches!(*request.method(), Method::GET | Method::HEAD);
        let mut response = match options.cache {
            Some(spec) if cacheable => self.cached(request, leg, spec, credentials).await?,
            Some(_) if !invalidate::is_safe(request.method()) => {
                let target = invalidate::Target {
                    host: invalidate::raw_host(&request).to_string(),
                    path: leg.path.to_string(),
                    query: request.uri().query().map(str::to_string),
                };
                let response = self.forward(request, leg).await?;
                self.invalidate_after(route, &target, &response).await;
                response
            }
            _ => self.forward(request, leg).await?,
        };
        if let Some(decision) = decision {
            decision.write_headers(response.headers_mut());
        }
        Ok(response)
    }
}
