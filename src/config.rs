//! Configuration: command-line flags (each with an environment variable), an
//! optional TOML file, and defaults, merged into one validated [`Config`].
//!
//! Precedence is flag or env > file > default, so an operator can keep a file
//! in version control and still override one value at deploy time.

pub mod cluster;
pub mod edge;
mod file;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::routing::options::RouteOptions;
use crate::routing::tags::parse_route;

pub use crate::consul::{ConsulSettings, ConsulTls};
pub use crate::proxy::ProxySettings;
pub use crate::replicas::ClusterSettings;
pub use crate::routing::StaticRoute;
pub use edge::EdgeSettings;
pub use file::FileConfig;

/// Why a configuration was refused; the message names the offending value.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("invalid config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid {what} {value:?}: {reason}")]
    Invalid { what: &'static str, value: String, reason: String },
}

fn invalid(what: &'static str, value: &str, reason: impl ToString) -> ConfigError {
    ConfigError::Invalid { what, value: value.to_string(), reason: reason.to_string() }
}

/// Command-line flags. Every flag also reads an environment variable.
#[derive(Debug, Parser, Default)]
#[command(name = "portico", version, about = "A Consul-driven API gateway and load balancer")]
pub struct Cli {
    /// Public listener address [default: 0.0.0.0:8080]
    #[arg(long, env = "PORTICO_LISTEN")]
    pub listen: Option<String>,
    /// Admin listener address (/healthz, /admin/routes) [default: 127.0.0.1:9090]
    #[arg(long, env = "PORTICO_ADMIN_LISTEN")]
    pub admin_listen: Option<String>,
    /// Consul agent HTTP address [default: http://127.0.0.1:8500]
    #[arg(long, env = "CONSUL_HTTP_ADDR")]
    pub consul: Option<String>,
    /// Consul ACL token, sent as X-Consul-Token
    #[arg(long, env = "CONSUL_HTTP_TOKEN", hide_env_values = true)]
    pub consul_token: Option<String>,
    /// File holding the Consul ACL token (wins over --consul-token when not empty)
    #[arg(long, env = "CONSUL_HTTP_TOKEN_FILE")]
    pub consul_token_file: Option<PathBuf>,
    /// Consul datacenter to read (dc=) [default: the agent's own]
    #[arg(long, env = "PORTICO_CONSUL_DATACENTER")]
    pub consul_datacenter: Option<String>,
    /// Most connections to the Consul agent (it allows 200 per client address by default) [default: 100]
    #[arg(long, env = "PORTICO_CONSUL_MAX_CONNECTIONS", value_parser = clap::value_parser!(u32).range(8..))]
    pub consul_max_connections: Option<u32>,
    /// Talk to the agent over HTTPS (as an https:// address does)
    #[arg(long, env = "CONSUL_HTTP_SSL", value_parser = clap::builder::BoolishValueParser::new())]
    pub consul_ssl: Option<bool>,
    /// PEM file of CA certificates to verify the agent with [default: the system's]
    #[arg(long, env = "CONSUL_CACERT")]
    pub consul_cacert: Option<PathBuf>,
    /// Directory of PEM CA certificates to verify the agent with
    #[arg(long, env = "CONSUL_CAPATH")]
    pub consul_capath: Option<PathBuf>,
    /// PEM client certificate, for an agent with verify_incoming (with --consul-client-key)
    #[arg(long, env = "CONSUL_CLIENT_CERT")]
    pub consul_client_cert: Option<PathBuf>,
    /// PEM key of the client certificate
    #[arg(long, env = "CONSUL_CLIENT_KEY")]
    pub consul_client_key: Option<PathBuf>,
    /// Name to verify the agent's certificate against [default: the address's host]
    #[arg(long, env = "CONSUL_TLS_SERVER_NAME")]
    pub consul_tls_server_name: Option<String>,
    /// Verify the agent's certificate: true or false [default: true]
    #[arg(long, env = "CONSUL_HTTP_SSL_VERIFY", value_parser = clap::builder::BoolishValueParser::new())]
    pub consul_ssl_verify: Option<bool>,
    /// TOML configuration file
    #[arg(long, env = "PORTICO_CONFIG")]
    pub config: Option<PathBuf>,
    /// Static route PREFIX=SERVICE (repeatable; env: comma-separated)
    #[arg(long = "route", env = "PORTICO_ROUTES", value_delimiter = ',')]
    pub routes: Vec<String>,
    /// Log format: pretty or json
    #[arg(long, env = "PORTICO_LOG_FORMAT", default_value = "pretty")]
    pub log_format: String,
    /// One log line per request (target portico::access): true or false [default: true]
    #[arg(long, env = "PORTICO_ACCESS_LOG")]
    pub access_log: Option<bool>,
    /// Serve plain GET/HEAD requests on Portico's own HTTP/1.1 path: true or false [default: true]
    #[arg(long, env = "PORTICO_FAST_PATH")]
    pub fast_path: Option<bool>,
    /// Threads serving proxied connections [default: one per CPU core]
    #[arg(long, env = "PORTICO_THREADS")]
    pub threads: Option<usize>,
    /// Bearer token the admin endpoints require (all but /healthz)
    #[arg(long, env = "PORTICO_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// HTTPS listener address (needs --tls-cert and --tls-key)
    #[arg(long, env = "PORTICO_TLS_LISTEN")]
    pub tls_listen: Option<String>,
    /// PEM certificate chain (repeatable; paired in order with --tls-key; env: comma-separated)
    #[arg(long, env = "PORTICO_TLS_CERT", value_delimiter = ',')]
    pub tls_cert: Vec<PathBuf>,
    /// PEM private key (repeatable; env: comma-separated)
    #[arg(long, env = "PORTICO_TLS_KEY", value_delimiter = ',')]
    pub tls_key: Vec<PathBuf>,
    /// Answer plain-HTTP requests with a redirect to HTTPS: true or false
    #[arg(long, env = "PORTICO_HTTPS_REDIRECT")]
    pub https_redirect: Option<bool>,
    /// API keys as identity=key,identity2=key2 (prefer the environment variable)
    #[arg(long, env = "PORTICO_API_KEYS", hide_env_values = true)]
    pub api_keys: Option<String>,
    /// HS256 secret for JWT bearer tokens, at least 32 bytes (prefer the environment variable)
    #[arg(long, env = "PORTICO_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// Register in Consul as a replica, for the others to see: true or false [default: true]
    #[arg(long, env = "PORTICO_REGISTER")]
    pub register: Option<bool>,
    /// The address other hosts reach this replica at [default: the listener's, else the route to Consul]
    #[arg(long, env = "PORTICO_ADVERTISE")]
    pub advertise: Option<String>,
    /// After SIGTERM, keep serving this long with /healthz at 503 (e.g. 5s) [default: 0s]
    #[arg(long, env = "PORTICO_DRAIN_DELAY")]
    pub drain_delay: Option<String>,
    /// Proxy address or CIDR whose X-Forwarded-For is believed (repeatable; env: comma-separated)
    #[arg(long = "trusted-proxy", env = "PORTICO_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<String>,
}

