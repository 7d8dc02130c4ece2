//! Configuration of the edge policies: TLS, authentication, rate limiting,
//! caching, and which proxies' `X-Forwarded-For` is believed.
//!
//! Routes opt in per policy (tags or `[[route]]`); these sections say how the
//! policies work for every route that does.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::{duration_or, invalid, Cli, ConfigError};
use crate::auth::api_key::{parse_list, DEFAULT_HEADER};
use crate::auth::JwtSettings;
use crate::cache::CacheSettings;
use crate::ratelimit::TrustedProxies;
use crate::tls::CertPair;

/// Everything the edge policies need.
#[derive(Debug, Clone, Default)]
pub struct EdgeSettings {
    pub tls: Option<TlsSettings>,
    pub auth: AuthSettings,
    pub rate_limit: RateLimitSettings,
    pub cache: CacheSettings,
    pub trusted_proxies: TrustedProxies,
}

/// The HTTPS listener.
#[derive(Debug, Clone)]
pub struct TlsSettings {
    pub listen: SocketAddr,
    pub certificates: Vec<CertPair>,
    /// The plain listener answers every request with a 308 to HTTPS.
    pub redirect_http: bool,
}

/// API keys and JWT verification.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    pub api_key_header: String,
    /// `(identity, key)` pairs.
    pub api_keys: Vec<(String, String)>,
    pub jwt: Option<JwtSettings>,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings { api_key_header: DEFAULT_HEADER.to_string(), api_keys: Vec::new(), jwt: None }
    }
}

/// Bounds on the rate limiters' memory.
#[derive(Debug, Clone, Copy)]
pub struct RateLimitSettings {
    /// Clients one limiter may hold after a sweep; past it, the least recently seen are forgotten.
    pub max_clients: usize,
    /// How often idle clients are forgotten.
    pub sweep_interval: Duration,
    /// IPv6 clients are counted by this many leading bits of their address.
    pub ipv6_prefix: u8,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        RateLimitSettings { max_clients: 1_000_000, sweep_interval: Duration::from_secs(10), ipv6_prefix: 64 }
    }
}

/// `[tls]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    pub listen: Option<String>,
    pub redirect_http: Option<bool>,
    #[serde(default)]
    pub certificate: Vec<CertSection>,
}

/// `[[tls.certificate]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertSection {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// `[auth]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSection {
    pub api_key_header: Option<String>,
    #[serde(default)]
    pub api_key: Vec<ApiKeySection>,
    pub jwt: Option<JwtSection>,
}

/// `[[auth.api_key]]`: the key itself or the environment variable holding it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeySection {
    pub identity: String,
    pub key: Option<String>,
    pub key_env: Option<String>,
}

/// `[auth.jwt]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtSection {
    pub hs256_secret_env: Option<String>,
    pub hs256_secret_file: Option<PathBuf>,
    #[serde(default)]
    pub public_key_files: Vec<PathBuf>,
    pub jwks_file: Option<PathBuf>,
    pub issuer: Option<String>,
    pub audience: Option<String>,
    pub leeway: Option<String>,
}

/// `[rate_limit]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSection {
    pub max_clients: Option<usize>,
    pub sweep_interval: Option<String>,
    pub ipv6_prefix: Option<u8>,
}

/// `[cache]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheSection {
    pub max_bytes: Option<u64>,
    pub max_object_bytes: Option<usize>,
    pub lock_timeout: Option<String>,
    pub pass_ttl: Option<String>,
}

/// The edge sections of the file, merged with their flags.
pub struct EdgeFile {
    pub tls: TlsSection,
    pub auth: AuthSection,
    pub rate_limit: RateLimitSection,
    pub cache: CacheSection,
    pub trusted_proxies: Vec<String>,
}

impl EdgeFile {
    /// Validates and merges; flags win over the file.
    pub fn merge(self, cli: &Cli) -> Result<EdgeSettings, ConfigError> {
        let mut trusted = self.trusted_proxies;
        trusted.extend(cli.trusted_proxies.iter().cloned());
        Ok(EdgeSettings {
            tls: tls(self.tls, cli)?,
            auth: auth(self.auth, cli)?,
            rate_limit: rate_limit(self.rate_limit)?,
            cache: cache(self.cache)?,
            trusted_proxies: TrustedProxies::parse(&trusted).map_err(|e| invalid("trusted proxies", "", e))?,
        })
    }
}

