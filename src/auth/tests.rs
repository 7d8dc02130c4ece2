use std::io::Write;
use std::time::Duration;

use http::HeaderMap;
use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::json;

use super::*;

const SECRET: &str = "0123456789abcdef0123456789abcdef-test-secret";

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn hs256(claims: serde_json::Value) -> String {
    encode(&Header::default(), &claims, &EncodingKey::from_secret(SECRET.as_bytes())).expect("encode")
}

fn authenticator(jwt: JwtSettings) -> Authenticator {
    let keys = vec![("ops".to_string(), "k-0123456789abcdef".to_string())];
    Authenticator {
        api_keys: ApiKeys::new("x-api-key", &keys).expect("keys"),
        jwt: Some(JwtVerifier::new(jwt).expect("jwt")),
    }
}

fn secret_settings() -> JwtSettings {
    JwtSettings { hs256_secret: Some(SECRET.into()), leeway: Duration::from_secs(5), ..JwtSettings::default() }
}

fn bearer(token: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("authorization", format!("Bearer {token}").parse().expect("header"));
    h
}

fn reason(auth: &Authenticator, scheme: AuthScheme, headers: &HeaderMap) -> &'static str {
    auth.authenticate(scheme, headers).expect_err("refused").reason
}

#[tokio::test(start_paused = true)]
async fn a_token_expires_on_the_paused_clock_after_its_leeway() {
    let auth = authenticator(secret_settings());
    let token = hs256(json!({"sub": "alice", "exp": now() + 60}));
    assert_eq!(auth.authenticate(AuthScheme::Jwt, &bearer(&token)).expect("valid"), "alice");
    tokio::time::advance(Duration::from_secs(64)).await;
    assert!(auth.authenticate(AuthScheme::Jwt, &bearer(&token)).is_ok(), "inside the 5 s leeway");
    tokio::time::advance(Duration::from_secs(2)).await;
    assert_eq!(reason(&auth, AuthScheme::Jwt, &bearer(&token)), "token expired");
}

#[tokio::test(start_paused = true)]
async fn nbf_in_the_future_is_refused_until_it_arrives() {
    let auth = authenticator(secret_settings());
    let token = hs256(json!({"sub": "alice", "exp": now() + 600, "nbf": now() + 100}));
    assert_eq!(reason(&auth, AuthScheme::Jwt, &bearer(&token)), "token not yet valid");
    tokio::time::advance(Duration::from_secs(100)).await;
    assert!(auth.authenticate(AuthScheme::Jwt, &bearer(&token)).is_ok());
}

#[test]
fn each_failed_check_is_named() {
    let auth = authenticator(JwtSettings {
        issuer: Some("https://id.example".into()),
        audience: Some("shop".into()),
        ..secret_settings()
    });
    let good = json!({"sub": "a", "exp": now() + 60, "iss": "https://id.example", "aud": "shop"});
    assert!(auth.authenticate(AuthScheme::Jwt, &bearer(&hs256(good.clone()))).is_ok());
    let mut wrong_iss = good.clone();
    wrong_iss["iss"] = "https://evil.example".into();
    assert_eq!(reason(&auth, AuthScheme::Jwt, &bearer(&hs256(wrong_iss))), "wrong issuer");
    let mut wrong_aud = good.clone();
    wrong_aud["aud"] = "admin".into();
    assert_eq!(reason(&auth, AuthScheme::Jwt, &bearer(&hs256(wrong_aud))), "wrong audience");
    let mut no_exp = good.clone();
    no_exp.as_object_mut().map(|o| o.remove("exp"));
    assert_eq!(reason(&auth, AuthScheme::Jwt, &bearer(&hs256(no_exp))), "token has no exp claim");
    let mut no_sub = good.clone();
    no_sub.as_object_mut().map(|o| o.remove("sub"));
    assert_eq!(reason(&auth, AuthScheme::Jwt, &bearer(&hs256(no_sub))), "token has no sub claim");
    let forged = encode(&Header::default(), &good, &EncodingKey::from_secret(b"another-secret-of-32-bytes-or-more!!"))
        .expect("encode");
    assert_eq!(reason(&auth, AuthScheme::Jwt, &bearer(&forged)), "bad signature");
    assert_eq!(reason(&auth, AuthScheme::Jwt, &bearer("not.a.jwt")), "malformed token");
    assert_eq!(reason(&auth, AuthScheme::Jwt, &HeaderMap::new()), "missing credentials");
}