/// The validated configuration [`crate::run`] needs.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub admin_listen: SocketAddr,
    pub consul: ConsulSettings,
    pub proxy: ProxySettings,
    pub routes: Vec<StaticRoute>,
    /// Token for the admin listener; `None` leaves it open (it is loopback by default).
    pub admin_token: Option<String>,
    /// TLS, authentication, rate limiting, caching.
    pub edge: EdgeSettings,
    /// How HTTPS instances are trusted (`[upstream_tls]`).
    pub upstream_tls: crate::client_tls::ClientTls,
    /// Registration and the replicas' shared state (`[cluster]`).
    pub cluster: ClusterSettings,
    /// Named settings for the routes that ask (`[upstream_tls.profiles.NAME]`).
    pub upstream_tls_profiles: std::collections::BTreeMap<String, crate::client_tls::ClientTls>,
}

impl Config {
    /// Merges flags (with env), the file they name, and defaults.
    pub fn load(cli: Cli) -> Result<Config, ConfigError> {
        let file = match &cli.config {
            Some(path) => FileConfig::read(path)?,
            None => FileConfig::default(),
        };
        Config::merge(cli, file)
    }

    /// Merges already-parsed flags and file contents; flags win.
    pub fn merge(cli: Cli, mut file: FileConfig) -> Result<Config, ConfigError> {
        let mut routes = file.routes()?;
        let upstream_tls = file.upstream_tls.settings()?;
        let upstream_tls_profiles = file.upstream_tls.profiles()?;
        let cluster = std::mem::take(&mut file.cluster).merge(&cli)?;
        let edge = file.edge().merge(&cli)?;
        let (mut consul, consul_file) = file.consul.into_settings()?;
        merge_consul(&mut consul, &cli, consul_file)?;
        let listen = pick(cli.listen, file.listen, "0.0.0.0:8080");
        let admin = pick(cli.admin_listen, file.admin_listen, "127.0.0.1:9090");
        for spec in &cli.routes {
            routes.push(parse_route_flag(spec)?);
        }
        let mut proxy = file.proxy.into_settings()?;
        if let Some(on) = cli.access_log {
            proxy.access_log = on;
        }
        if let Some(threads) = cli.threads {
            proxy.threads = threads.max(1);
        }
        if let Some(on) = cli.fast_path {
            proxy.fast_path = on;
        }
        if let Some(delay) = &cli.drain_delay {
            proxy.drain_delay = parse_duration("--drain-delay", delay)?;
        }
        let admin_token = cli.admin_token.or(file.admin_token).filter(|t| !t.is_empty());
        for route in &routes {
            if let Some(name) = route.options.upstream_tls.as_deref() {
                if !upstream_tls_profiles.contains_key(name) {
                    return Err(invalid("route upstream_tls", name, "no [upstream_tls.profiles] entry has that name"));
                }
            }
        }
        Ok(Config {
            listen: parse_addr("--listen", &listen)?,
            admin_listen: parse_addr("--admin-listen", &admin)?,
            consul,
            proxy,
            routes,
            admin_token,
            edge,
            upstream_tls,
            upstream_tls_profiles,
            cluster,
        })
    }
}

