//! A certificate authority made at test time, for agents served over TLS.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType};

/// A CA whose certificate is written to `ca.pem` in a directory.
pub struct Authority {
    pub cert: PathBuf,
    issuer: Issuer<'static, KeyPair>,
    dir: PathBuf,
}

/// A certificate and key signed by an [`Authority`], as PEM files.
pub struct Leaf {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Authority {
    /// A new CA named `name`, written under `dir`.
    pub fn new(dir: &Path, name: &str) -> Authority {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("self-signed");
        let path = dir.join(format!("{name}.pem"));
        std::fs::write(&path, cert.pem()).expect("write CA");
        Authority { cert: path, issuer: Issuer::new(params, key), dir: dir.to_path_buf() }
    }

    /// A certificate for `names` (DNS names, or IP addresses), for servers and clients alike.
    pub fn issue(&self, file: &str, names: &[&str]) -> Leaf {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.subject_alt_names = names
            .iter()
            .map(|n| match n.parse::<std::net::IpAddr>() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => SanType::DnsName((*n).try_into().expect("dns name")),
            })
            .collect();
        params.distinguished_name.push(DnType::CommonName, *names.first().unwrap_or(&file));
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &self.issuer).expect("signed");
        let leaf = Leaf { cert: self.dir.join(format!("{file}.crt")), key: self.dir.join(format!("{file}.key")) };
        std::fs::write(&leaf.cert, cert.pem()).expect("write cert");
        std::fs::write(&leaf.key, key.serialize_pem()).expect("write key");
        leaf
    }
}

impl Authority {
    /// HCL for a Consul agent serving HTTPS with a certificate from this CA
    /// for loopback (`localhost`, `127.0.0.1`); plain HTTP stays on too.
    pub fn agent_https_hcl(&self) -> String {
        let leaf = self.issue("agent", &["localhost", "127.0.0.1"]);
        format!(
            "tls {{ defaults {{ ca_file = \"{}\" cert_file = \"{}\" key_file = \"{}\" }} }}",
            self.cert.display(),
            leaf.cert.display(),
            leaf.key.display(),
        )
    }
}
