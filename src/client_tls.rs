//! TLS as a client: to the Consul agent and to instances that serve HTTPS.
//! One way to say what to trust (a CA file, a CA directory, else the
//! system's store), which client certificate to present (for servers that
//! want mTLS), which name the server's certificate must carry when it is not
//! the address's, and whether to verify at all (testing only). rustls with
//! ring, as everywhere else in Portico. A file that cannot be read or parsed
//! is an error that names it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// What a TLS client trusts and presents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientTls {
    /// PEM file of CA certificates; with `ca_path` unset too, the system's roots.
    pub ca_file: Option<PathBuf>,
    /// Directory of PEM CA certificates.
    pub ca_path: Option<PathBuf>,
    /// Client certificate and key, for servers that require one.
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    /// The name the server's certificate must carry, when not the address's host.
    pub server_name: Option<String>,
    /// False: any certificate is accepted (testing only).
    pub verify: bool,
}

impl Default for ClientTls {
    fn default() -> Self {
        ClientTls { ca_file: None, ca_path: None, client_cert: None, client_key: None, server_name: None, verify: true }
    }
}

/// The rustls client configuration, offering `alpn` (in order); `whose`
/// names the peer in warnings ("the Consul agent's", "instances'").
pub fn client_config(settings: &ClientTls, alpn: &[&[u8]], whose: &str) -> Result<ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = verifier(settings, &provider, whose)?;
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match (&settings.client_cert, &settings.client_key) {
        (Some(cert), Some(key)) => builder
            .with_client_auth_cert(certificates(cert)?, private_key(key)?)
            .map_err(|e| format!("client certificate {}: {e}", cert.display()))?,
        _ => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}

fn verifier(
    settings: &ClientTls,
    provider: &Arc<CryptoProvider>,
    whose: &str,
) -> Result<Arc<dyn ServerCertVerifier>, String> {
    let name = match &settings.server_name {
        Some(name) => Some(ServerName::try_from(name.clone()).map_err(|e| format!("TLS server name {name:?}: {e}"))?),
        None => None,
    };
    let chain = if settings.verify {
        let roots = roots(settings)?;
        if roots.is_empty() {
            // A minimal image has no system trust store. That must not stop a
            // gateway whose routes never use TLS: each TLS handshake fails
            // instead, saying why.
            tracing::warn!(
                "no CA certificates found on this system: {whose} certificates cannot be verified; set a CA file"
            );
            Chain::NoRoots
        } else {
            let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(provider))
                .build()
                .map_err(|e| format!("TLS roots: {e}"))?;
            Chain::Verify(webpki)
        }
    } else {
        tracing::warn!("TLS verification is off: {whose} certificates are not verified");
        Chain::Off
    };
    Ok(Arc::new(Verifier { chain, name, provider: Arc::clone(provider) }))
}

/// The CA file and directory when given, else the system's trust store.
fn roots(settings: &ClientTls) -> Result<RootCertStore, String> {
    let mut store = RootCertStore::empty();
    let mut files: Vec<std::path::PathBuf> = settings.ca_file.iter().cloned().collect();
    if let Some(dir) = &settings.ca_path {
        let entries = std::fs::read_dir(dir).map_err(|e| format!("CA path {}: {e}", dir.display()))?;
        let mut found: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file()).collect();
        found.sort();
        files.extend(found);
    }
    if files.is_empty() {
        let native = rustls_native_certs::load_native_certs();
        store.add_parsable_certificates(native.certs);
        return Ok(store);
    }
    for file in files {
        for cert in certificates(&file)? {
            store.add(cert).map_err(|e| format!("CA certificate {}: {e}", file.display()))?;
        }
    }
    Ok(store)
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let bad = |reason: String| format!("{}: {reason}", path.display());
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| bad(e.to_string()))?;
    if certs.is_empty() {
        return Err(bad("no PEM certificate in it".into()));
    }
    Ok(certs)
}

fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// How a server's certificate chain is judged.
#[derive(Debug)]
enum Chain {
    Verify(Arc<WebPkiServerVerifier>),
    /// Verification is on, but there is nothing to trust: every chain fails.
    NoRoots,
    /// `verify = false`.
    Off,
}

/// How the server's certificate is checked: against the CA (`chain`), for
/// `name` when set (an agent reached by IP whose certificate names
/// `server.dc1.consul`), else for the name the connection was opened with.
/// Handshake signatures are always checked.
#[derive(Debug)]
struct Verifier {
    chain: Chain,
    name: Option<ServerName<'static>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match &self.chain {
            Chain::Verify(chain) => {
                let name = self.name.as_ref().unwrap_or(server_name);
                chain.verify_server_cert(end_entity, intermediates, name, ocsp, now)
            }
            Chain::NoRoots => Err(rustls::Error::General(
                "no CA certificates to verify against (none on this system, and no CA file set)".into(),
            )),
            Chain::Off => Ok(ServerCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}
