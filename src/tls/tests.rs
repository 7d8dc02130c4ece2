use std::path::Path;

use super::*;

fn write_pair(dir: &Path, name: &str, sans: &[&str]) -> CertPair {
    let made =
        rcgen::generate_simple_self_signed(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).expect("cert");
    let pair = CertPair { cert: dir.join(format!("{name}.crt")), key: dir.join(format!("{name}.key")) };
    std::fs::write(&pair.cert, made.cert.pem()).expect("write");
    std::fs::write(&pair.key, made.signing_key.serialize_pem()).expect("write");
    pair
}

fn error_of(pairs: Vec<CertPair>) -> String {
    Certificates::load(pairs).err().map(|e| e.to_string()).unwrap_or_default()
}

#[test]
fn names_come_from_subject_alt_names_with_wildcards_apart() {
    let dir = tempfile::tempdir().expect("dir");
    let store = build_store(&[write_pair(dir.path(), "a", &["A.test", "*.b.test"])]).expect("store");
    assert!(store.exact.contains_key("a.test"), "names are lower-cased");
    assert!(store.wildcard.contains_key("b.test"));
}

#[test]
fn every_bad_file_is_named_in_the_error() {
    let dir = tempfile::tempdir().expect("dir");
    let (a, b) = (write_pair(dir.path(), "a", &["a.test"]), write_pair(dir.path(), "b", &["b.test"]));
    let missing = CertPair { cert: dir.path().join("nope.crt"), key: a.key.clone() };
    assert!(error_of(vec![missing]).contains("nope.crt"));
    let garbage = dir.path().join("garbage.crt");
    std::fs::write(&garbage, "hello").expect("write");
    let message = error_of(vec![CertPair { cert: garbage, key: a.key.clone() }]);
    assert!(message.contains("garbage.crt") && message.contains("no certificate found"), "{message}");
    let mismatched = error_of(vec![CertPair { cert: a.cert.clone(), key: b.key.clone() }]);
    assert!(mismatched.contains("b.key") && mismatched.contains("does not match"), "{mismatched}");
    assert_eq!(error_of(vec![]), "TLS: no certificate configured");
}