#[test]
fn alg_none_and_unsupported_algorithms_are_refused() {
    let auth = authenticator(secret_settings());
    // {"alg":"none","typ":"JWT"} . {"sub":"a","exp":9999999999} . (empty signature)
    let none = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJhIiwiZXhwIjo5OTk5OTk5OTk5fQ.";
    assert_ne!(auth.authenticate(AuthScheme::Jwt, &bearer(none)).map(|_| ()), Ok(()));
    let hs512 = encode(
        &Header::new(jsonwebtoken::Algorithm::HS512),
        &json!({"sub": "a", "exp": now() + 60}),
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .expect("encode");
    assert_eq!(reason(&auth, AuthScheme::Jwt, &bearer(&hs512)), "unsupported algorithm (HS256, RS256 or ES256 only)");
}

#[test]
fn es256_tokens_verify_with_a_pem_public_key_and_the_key_reloads() {
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
    let mut file = tempfile::NamedTempFile::new().expect("temp");
    file.write_all(pair.public_key_pem().as_bytes()).expect("write");
    let settings = JwtSettings { public_key_files: vec![file.path().to_path_buf()], ..JwtSettings::default() };
    let auth = authenticator(settings);
    let sign = |pair: &rcgen::KeyPair| {
        let key = EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes()).expect("ec key");
        encode(&Header::new(jsonwebtoken::Algorithm::ES256), &json!({"sub": "svc", "exp": now() + 60}), &key)
            .expect("encode")
    };
    assert_eq!(auth.authenticate(AuthScheme::Jwt, &bearer(&sign(&pair))).expect("valid"), "svc");
    // An HS256 token cannot ride on the EC key.
    assert_eq!(
        reason(&auth, AuthScheme::Jwt, &bearer(&hs256(json!({"sub": "x", "exp": now() + 60})))),
        "no key matches the token's algorithm and kid"
    );
    // Rotate: the new key verifies after reload; a broken file keeps the new key.
    let next = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
    std::fs::write(file.path(), next.public_key_pem()).expect("write");
    assert_eq!(reason(&auth, AuthScheme::Jwt, &bearer(&sign(&next))), "bad signature");
    auth.reload().expect("reload");
    assert!(auth.authenticate(AuthScheme::Jwt, &bearer(&sign(&next))).is_ok());
    std::fs::write(file.path(), "garbage").expect("write");
    let error = auth.reload().expect_err("bad file");
    assert!(error.to_string().contains(&file.path().display().to_string()), "{error}");
    assert!(auth.authenticate(AuthScheme::Jwt, &bearer(&sign(&next))).is_ok(), "old keys stay after a bad reload");
}

#[test]
fn api_keys_name_their_identity_and_unknown_keys_are_refused() {
    let auth = authenticator(secret_settings());
    let mut h = HeaderMap::new();
    h.insert("x-api-key", "k-0123456789abcdef".parse().expect("v"));
    assert_eq!(auth.authenticate(AuthScheme::ApiKey, &h).expect("known"), "ops");
    assert_eq!(auth.authenticate(AuthScheme::Any, &h).expect("known"), "ops");
    h.insert("x-api-key", "k-0123456789abcdeX".parse().expect("v"));
    assert_eq!(reason(&auth, AuthScheme::ApiKey, &h), "unknown API key");
    assert!(ApiKeys::new("x-api-key", &[("a".into(), "short".into())]).is_err(), "short keys are refused");
}

#[test]
fn challenges_name_the_scheme_and_never_the_token() {
    let header = http::HeaderName::from_static("x-api-key");
    let missing = Denied::missing(AuthScheme::Any).challenges(&header);
    assert_eq!(missing, vec!["Bearer realm=\"portico\"", "ApiKey realm=\"portico\", header=\"x-api-key\""]);
    let expired = Denied::invalid(AuthScheme::Jwt, "token expired").challenges(&header);
    assert_eq!(expired, vec!["Bearer realm=\"portico\", error=\"invalid_token\", error_description=\"token expired\""]);
}

