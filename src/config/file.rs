//! The TOML configuration file. Unknown keys are refused, so a typo is an
//! error at start-up instead of a silently ignored setting.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::edge::{AuthSection, CacheSection, EdgeFile, RateLimitSection, TlsSection};
use super::{
    duration_or, invalid, ConfigError, ConsulFileExtras, ConsulSettings, ConsulTls, ProxySettings, StaticRoute,
};
use crate::routing::host::HostPattern;
use crate::routing::options::OptionsBuilder;
use crate::routing::tags::parse_prefix;
use crate::upstream::Ejection;

/// The file as written; every field optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    pub admin_listen: Option<String>,
    pub admin_token: Option<String>,
    #[serde(default)]
    pub consul: ConsulSection,
    #[serde(default)]
    pub proxy: ProxySection,
    #[serde(default, rename = "route")]
    pub route: Vec<RouteSection>,
    #[serde(default)]
    pub tls: TlsSection,
    #[serde(default)]
    pub auth: AuthSection,
    #[serde(default)]
    pub rate_limit: RateLimitSection,
    #[serde(default)]
    pub cache: CacheSection,
    #[serde(default)]
    pub upstream_tls: UpstreamTlsSection,
    #[serde(default)]
    pub cluster: super::cluster::ClusterSection,
}

/// `[upstream_tls]`: how instances of TLS routes (`https`, `h2`, `grpcs`)
/// are trusted; `[upstream_tls.profiles.NAME]` for the routes that name it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamTlsSection {
    /// PEM CA bundle; with `ca_path` unset too, the system's roots.
    pub ca_file: Option<PathBuf>,
    pub ca_path: Option<PathBuf>,
    /// For instances that require a client certificate (mTLS).
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    /// The name instances' certificates must carry; default: the instance's address.
    pub server_name: Option<String>,
    /// `false` accepts any certificate (testing only).
    pub verify: Option<bool>,
    /// Named settings for routes with `portico.upstream-tls=NAME`; each
    /// stands alone (nothing is inherited from the section above).
    #[serde(default)]
    pub profiles: std::collections::BTreeMap<String, UpstreamTlsSection>,
}

impl UpstreamTlsSection {
    /// The named profiles' settings, each checked like the main ones.
    pub fn profiles(&self) -> Result<std::collections::BTreeMap<String, crate::client_tls::ClientTls>, ConfigError> {
        let mut out = std::collections::BTreeMap::new();
        for (name, section) in &self.profiles {
            if !section.profiles.is_empty() {
                return Err(invalid("upstream_tls profiles", name, "a profile cannot have profiles of its own"));
            }
            crate::routing::options::profile_name(name).map_err(|e| invalid("upstream_tls profiles", name, e))?;
            out.insert(name.clone(), section.settings()?);
        }
        Ok(out)
    }

    /// The settings, checked: a client certificate needs its key.
    pub fn settings(&self) -> Result<crate::client_tls::ClientTls, ConfigError> {
        if self.client_cert.is_some() != self.client_key.is_some() {
            return Err(invalid("upstream_tls client_cert", "client_key", "client_cert and client_key go together"));
        }
        Ok(crate::client_tls::ClientTls {
            ca_file: self.ca_file.clone(),
            ca_path: self.ca_path.clone(),
            client_cert: self.client_cert.clone(),
            client_key: self.client_key.clone(),
            server_name: self.server_name.clone(),
            verify: self.verify.unwrap_or(true),
        })
    }
}

/// `[consul]`: where the agent is and how hard to poll it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsulSection {
    pub address: Option<String>,
    pub token: Option<String>,
    pub token_file: Option<PathBuf>,
    pub datacenter: Option<String>,
    pub ssl: Option<bool>,
    pub cacert: Option<PathBuf>,
    pub capath: Option<PathBuf>,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    pub tls_server_name: Option<String>,
    pub ssl_verify: Option<bool>,
    pub max_connections: Option<usize>,
    pub http2: Option<bool>,
    pub resync: Option<String>,
    pub wait: Option<String>,
    pub rate: Option<f64>,
    pub burst: Option<u32>,
    pub backoff_base: Option<String>,
    pub backoff_max: Option<String>,
    pub coalesce: Option<String>,
    pub reset_grace: Option<String>,
}