/// What `[consul]` says that flags may override (read before the token file).
#[derive(Debug, Default)]
pub struct ConsulFileExtras {
    pub token_file: Option<PathBuf>,
    pub ssl: Option<bool>,
}

/// Lays the `--consul*` flags over the file's `[consul]` section, then
/// resolves the address scheme and the token file, as Consul's own CLI does.
fn merge_consul(consul: &mut ConsulSettings, cli: &Cli, file: ConsulFileExtras) -> Result<(), ConfigError> {
    if let Some(address) = &cli.consul {
        consul.address = address.clone();
    }
    if cli.consul_token.is_some() {
        consul.token = cli.consul_token.clone().filter(|t| !t.is_empty());
    }
    if let Some(dc) = &cli.consul_datacenter {
        consul.datacenter = Some(dc.clone()).filter(|d| !d.is_empty());
    }
    if let Some(max) = cli.consul_max_connections {
        consul.max_connections = max as usize;
    }
    let tls = &mut consul.tls;
    let paths = [
        (&mut tls.ca_file, &cli.consul_cacert),
        (&mut tls.ca_path, &cli.consul_capath),
        (&mut tls.client_cert, &cli.consul_client_cert),
        (&mut tls.client_key, &cli.consul_client_key),
    ];
    for (setting, flag) in paths {
        if let Some(path) = flag {
            *setting = Some(path.clone());
        }
    }
    if let Some(name) = &cli.consul_tls_server_name {
        tls.server_name = Some(name.clone()).filter(|n| !n.is_empty());
    }
    if let Some(verify) = cli.consul_ssl_verify {
        tls.verify = verify;
    }
    if tls.client_cert.is_some() != tls.client_key.is_some() {
        return Err(invalid("--consul-client-cert", "", "a client certificate and its key go together"));
    }
    let ssl = cli.consul_ssl.or(file.ssl).unwrap_or(false);
    consul.address = normalize_consul_address(&consul.address, ssl)?;
    if let Some(path) = cli.consul_token_file.as_ref().or(file.token_file.as_ref()) {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.clone(), source })?;
        if !text.trim().is_empty() {
            consul.token = Some(text.trim().to_string());
        }
    }
    Ok(())
}

fn pick(flag: Option<String>, file: Option<String>, default: &str) -> String {
    flag.or(file).unwrap_or_else(|| default.to_string())
}

fn parse_addr(what: &'static str, value: &str) -> Result<SocketAddr, ConfigError> {
    value.parse().map_err(|e| invalid(what, value, e))
}

/// Accepts `host:port` as Consul's own tools do and adds the scheme: `https`
/// when `ssl` is set (`CONSUL_HTTP_SSL=true`, which also turns `http://` into
/// `https://`, as in Consul's CLI), else `http`.
fn normalize_consul_address(value: &str, ssl: bool) -> Result<String, ConfigError> {
    let bare = value.strip_prefix("http://").filter(|_| ssl).unwrap_or(value);
    let scheme = if ssl { "https" } else { "http" };
    let with_scheme = if bare.contains("://") { bare.to_string() } else { format!("{scheme}://{bare}") };
    let url = reqwest::Url::parse(&with_scheme).map_err(|e| invalid("--consul", value, e))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(invalid("--consul", value, "scheme must be http or https"));
    }
    Ok(with_scheme.trim_end_matches('/').to_string())
}

/// Parses `--route /prefix=service` (or `host/prefix=service`).
pub fn parse_route_flag(spec: &str) -> Result<StaticRoute, ConfigError> {
    let (route, service) = spec.split_once('=').ok_or_else(|| invalid("--route", spec, "expected PREFIX=SERVICE"))?;
    let (host, prefix) = parse_route(route.trim()).map_err(|e| invalid("--route", spec, e))?;
    let service = service.trim();
    if service.is_empty() {
        return Err(invalid("--route", spec, "service name is empty"));
    }
    Ok(StaticRoute { host, prefix, service: service.to_string(), options: RouteOptions::default() })
}

/// Parses a human duration such as `500ms`, `2s` or `5m`.
pub fn parse_duration(what: &'static str, value: &str) -> Result<Duration, ConfigError> {
    humantime::parse_duration(value).map_err(|e| invalid(what, value, e))
}

/// An optional duration setting, or `default` when it is absent.
fn duration_or(what: &'static str, value: &Option<String>, default: Duration) -> Result<Duration, ConfigError> {
    value.as_deref().map_or(Ok(default), |v| parse_duration(what, v))
}

#[cfg(test)]
mod tests;