/// An RSA key pair made by the openssl command: (private PEM, public PEM, modulus bytes).
fn openssl_rsa(dir: &std::path::Path) -> (String, String, Vec<u8>) {
    let private = dir.join("rsa.pem");
    let run = |args: &[&str]| {
        let out = std::process::Command::new("openssl").args(args).output().expect("the openssl command is installed");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).expect("utf8")
    };
    let private_path = private.to_str().expect("path");
    run(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", private_path]);
    let public = run(&["pkey", "-in", private_path, "-pubout"]);
    let modulus = run(&["rsa", "-in", private_path, "-modulus", "-noout"]);
    let hex = modulus.trim().trim_start_matches("Modulus=");
    let bytes = (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex")).collect();
    (std::fs::read_to_string(&private).expect("read"), public, bytes)
}

#[test]
fn rs256_verifies_from_a_pem_file_and_from_a_jwks_by_kid() {
    use base64::Engine;
    let dir = tempfile::tempdir().expect("dir");
    let (private, public, modulus) = openssl_rsa(dir.path());
    let pem = dir.path().join("public.pem");
    std::fs::write(&pem, public).expect("write");
    let n = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(modulus);
    let jwks = dir.path().join("jwks.json");
    let set = json!({"keys": [{"kty": "RSA", "kid": "k1", "alg": "RS256", "use": "sig", "n": n, "e": "AQAB"}]});
    std::fs::write(&jwks, set.to_string()).expect("write");
    let key = EncodingKey::from_rsa_pem(private.as_bytes()).expect("rsa key");
    let sign = |kid: Option<&str>| {
        let mut header = Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = kid.map(str::to_string);
        encode(&header, &json!({"sub": "svc", "exp": now() + 60}), &key).expect("encode")
    };
    let from_pem = authenticator(JwtSettings { public_key_files: vec![pem], ..JwtSettings::default() });
    assert_eq!(from_pem.authenticate(AuthScheme::Jwt, &bearer(&sign(None))).expect("valid"), "svc");
    let from_jwks = authenticator(JwtSettings { jwks_file: Some(jwks), ..JwtSettings::default() });
    assert_eq!(from_jwks.authenticate(AuthScheme::Jwt, &bearer(&sign(Some("k1")))).expect("valid"), "svc");
    assert_eq!(
        reason(&from_jwks, AuthScheme::Jwt, &bearer(&sign(Some("k2")))),
        "no key matches the token's algorithm and kid"
    );
}

#[test]
fn a_missing_key_file_is_an_error_naming_it() {
    let settings = JwtSettings { public_key_files: vec!["/nonexistent/jwt.pem".into()], ..JwtSettings::default() };
    let error = JwtVerifier::new(settings).err().expect("refused");
    assert!(error.to_string().contains("/nonexistent/jwt.pem"), "{error}");
}

#[test]
fn odd_authorization_headers_are_refused_without_a_panic() {
    let auth = authenticator(secret_settings());
    let good = hs256(json!({"sub": "alice", "exp": now() + 60}));
    let mut lower = HeaderMap::new();
    lower.insert("authorization", format!("bearer {good}").parse().expect("v"));
    assert!(auth.authenticate(AuthScheme::Jwt, &lower).is_ok(), "the scheme name is case-insensitive");
    for value in
        [&b"Bearer"[..], b"Bearer ", b"Basic YWxhZGRpbjpvcGVuc2VzYW1l", b"Bearer \xff\xfe", b"Bearer a.b.c.d.e"]
    {
        let mut h = HeaderMap::new();
        h.insert("authorization", http::HeaderValue::from_bytes(value).expect("bytes"));
        let denied = auth.authenticate(AuthScheme::Jwt, &h).expect_err("refused");
        assert!(["missing credentials", "malformed token"].contains(&denied.reason), "{value:?}: {}", denied.reason);
    }
    let mut huge = HeaderMap::new();
    huge.insert("authorization", format!("Bearer {}", "a".repeat(60_000)).parse().expect("v"));
    assert_eq!(reason(&auth, AuthScheme::Jwt, &huge), "malformed token");
}

#[test]
fn a_configured_issuer_or_audience_must_be_present_in_the_token() {
    let auth = authenticator(JwtSettings {
        issuer: Some("https://id.example".into()),
        audience: Some("shop".into()),
        ..secret_settings()
    });
    let good = json!({"sub": "a", "exp": now() + 60, "iss": "https://id.example", "aud": "shop"});
    let mut no_iss = good.clone();
    no_iss.as_object_mut().map(|o| o.remove("iss"));
    assert_eq!(reason(&auth, AuthScheme::Jwt, &bearer(&hs256(no_iss))), "token has no iss claim");
    let mut no_aud = good.clone();
    no_aud.as_object_mut().map(|o| o.remove("aud"));
    assert_eq!(reason(&auth, AuthScheme::Jwt, &bearer(&hs256(no_aud))), "token has no aud claim");
    let unconfigured = authenticator(secret_settings());
    let bare = json!({"sub": "a", "exp": now() + 60});
    assert!(
        unconfigured.authenticate(AuthScheme::Jwt, &bearer(&hs256(bare))).is_ok(),
        "nothing configured, nothing required"
    );
}

#[test]
fn a_short_hs256_key_in_a_jwks_file_is_refused_like_a_short_secret() {
    use base64::Engine;
    let dir = tempfile::tempdir().expect("tempdir");
    let jwks = dir.path().join("jwks.json");
    let short = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b"only-sixteen-byt");
    let set = json!({"keys": [{"kty": "oct", "kid": "short", "k": short}]});
    std::fs::write(&jwks, set.to_string()).expect("write");
    let error = JwtVerifier::new(JwtSettings { jwks_file: Some(jwks.clone()), ..JwtSettings::default() })
        .err()
        .expect("refused");
    assert!(error.to_string().contains("at least 32 bytes") && error.to_string().contains("short"), "{error}");

    let long = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(SECRET.as_bytes());
    let set = json!({"keys": [{"kty": "oct", "kid": "long", "k": long}]});
    std::fs::write(&jwks, set.to_string()).expect("write");
    let auth = authenticator(JwtSettings { jwks_file: Some(jwks), ..JwtSettings::default() });
    let header = Header { kid: Some("long".into()), ..Header::default() };
    let token =
        encode(&header, &json!({"sub": "svc", "exp": now() + 60}), &EncodingKey::from_secret(SECRET.as_bytes()))
            .expect("encode");
    assert_eq!(auth.authenticate(AuthScheme::Jwt, &bearer(&token)).expect("valid"), "svc");
}