/// `[proxy]`: timeouts for clients and upstreams.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxySection {
    pub connect_timeout: Option<String>,
    pub body_idle_timeout: Option<String>,
    pub response_timeout: Option<String>,
    pub pool_idle_timeout: Option<String>,
    pub header_read_timeout: Option<String>,
    pub shutdown_grace: Option<String>,
    pub drain_delay: Option<String>,
    pub retry_after_secs: Option<u32>,
    pub access_log: Option<bool>,
    pub fast_path: Option<bool>,
    pub max_retries: Option<u32>,
    pub retry_budget: Option<f64>,
    pub retry_reserve: Option<u32>,
    pub body_buffer: Option<usize>,
    pub max_body: Option<u64>,
    pub eject_after_failures: Option<u32>,
    pub ejection_time: Option<String>,
    pub max_ejection_time: Option<String>,
    pub max_ejected_share: Option<f64>,
    pub slow_start: Option<String>,
    pub max_connections: Option<usize>,
    pub max_header_bytes: Option<usize>,
    pub threads: Option<usize>,
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
}

/// `[[route]]`: one static route.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSection {
    pub prefix: String,
    pub service: String,
    /// `shop.example.com` or `*.example.com`; any host when absent.
    pub host: Option<String>,
    #[serde(default)]
    pub strip_prefix: bool,
    pub lb: Option<String>,
    pub max_body: Option<u64>,
    /// `jwt`, `api-key` or `any`.
    pub auth: Option<String>,
    /// `N/s`, `N/m` or `N/h`.
    pub rate_limit: Option<String>,
    pub rate_burst: Option<u32>,
    /// `cluster` (default: the limit holds over all replicas) or `replica`.
    pub rate_scope: Option<String>,
    /// How long a stale cached answer may be served when the instances fail.
    pub stale_if_error: Option<String>,
    /// `true`, `false` or a default TTL such as `30s`.
    pub cache: Option<String>,
    /// Encoded characters accepted in paths: `["slash", "semicolon"]`.
    #[serde(default)]
    pub allow_encoded: Vec<String>,
    /// Conditions: `["method:GET,POST", "header:X-Canary=1"]`.
    #[serde(default, rename = "match")]
    pub matchers: Vec<String>,
    /// Request header rules: `["set:X-Env=prod", "remove:X-Debug"]`.
    #[serde(default)]
    pub request_headers: Vec<String>,
    /// Response header rules, same syntax.
    #[serde(default)]
    pub response_headers: Vec<String>,
    /// `http` (default), `https`, `h2c`, `h2`, `grpc` or `grpcs`.
    pub proto: Option<String>,
    /// The `[upstream_tls.profiles.NAME]` its TLS instances are reached with.
    pub upstream_tls: Option<String>,
    /// Canary share such as `5%`; the rest of `canary_*` as the tags say.
    pub canary: Option<String>,
    pub canary_tag: Option<String>,
    pub canary_abort: Option<String>,
    pub canary_window: Option<String>,
    pub canary_min_requests: Option<u32>,
}

impl FileConfig {
    /// Reads and parses a TOML file.
    pub fn read(path: &Path) -> Result<FileConfig, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        FileConfig::parse(&text).map_err(|message| ConfigError::Parse { path: path.to_path_buf(), message })
    }

    /// Parses TOML text.
    pub fn parse(text: &str) -> Result<FileConfig, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// The validated static routes.
    pub fn routes(&self) -> Result<Vec<StaticRoute>, ConfigError> {
        self.route.iter().map(RouteSection::validate).collect()
    }

    /// The edge-policy sections, taken out for [`EdgeFile::merge`].
    pub fn edge(&mut self) -> EdgeFile {
        EdgeFile {
            tls: std::mem::take(&mut self.tls),
            auth: std::mem::take(&mut self.auth),
            rate_limit: std::mem::take(&mut self.rate_limit),
            cache: std::mem::take(&mut self.cache),
            trusted_proxies: std::mem::take(&mut self.proxy.trusted_proxies),
        }
    }
}

