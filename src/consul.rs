//! A thin Consul HTTP client: exactly the endpoints Portico watches.
//!
//! Every call is a blocking query: the caller passes the last index, the
//! client sends it with `wait`, and returns the body with the reply's index.
//! The read timeout sits above `wait × 17/16` (Consul adds up to wait/16 of
//! jitter) so a healthy long poll is never cut short. What to do with the
//! index is [`index`]'s business; decoding is [`types`]'.

pub mod index;
pub mod settings;
pub mod tls;
pub mod types;

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue};

pub use settings::{ConsulSettings, ConsulTls};
pub use types::{instance_key, split_instance_key, Instance};

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

/// Catalog view: service name → union of its instances' tags.
pub type Services = BTreeMap<String, Vec<String>>;

/// The client; cheap to clone (one shared connection pool).
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: reqwest::Url,
    wait: String,
    datacenter: Option<String>,
}

impl Client {
    /// Builds a client for the agent and token in `settings`.
    pub fn new(settings: &ConsulSettings) -> Result<Client, Error> {
        let base = reqwest::Url::parse(&format!("{}/", settings.address.trim_end_matches('/')))
            .map_err(|e| Error::Setup(format!("{}: {e}", settings.address)))?;
        let mut headers = HeaderMap::new();
        if let Some(token) = &settings.token {
            let mut value =
                HeaderValue::from_str(token).map_err(|_| Error::Setup("token is not a valid header value".into()))?;
            value.set_sensitive(true);
            headers.insert("x-consul-token", value);
        }
        let mut builder = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(read_timeout(settings.wait))
            .connect_timeout(Duration::from_secs(2))
            .pool_idle_timeout(Duration::from_secs(90));
        if base.scheme() == "https" {
            builder = builder.use_preconfigured_tls(tls::client_config(&settings.tls)?);
        }
        let http = builder.build().map_err(|e| Error::Setup(e.to_string()))?;
        let (wait, datacenter) = (format!("{}ms", settings.wait.as_millis()), settings.datacenter.clone());
        Ok(Client { http, base, wait, datacenter })
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

    fn url(&self, segments: &[&str], index: u64, passing: bool) -> Result<reqwest::Url, Error> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|_| Error::Setup("consul address cannot be a base URL".into()))?
            .pop_if_empty()
            .extend(segments);
        {
            let mut query = url.query_pairs_mut();
            if index > 0 {
                query.append_pair("index", &index.to_string());
                query.append_pair("wait", &self.wait);
            }
            if passing {
                query.append_pair("passing", "1");
            }
            if let Some(dc) = &self.datacenter {
                query.append_pair("dc", dc);
            }
        }
        Ok(url)
    }

    /// The reply's index, whether ACLs filtered it, and its body.
    async fn get(&self, url: reqwest::Url) -> Result<(u64, bool, bytes::Bytes), Error> {
        let response = self.http.get(url).send().await.map_err(transport)?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(transport)?;
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

/// The HTTP read timeout for a blocking query with `wait`: above the server's
/// longest hold (`wait` plus up to `wait/16` of jitter), with a margin.
pub fn read_timeout(wait: Duration) -> Duration {
    wait + wait / 16 + Duration::from_secs(2)
}

fn transport(e: reqwest::Error) -> Error {
    Error::Transport(crate::error_chain::describe(&e))
}
