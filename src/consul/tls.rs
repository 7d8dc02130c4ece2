//! TLS to the Consul agent, configured the way Consul's own CLI is
//! (`CONSUL_CACERT`, `CONSUL_CAPATH`, `CONSUL_CLIENT_CERT` + `_KEY`,
//! `CONSUL_TLS_SERVER_NAME`, `CONSUL_HTTP_SSL_VERIFY`), so an operator's
//! existing environment works unchanged. rustls with ring, as everywhere else
//! in Portico. A file that cannot be read or parsed is a start-up error that
//! names it; a certificate the agent's does not chain to shows in the watch's
//! error ("invalid peer certificate: UnknownIssuer").

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::ConsulTls;
use super::{Error, Transport};

/// The rustls client configuration for an agent's HTTPS API, offering by
/// ALPN only the protocol the client will speak.
pub fn client_config(settings: &ConsulTls, transport: Transport) -> Result<ClientConfig, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = verifier(settings, &provider)?;
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Setup(format!("TLS: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match (&settings.client_cert, &settings.client_key) {
        (Some(cert), Some(key)) => builder
            .with_client_auth_cert(certificates(cert)?, private_key(key)?)
            .map_err(|e| Error::Setup(format!("client certificate {}: {e}", cert.display())))?,
        _ => builder.with_no_client_auth(),
    };
    config.alpn_protocols = match transport {
        Transport::Http1 => vec![b"http/1.1".to_vec()],
        Transport::Http2 => vec![b"h2".to_vec()],
    };
    Ok(config)
}

fn verifier(settings: &ConsulTls, provider: &Arc<CryptoProvider>) -> Result<Arc<dyn ServerCertVerifier>, Error> {
    let name = match &settings.server_name {
        Some(name) => Some(
            ServerName::try_from(name.clone())
                .map_err(|e| Error::Setup(format!("CONSUL_TLS_SERVER_NAME {name:?}: {e}")))?,
        ),
        None => None,
    };
    let chain = if settings.verify {
        let roots = Arc::new(roots(settings)?);
        let webpki = WebPkiServerVerifier::builder_with_provider(roots, Arc::clone(provider))
            .build()
            .map_err(|e| Error::Setup(format!("TLS roots: {e}")))?;
        Some(webpki)
    } else {
        tracing::warn!("CONSUL_HTTP_SSL_VERIFY=false: the Consul agent's certificate is not verified");
        None
    };
    Ok(Arc::new(AgentVerifier { chain, name, provider: Arc::clone(provider) }))
}

/// The CA file and directory when given, else the system's trust store.
fn roots(settings: &ConsulTls) -> Result<RootCertStore, Error> {
    let mut store = RootCertStore::empty();
    let mut files: Vec<std::path::PathBuf> = settings.ca_file.iter().cloned().collect();
    if let Some(dir) = &settings.ca_path {
        let entries = std::fs::read_dir(dir).map_err(|e| Error::Setup(format!("CA path {}: {e}", dir.display())))?;
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
            store.add(cert).map_err(|e| Error::Setup(format!("CA certificate {}: {e}", file.display())))?;
        }
    }
    Ok(store)
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    let bad = |reason: String| Error::Setup(format!("{}: {reason}", path.display()));
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| bad(e.to_string()))?;
    if certs.is_empty() {
        return Err(bad("no PEM certificate in it".into()));
    }
    Ok(certs)
}

fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, Error> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| Error::Setup(format!("{}: {e}", path.display())))
}

/// How the agent's certificate is checked: against the CA (`chain`; none
/// with `CONSUL_HTTP_SSL_VERIFY=false`), for `name` when set
/// (`CONSUL_TLS_SERVER_NAME`: an agent reached by IP whose certificate names
/// `server.dc1.consul`), else for the address's host. Handshake signatures
/// are always checked.
#[derive(Debug)]
struct AgentVerifier {
    chain: Option<Arc<WebPkiServerVerifier>>,
    name: Option<ServerName<'static>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AgentVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match &self.chain {
            Some(chain) => {
                let name = self.name.as_ref().unwrap_or(server_name);
                chain.verify_server_cert(end_entity, intermediates, name, ocsp, now)
            }
            None => Ok(ServerCertVerified::assertion()),
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

#[cfg(test)]
mod tests;
