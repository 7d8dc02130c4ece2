//! Certificates made at test time, and a TLS client to check what Portico presents.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use portico::tls::CertPair;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// A self-signed certificate for `names`, written as PEM files in `dir`.
pub struct Cert {
    pub der: CertificateDer<'static>,
    pub pair: CertPair,
}

pub fn cert(dir: &Path, file: &str, names: &[&str]) -> Cert {
    let made =
        rcgen::generate_simple_self_signed(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).expect("cert");
    let pair = CertPair { cert: dir.join(format!("{file}.crt")), key: dir.join(format!("{file}.key")) };
    std::fs::write(&pair.cert, made.cert.pem()).expect("write cert");
    std::fs::write(&pair.key, made.signing_key.serialize_pem()).expect("write key");
    Cert { der: made.cert.der().clone(), pair }
}

pub fn overwrite(target: &CertPair, with: &Cert) {
    std::fs::copy(&with.pair.cert, &target.cert).expect("copy cert");
    std::fs::copy(&with.pair.key, &target.key).expect("copy key");
}

/// Connects with `sni`, trusting every certificate in `roots`, offering `alpn`.
pub async fn connect_tls(addr: SocketAddr, sni: &str, roots: &[&Cert], alpn: &[&[u8]]) -> TlsStream<TcpStream> {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let name = ServerName::try_from(sni.to_string()).expect("name");
    TlsConnector::from(client_config(roots, alpn)).connect(name, tcp).await.expect("handshake")
}

/// A client trusting exactly `roots`, offering `alpn`.
pub fn client_config(roots: &[&Cert], alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
    let mut store = rustls::RootCertStore::empty();
    for root in roots {
        store.add(root.der.clone()).expect("root");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(store)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// The leaf certificate the server presented.
pub fn presented(stream: &TlsStream<TcpStream>) -> CertificateDer<'static> {
    stream.get_ref().1.peer_certificates().and_then(|c| c.first()).expect("a certificate").clone().into_owned()
}
