//! A thin Consul HTTP client: exactly the endpoints Portico watches.
//!
//! Every call is a blocking query: the caller passes the last index, the
//! client sends it with `wait`, and returns the body with the reply's index.
//! Over HTTPS the client speaks HTTP/2 (Consul's HTTPS listener offers it by
//! ALPN), so many blocking queries share one connection; over plain HTTP each
//! query in flight holds a connection of its own. [`Client::fresh`] makes a
//! client with a connection pool of its own, for spreading streams over
//! several connections.
//! The read timeout sits above `wait × 17/16` (Consul adds up to wait/16 of
//! jitter) so a healthy long poll is never cut short. What to do with the
//! index is [`index`]'s business; decoding is [`types`]'.

pub mod agent;
pub mod h2;
pub mod index;
pub mod settings;
pub mod tls;
pub mod types;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue};

pub use settings::{ConsulSettings, ConsulTls};
pub use types::{instance_key, split_instance_key, CheckRow, CheckState, Instance, InstanceHealth};

/// Why a Consul call failed. Every failure is retried by the caller.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("consul unreachable: {0}")]
    Transport(String),
    #[error("consul answered {status}: {body}")]
    Status { status: u16, body: String },
    #[error("consul reply could not be decoded: {0}")]
    Decode(String),
    #[error("consul has no known leader")]
    NoLeader,
    #[error("consul refused the ACL token ({status}): {body}; the token needs the policy in the README (service_prefix and node_prefix read)")]
    Denied { status: u16, body: String },
    #[error("consul's ACLs let the token read nothing here ({0}); the token needs the policy in the README (service_prefix and node_prefix read)")]
    Blind(String),
    #[error("invalid consul setting: {0}")]
    Setup(String),
}

/// One reply to a blocking query.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply<T> {
    /// `X-Consul-Index` (0 when absent or unparsable).
    pub index: u64,
    /// The decoded body.
    pub body: T,
    /// Consul left out what the ACL token may not read
    /// (`X-Consul-Results-Filtered-By-ACLs: true`).
    pub filtered: bool,
}

/// A raw HTTP reply from the agent, whichever transport carried it: status, headers, body.
pub type Answer = (http::StatusCode, http::HeaderMap, bytes::Bytes);

/// Catalog view: service name → union of its instances' tags.
pub type Services = BTreeMap<String, Vec<String>>;

/// How requests travel to the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// HTTP/1.1: one connection per request in flight.
    Http1,
    /// HTTP/2 over TLS: requests are streams of a shared connection.
    Http2,
}

/// The client; cheap to clone (clones share one connection pool, or over
/// HTTP/2 one connection).
#[derive(Debug, Clone)]
pub struct Client {
    connection: Connection,
    spec: Arc<Spec>,
}

#[derive(Debug, Clone)]
enum Connection {
    Http1(reqwest::Client),
    Http2(Arc<h2::Lane>),
}

/// What every client of one agent has in common.
#[derive(Debug)]
struct Spec {
    base: reqwest::Url,
    wait: String,
    read_timeout: Duration,
    datacenter: Option<String>,
    headers: HeaderMap,
    tls: Option<rustls::ClientConfig>,
    /// Where HTTP/2 lanes connect.
    h2: Option<Arc<h2::Target>>,
    transport: Transport,
    /// Body bytes read from the agent, by every client of this agent.
    read_bytes: Arc<AtomicU64>,
}

impl Client {
    /// Builds a client for the agent and token in `settings`: HTTP/2 when the
    /// agent is reached over HTTPS (unless `settings.http2` is off), else HTTP/1.1.
    pub fn new(settings: &ConsulSettings) -> Result<Client, Error> {
        Client::counting(settings, Arc::default())
    }