impl RouteSection {
    /// Every option this table sets, as (name in errors, option key, value).
    fn options(&self) -> Vec<(&'static str, &'static str, String)> {
        let mut out = vec![("route strip_prefix", "strip-prefix", self.strip_prefix.to_string())];
        let texts = [
            ("route lb", "lb", self.lb.clone()),
            ("route max_body", "max-body", self.max_body.map(|n| n.to_string())),
            ("route auth", "auth", self.auth.clone()),
            ("route rate_limit", "rate-limit", self.rate_limit.clone()),
            ("route rate_burst", "rate-burst", self.rate_burst.map(|n| n.to_string())),
            ("route rate_scope", "rate-scope", self.rate_scope.clone()),
            ("route stale_if_error", "stale-if-error", self.stale_if_error.clone()),
            ("route cache", "cache", self.cache.clone()),
            ("route proto", "proto", self.proto.clone()),
            ("route upstream_tls", "upstream-tls", self.upstream_tls.clone()),
            ("route canary", "canary", self.canary.clone()),
            ("route canary_tag", "canary-tag", self.canary_tag.clone()),
            ("route canary_abort", "canary-abort", self.canary_abort.clone()),
            ("route canary_window", "canary-window", self.canary_window.clone()),
            ("route canary_min_requests", "canary-min-requests", self.canary_min_requests.map(|n| n.to_string())),
        ];
        out.extend(texts.into_iter().filter_map(|(what, key, value)| value.map(|v| (what, key, v))));
        let lists = [
            ("route allow_encoded", "allow-encoded", &self.allow_encoded),
            ("route match", "match", &self.matchers),
            ("route request_headers", "request-header", &self.request_headers),
            ("route response_headers", "response-header", &self.response_headers),
        ];
        for (what, key, values) in lists {
            out.extend(values.iter().map(|v| (what, key, v.clone())));
        }
        out
    }

    fn validate(&self) -> Result<StaticRoute, ConfigError> {
        let prefix = parse_prefix(&self.prefix).map_err(|e| invalid("route prefix", &self.prefix, e))?;
        let host = self.host.as_deref().unwrap_or_default();
        let host = HostPattern::parse(host).map_err(|e| invalid("route host", host, e))?;
        if self.service.trim().is_empty() {
            return Err(invalid("route service", &self.service, "must not be empty"));
        }
        let mut options = OptionsBuilder::default();
        for (what, key, value) in self.options() {
            options.set(key, &value).map_err(|e| invalid(what, &value, e))?;
        }
        let options = options.finish();
        Ok(StaticRoute { host, prefix, service: self.service.trim().to_string(), options })
    }
}

fn share(what: &'static str, value: Option<f64>, default: f64) -> Result<f64, ConfigError> {
    match value {
        None => Ok(default),
        Some(v) if (0.0..=1.0).contains(&v) => Ok(v),
        Some(v) => Err(invalid(what, &v.to_string(), "must be between 0 and 1")),
    }
}

