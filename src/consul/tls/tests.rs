use std::path::PathBuf;

use super::*;
use crate::consul::Client;
use crate::consul::ConsulSettings;

fn https(tls: ConsulTls) -> ConsulSettings {
    ConsulSettings { address: "https://127.0.0.1:8501".into(), tls, ..ConsulSettings::default() }
}

#[test]
fn a_missing_or_empty_ca_file_is_a_start_up_error_naming_it() {
    let missing =
        https(ConsulTls { ca_file: Some(PathBuf::from("/nonexistent/consul-ca.pem")), ..ConsulTls::default() });
    let error = Client::new(&missing).expect_err("no such file").to_string();
    assert!(error.contains("/nonexistent/consul-ca.pem"), "{error}");

    let dir = tempfile::tempdir().expect("dir");
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "not a certificate\n").expect("write");
    let error = Client::new(&https(ConsulTls { ca_file: Some(empty.clone()), ..ConsulTls::default() }))
        .expect_err("no PEM")
        .to_string();
    assert!(error.contains("empty.pem") && error.contains("no PEM certificate"), "{error}");
}

#[test]
fn a_bad_server_name_is_refused_and_plain_http_needs_no_tls_files() {
    let bad = https(ConsulTls { server_name: Some("not a name!".into()), ..ConsulTls::default() });
    let error = Client::new(&bad).expect_err("bad name").to_string();
    assert!(error.contains("server name") && error.contains("not a name!"), "{error}");
    let plain = ConsulSettings {
        tls: ConsulTls { ca_file: Some(PathBuf::from("/nonexistent")), ..ConsulTls::default() },
        ..ConsulSettings::default()
    };
    assert!(Client::new(&plain).is_ok(), "an http:// agent never reads the TLS files");
}

#[test]
fn the_system_roots_are_used_when_no_ca_is_given() {
    assert!(client_config(&ConsulTls::default(), Transport::Http2).is_ok());
}