    /// Like [`Client::new`], adding the body bytes it reads to `read_bytes`.
    pub fn counting(settings: &ConsulSettings, read_bytes: Arc<AtomicU64>) -> Result<Client, Error> {
        let base = reqwest::Url::parse(&format!("{}/", settings.address.trim_end_matches('/')))
            .map_err(|e| Error::Setup(format!("{}: {e}", settings.address)))?;
        let mut headers = HeaderMap::new();
        if let Some(token) = &settings.token {
            let mut value =
                HeaderValue::from_str(token).map_err(|_| Error::Setup("token is not a valid header value".into()))?;
            value.set_sensitive(true);
            headers.insert("x-consul-token", value);
        }
        let https = base.scheme() == "https";
        let transport = if https && settings.http2 { Transport::Http2 } else { Transport::Http1 };
        let tls = if https { Some(tls::client_config(&settings.tls, transport)?) } else { None };
        let h2 = match (&tls, transport) {
            (Some(tls), Transport::Http2) => Some(Arc::new(h2::Target {
                host: base.host_str().unwrap_or_default().trim_matches(['[', ']']).to_string(),
                port: base.port_or_known_default().unwrap_or(443),
                tls: Arc::new(tls.clone()),
                headers: headers.clone(),
                connect_timeout: CONNECT_TIMEOUT,
            })),
            _ => None,
        };
        let spec = Spec {
            base,
            wait: format!("{}ms", settings.wait.as_millis()),
            read_timeout: read_timeout(settings.wait),
            datacenter: settings.datacenter.clone(),
            headers,
            tls,
            h2,
            transport,
            read_bytes,
        };
        Client::build(Arc::new(spec))
    }

    /// A client like this one with a connection pool of its own.
    pub fn fresh(&self) -> Result<Client, Error> {
        Client::build(Arc::clone(&self.spec))
    }

    /// How this client reaches the agent.
    pub fn transport(&self) -> Transport {
        self.spec.transport
    }

    fn build(spec: Arc<Spec>) -> Result<Client, Error> {
        if let Some(target) = &spec.h2 {
            let connection = Connection::Http2(Arc::new(h2::Lane::new(Arc::clone(target))));
            return Ok(Client { connection, spec });
        }
        let mut builder = reqwest::Client::builder()
            .default_headers(spec.headers.clone())
            .timeout(spec.read_timeout)
            .connect_timeout(CONNECT_TIMEOUT)
            .pool_idle_timeout(Duration::from_secs(90))
            // Idle connections count against the agent's per-address limit too.
            .pool_max_idle_per_host(HTTP1_IDLE_CONNECTIONS);
        if let Some(tls) = &spec.tls {
            builder = builder.use_preconfigured_tls(tls.clone());
        }
        let http = builder.build().map_err(|e| Error::Setup(e.to_string()))?;
        Ok(Client { connection: Connection::Http1(http), spec })
    }

    /// `GET /v1/catalog/services`. A reply that ACLs filtered down to nothing
    /// is an error ([`Error::Blind`]): applying it would drop every route, and
    /// a token that can read nothing is a misconfiguration, not a state.
    pub async fn services(&self, index: u64) -> Result<Reply<Services>, Error> {
        let url = self.url(&["v1", "catalog", "services"], index, false)?;
        let (index, filtered, bytes) = self.get(url).await?;
        let body = types::decode_services(&bytes)?;
        if filtered && body.is_empty() {
            return Err(Error::Blind("the catalog came back empty, filtered by ACLs".into()));
        }
        Ok(Reply { index, body, filtered })
    }

    /// `GET /v1/health/service/<name>?passing`: the passing instances, sorted by ID.
    pub async fn passing(&self, service: &str, index: u64) -> Result<Reply<Vec<Instance>>, Error> {
        let url = self.url(&["v1", "health", "service", service], index, true)?;
        let (index, filtered, bytes) = self.get(url).await?;
        let body = types::decode_health(&bytes)?;
        if filtered && body.is_empty() {
            return Err(Error::Blind(format!("every instance of {service} was filtered by ACLs")));
        }
        Ok(Reply { index, body, filtered })
    }

    /// `GET /v1/health/service/<name>` (not blocking): every instance, passing
    /// or not, with its checks.
    pub async fn health(&self, service: &str) -> Result<Vec<InstanceHealth>, Error> {
        let url = self.url(&["v1", "health", "service", service], 0, false)?;
        let (_, _, bytes) = self.get(url).await?;
        types::decode_health_checks(&bytes)
    }