fn tls(file: TlsSection, cli: &Cli) -> Result<Option<TlsSettings>, ConfigError> {
    if cli.tls_cert.len() != cli.tls_key.len() {
        let counts = format!("{} certificates, {} keys", cli.tls_cert.len(), cli.tls_key.len());
        return Err(invalid("--tls-cert/--tls-key", &counts, "give one --tls-key per --tls-cert, in the same order"));
    }
    let mut certificates: Vec<CertPair> =
        file.certificate.into_iter().map(|c| CertPair { cert: c.cert, key: c.key }).collect();
    certificates
        .extend(cli.tls_cert.iter().zip(&cli.tls_key).map(|(c, k)| CertPair { cert: c.clone(), key: k.clone() }));
    let listen = cli.tls_listen.clone().or(file.listen);
    let redirect_http = cli.https_redirect.or(file.redirect_http).unwrap_or(false);
    match (listen, certificates.is_empty()) {
        (None, true) if redirect_http => Err(invalid("--https-redirect", "true", "needs --tls-listen")),
        (None, true) => Ok(None),
        (None, false) => Err(invalid("--tls-cert", "", "certificates need --tls-listen")),
        (Some(listen), true) => Err(invalid("--tls-listen", &listen, "needs at least one --tls-cert and --tls-key")),
        (Some(listen), false) => {
            let listen = listen.parse().map_err(|e| invalid("--tls-listen", &listen, e))?;
            Ok(Some(TlsSettings { listen, certificates, redirect_http }))
        }
    }
}

fn auth(file: AuthSection, cli: &Cli) -> Result<AuthSettings, ConfigError> {
    let mut api_keys = Vec::new();
    for entry in file.api_key {
        let key = match (entry.key, entry.key_env) {
            (Some(key), None) => key,
            (None, Some(var)) => env_var("auth.api_key.key_env", &var)?,
            _ => return Err(invalid("auth.api_key", &entry.identity, "give exactly one of key or key_env")),
        };
        api_keys.push((entry.identity, key));
    }
    if let Some(list) = &cli.api_keys {
        api_keys.extend(parse_list(list).map_err(|e| invalid("PORTICO_API_KEYS", "(hidden)", e))?);
    }
    let jwt = jwt(file.jwt, cli)?;
    Ok(AuthSettings {
        api_key_header: file.api_key_header.unwrap_or_else(|| DEFAULT_HEADER.to_string()),
        api_keys,
        jwt,
    })
}

fn jwt(file: Option<JwtSection>, cli: &Cli) -> Result<Option<JwtSettings>, ConfigError> {
    let secret_from_flag = cli.jwt_secret.clone().filter(|s| !s.is_empty());
    if file.is_none() && secret_from_flag.is_none() {
        return Ok(None);
    }
    let file = file.unwrap_or_default();
    let secret_from_env = match &file.hs256_secret_env {
        Some(var) => Some(env_var("auth.jwt.hs256_secret_env", var)?),
        None => None,
    };
    Ok(Some(JwtSettings {
        hs256_secret: secret_from_flag.or(secret_from_env),
        hs256_secret_file: file.hs256_secret_file,
        public_key_files: file.public_key_files,
        jwks_file: file.jwks_file,
        issuer: file.issuer,
        audience: file.audience,
        leeway: duration_or("auth.jwt.leeway", &file.leeway, Duration::from_secs(30))?,
    }))
}

fn rate_limit(file: RateLimitSection) -> Result<RateLimitSettings, ConfigError> {
    let d = RateLimitSettings::default();
    let sweep_interval = duration_or("rate_limit.sweep_interval", &file.sweep_interval, d.sweep_interval)?;
    if sweep_interval.is_zero() {
        return Err(invalid("rate_limit.sweep_interval", "0", "must be above zero"));
    }
    let ipv6_prefix = file.ipv6_prefix.unwrap_or(d.ipv6_prefix);
    if !(1..=128).contains(&ipv6_prefix) {
        return Err(invalid("rate_limit.ipv6_prefix", &ipv6_prefix.to_string(), "must be between 1 and 128"));
    }
    let max_clients = file.max_clients.unwrap_or(d.max_clients).max(1);
    Ok(RateLimitSettings { max_clients, sweep_interval, ipv6_prefix })
}

fn cache(file: CacheSection) -> Result<CacheSettings, ConfigError> {
    let d = CacheSettings::default();
    Ok(CacheSettings {
        max_bytes: file.max_bytes.unwrap_or(d.max_bytes),
        max_object_bytes: file.max_object_bytes.unwrap_or(d.max_object_bytes),
        lock_timeout: duration_or("cache.lock_timeout", &file.lock_timeout, d.lock_timeout)?,
        pass_ttl: duration_or("cache.pass_ttl", &file.pass_ttl, d.pass_ttl)?,
    })
}

/// A secret from the environment variable a setting names; unset is an error naming the variable.
fn env_var(what: &'static str, var: &str) -> Result<String, ConfigError> {
    std::env::var(var).map_err(|_| invalid(what, var, "environment variable is not set"))
}