impl ConsulSection {
    pub(super) fn into_settings(self) -> Result<(ConsulSettings, ConsulFileExtras), ConfigError> {
        let d = ConsulSettings::default();
        let extras = ConsulFileExtras { token_file: self.token_file, ssl: self.ssl };
        let tls = ConsulTls {
            ca_file: self.cacert,
            ca_path: self.capath,
            client_cert: self.client_cert,
            client_key: self.client_key,
            server_name: self.tls_server_name.filter(|n| !n.is_empty()),
            verify: self.ssl_verify.unwrap_or(true),
        };
        let rate = self.rate.unwrap_or(d.rate);
        if !(rate.is_finite() && rate > 0.0) {
            return Err(invalid("consul.rate", &rate.to_string(), "must be > 0"));
        }
        let burst = self.burst.unwrap_or(d.burst).max(1);
        let wait = duration_or("consul.wait", &self.wait, d.wait)?;
        if wait.is_zero() || wait > std::time::Duration::from_secs(600) {
            return Err(invalid("consul.wait", &format!("{wait:?}"), "must be between 1ms and 10m"));
        }
        let max_connections = self.max_connections.unwrap_or(d.max_connections);
        if max_connections < 8 {
            return Err(invalid("consul.max_connections", &max_connections.to_string(), "must be at least 8"));
        }
        let resync = duration_or("consul.resync", &self.resync, d.resync)?;
        if resync.is_zero() {
            return Err(invalid("consul.resync", "0s", "must be above zero"));
        }
        let settings = ConsulSettings {
            address: self.address.unwrap_or(d.address),
            token: self.token.filter(|t| !t.is_empty()),
            datacenter: self.datacenter.filter(|d| !d.is_empty()),
            tls,
            max_connections,
            http2: self.http2.unwrap_or(d.http2),
            resync,
            wait,
            rate,
            burst,
            backoff_base: duration_or("consul.backoff_base", &self.backoff_base, d.backoff_base)?,
            backoff_max: duration_or("consul.backoff_max", &self.backoff_max, d.backoff_max)?,
            coalesce: duration_or("consul.coalesce", &self.coalesce, d.coalesce)?,
            reset_grace: duration_or("consul.reset_grace", &self.reset_grace, d.reset_grace)?,
        };
        Ok((settings, extras))
    }
}

impl ProxySection {
    pub(super) fn into_settings(self) -> Result<ProxySettings, ConfigError> {
        let d = ProxySettings::default();
        Ok(ProxySettings {
            connect_timeout: duration_or("proxy.connect_timeout", &self.connect_timeout, d.connect_timeout)?,
            response_timeout: duration_or("proxy.response_timeout", &self.response_timeout, d.response_timeout)?,
            body_idle_timeout: duration_or("proxy.body_idle_timeout", &self.body_idle_timeout, d.body_idle_timeout)?,
            pool_idle_timeout: duration_or("proxy.pool_idle_timeout", &self.pool_idle_timeout, d.pool_idle_timeout)?,
            header_read_timeout: duration_or(
                "proxy.header_read_timeout",
                &self.header_read_timeout,
                d.header_read_timeout,
            )?,
            shutdown_grace: duration_or("proxy.shutdown_grace", &self.shutdown_grace, d.shutdown_grace)?,
            drain_delay: duration_or("proxy.drain_delay", &self.drain_delay, d.drain_delay)?,
            retry_after_secs: self.retry_after_secs.unwrap_or(d.retry_after_secs),
            access_log: self.access_log.unwrap_or(d.access_log),
            fast_path: self.fast_path.unwrap_or(d.fast_path),
            max_retries: self.max_retries.unwrap_or(d.max_retries).min(10),
            retry_budget: share("proxy.retry_budget", self.retry_budget, d.retry_budget)?,
            retry_reserve: self.retry_reserve.unwrap_or(d.retry_reserve),
            body_buffer: self.body_buffer.unwrap_or(d.body_buffer),
            max_body: self.max_body.or(d.max_body),
            ejection: Ejection {
                after_failures: self.eject_after_failures.unwrap_or(d.ejection.after_failures),
                base: duration_or("proxy.ejection_time", &self.ejection_time, d.ejection.base)?,
                max: duration_or("proxy.max_ejection_time", &self.max_ejection_time, d.ejection.max)?,
                max_share: share("proxy.max_ejected_share", self.max_ejected_share, d.ejection.max_share)?,
            },
            slow_start: duration_or("proxy.slow_start", &self.slow_start, d.slow_start)?,
            max_connections: self.max_connections.unwrap_or(d.max_connections).max(1),
            max_header_bytes: self.max_header_bytes.unwrap_or(d.max_header_bytes).max(8192),
            threads: self.threads.unwrap_or(d.threads).max(1),
        })
    }
}