    /// `GET /v1/health/state/any`: every check in the datacenter, digested.
    pub async fn checks(&self, index: u64) -> Result<Reply<Vec<CheckRow>>, Error> {
        let url = self.url(&["v1", "health", "state", "any"], index, false)?;
        let (index, filtered, bytes) = self.get(url).await?;
        let body = types::decode_checks(&bytes)?;
        Ok(Reply { index, body, filtered })
    }

    fn url(&self, segments: &[&str], index: u64, passing: bool) -> Result<reqwest::Url, Error> {
        let pairs: &[(&str, &str)] = if passing { &[("passing", "1")] } else { &[] };
        self.url_with(segments, index, pairs)
    }

    /// The URL of `segments` with `pairs` in its query, blocking from `index` if non-zero.
    fn url_with(&self, segments: &[&str], index: u64, pairs: &[(&str, &str)]) -> Result<reqwest::Url, Error> {
        let mut url = self.spec.base.clone();
        url.path_segments_mut()
            .map_err(|_| Error::Setup("consul address cannot be a base URL".into()))?
            .pop_if_empty()
            .extend(segments);
        {
            let mut query = url.query_pairs_mut();
            if index > 0 {
                query.append_pair("index", &index.to_string());
                query.append_pair("wait", &self.spec.wait);
            }
            for (name, value) in pairs {
                query.append_pair(name, value);
            }
            if let Some(dc) = &self.spec.datacenter {
                query.append_pair("dc", dc);
            }
        }
        Ok(url)
    }

    /// The reply's index, whether ACLs filtered it, and its body.
    async fn get(&self, url: reqwest::Url) -> Result<(u64, bool, bytes::Bytes), Error> {
        self.send(http::Method::GET, url, bytes::Bytes::new()).await
    }

    /// `method url` with `body`; the reply's index, whether ACLs filtered
    /// it, and its body (an error for any status but 2xx).
    async fn send(
        &self,
        method: http::Method,
        url: reqwest::Url,
        body: bytes::Bytes,
    ) -> Result<(u64, bool, bytes::Bytes), Error> {
        // Boxed: a watch waits here for minutes, and thousands of watches
        // would otherwise each carry the largest transport's future inline.
        let (status, headers, body) = match &self.connection {
            Connection::Http2(lane) => Box::pin(lane.send(method, &url, body, self.spec.read_timeout)).await?,
            Connection::Http1(http) => Box::pin(http1_send(http, method, url, body)).await?,
        };
        self.spec.read_bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
        if !status.is_success() {
            let text = String::from_utf8_lossy(&body[..body.len().min(512)]).trim().to_string();
            return Err(match status.as_u16() {
                401 | 403 => Error::Denied { status: status.as_u16(), body: text },
                other => Error::Status { status: other, body: text },
            });
        }
        if index::leader_missing(&headers) {
            return Err(Error::NoLeader);
        }
        let filtered = headers
            .get("x-consul-results-filtered-by-acls")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"));
        Ok((index::reply_index(&headers), filtered, body))
    }
}

async fn http1_send(
    http: &reqwest::Client,
    method: http::Method,
    url: reqwest::Url,
    body: bytes::Bytes,
) -> Result<Answer, Error> {
    let response = http.request(method, url).body(body).send().await.map_err(unreachable)?;
    let (status, headers) = (response.status(), response.headers().clone());
    Ok((status, headers, response.bytes().await.map_err(unreachable)?))
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Idle HTTP/1.1 connections a client keeps for reuse (besides those in use).
pub const HTTP1_IDLE_CONNECTIONS: usize = 2;

/// The HTTP read timeout for a blocking query with `wait`: above the server's
/// longest hold (`wait` plus up to `wait/16` of jitter), with a margin.
pub fn read_timeout(wait: Duration) -> Duration {
    wait + wait / 16 + Duration::from_secs(2)
}

fn unreachable(e: reqwest::Error) -> Error {
    Error::Transport(crate::error_chain::describe(&e))
}
