//! TLS termination: certificates from PEM files, chosen by SNI, swapped on
//! reload without touching open connections.
//!
//! rustls with its safe defaults only (TLS 1.3 and 1.2 with AEAD suites), ALPN
//! offering `h2` and `http/1.1`. Each certificate serves the DNS names in its
//! subjectAltName (wildcards too); a client without SNI, or asking for a name
//! no certificate has, gets the first one. A reload re-reads every file and
//! swaps the whole set at once; if any file is bad the old set stays and the
//! error names the file.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::crypto::ring::default_provider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

/// One certificate chain and its private key, as PEM files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertPair {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Why certificates could not be loaded; always names the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("TLS certificate file {path}: {reason}")]
    File { path: String, reason: String },
    #[error("TLS: no certificate configured")]
    Empty,
    #[error("TLS: {0}")]
    Rustls(#[from] rustls::Error),
}

fn file_error(path: &std::path::Path, reason: impl ToString) -> TlsError {
    TlsError::File { path: path.display().to_string(), reason: reason.to_string() }
}

/// Certificates by name.
#[derive(Debug)]
struct CertStore {
    exact: HashMap<String, Arc<CertifiedKey>>,
    /// `*.example.com` is stored under `example.com`.
    wildcard: HashMap<String, Arc<CertifiedKey>>,
    default: Arc<CertifiedKey>,
}

/// The SNI resolver rustls calls for every handshake; its store can be swapped.
#[derive(Debug)]
pub struct Certificates {
    pairs: Vec<CertPair>,
    store: ArcSwap<CertStore>,
}

impl Certificates {
    /// Loads every pair; the first error is returned.
    pub fn load(pairs: Vec<CertPair>) -> Result<Arc<Certificates>, TlsError> {
        let store = build_store(&pairs)?;
        Ok(Arc::new(Certificates { pairs, store: ArcSwap::from_pointee(store) }))
    }

    /// Re-reads the files; on error the certificates in use stay.
    pub fn reload(&self) -> Result<(), TlsError> {
        let store = build_store(&self.pairs)?;
        self.store.store(Arc::new(store));
        Ok(())
    }

    /// An acceptor using these certificates (and whatever a reload puts there later).
    pub fn acceptor(self: &Arc<Self>) -> Result<TlsAcceptor, TlsError> {
        let mut config = ServerConfig::builder_with_provider(Arc::new(default_provider()))
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(self) as Arc<dyn ResolvesServerCert>);
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(TlsAcceptor::from(Arc::new(config)))
    }
}

impl Certificates {
    /// True when `host` has a certificate of its own (by exact or wildcard
    /// name) that is not the one that serves `sni`: a request for `host` on
    /// a connection set up for `sni` is misdirected. Both are lower-case.
    pub fn misdirected(&self, sni: &str, host: &str) -> bool {
        if sni == host {
            return false;
        }
        let store = self.store.load();
        match (store.named(host), store.named(sni)) {
            (None, _) => false,
            (Some(own), Some(connection)) => !Arc::ptr_eq(own, connection),
            (Some(_), None) => true,
        }
    }
}

impl CertStore {
    /// The certificate for `name` by exact name, else by wildcard; not the default.
    fn named(&self, name: &str) -> Option<&Arc<CertifiedKey>> {
        let wildcard = || name.split_once('.').and_then(|(_, parent)| self.wildcard.get(parent));
        self.exact.get(name).or_else(wildcard)
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let store = self.store.load();
        let Some(name) = hello.server_name().map(str::to_ascii_lowercase) else {
            return Some(Arc::clone(&store.default));
        };
        Some(Arc::clone(store.named(&name).unwrap_or(&store.default)))
    }
}

fn build_store(pairs: &[CertPair]) -> Result<CertStore, TlsError> {
    let mut exact = HashMap::new();
    let mut wildcard = HashMap::new();
    let mut default = None;
    for pair in pairs {
        let (key, names) = load_pair(pair)?;
        default.get_or_insert_with(|| Arc::clone(&key));
        for name in names {
            match name.strip_prefix("*.") {
                Some(parent) => wildcard.entry(parent.to_string()).or_insert_with(|| Arc::clone(&key)),
                None => exact.entry(name).or_insert_with(|| Arc::clone(&key)),
            };
        }
    }
    let default = default.ok_or(TlsError::Empty)?;
    Ok(CertStore { exact, wildcard, default })
}

/// One chain and key, checked to belong together, with the chain's DNS names.
fn load_pair(pair: &CertPair) -> Result<(Arc<CertifiedKey>, Vec<String>), TlsError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&pair.cert)
        .map_err(|e| file_error(&pair.cert, pem_reason(e)))?
        .collect::<Result<_, _>>()
        .map_err(|e| file_error(&pair.cert, pem_reason(e)))?;
    let leaf = chain.first().ok_or_else(|| file_error(&pair.cert, "no certificate found"))?;
    let names: Vec<String> = webpki::EndEntityCert::try_from(leaf)
        .map_err(|e| file_error(&pair.cert, format!("not a usable certificate: {e}")))?
        .valid_dns_names()
        .map(str::to_ascii_lowercase)
        .collect();
    let key = PrivateKeyDer::from_pem_file(&pair.key).map_err(|e| file_error(&pair.key, pem_reason(e)))?;
    let certified = CertifiedKey::from_der(chain, key, &default_provider()).map_err(|e| {
        file_error(&pair.key, format!("key does not match {} or is unsupported: {e}", pair.cert.display()))
    })?;
    Ok((Arc::new(certified), names))
}

fn pem_reason(error: rustls::pki_types::pem::Error) -> String {
    match error {
        rustls::pki_types::pem::Error::Io(e) => e.to_string(),
        rustls::pki_types::pem::Error::NoItemsFound => "no PEM item of the expected kind found".to_string(),
        other => format!("bad PEM: {other:?}"),
    }
}

#[cfg(test)]
mod tests;
