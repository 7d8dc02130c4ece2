//! JWT bearer tokens: HS256, RS256 and ES256, verified against keys from PEM
//! files, a JWKS file or a shared secret.
//!
//! Each key is bound to one algorithm by its type, so a token cannot choose a
//! weaker check than its key allows (no `none`, no RSA key used as an HMAC
//! secret). `exp` and `nbf` are checked against a wall clock that follows
//! tokio's clock, so expiry is tested with paused time. Key files are re-read
//! on reload; a bad file leaves the keys in use untouched.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use http::HeaderValue;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use tokio::time::Instant;

use super::AuthError;

/// Where keys come from and which claims must hold.
#[derive(Debug, Clone, Default)]
pub struct JwtSettings {
    /// Shared HS256 secret (from an environment variable), if any.
    pub hs256_secret: Option<String>,
    /// File holding the HS256 secret; re-read on reload.
    pub hs256_secret_file: Option<PathBuf>,
    /// RSA or EC P-256 public keys (PEM); the key type sets RS256 or ES256.
    pub public_key_files: Vec<PathBuf>,
    /// A JWKS document (`{"keys": [...]}`); keys are matched by `kid`.
    pub jwks_file: Option<PathBuf>,
    /// Required `iss`, if set.
    pub issuer: Option<String>,
    /// Required `aud`, if set.
    pub audience: Option<String>,
    /// Tolerance for `exp` and `nbf`.
    pub leeway: Duration,
}

/// One verification key.
struct Key {
    kid: Option<String>,
    alg: Algorithm,
    key: DecodingKey,
}

/// Verifies tokens; keys can be swapped while requests are being checked.
pub struct JwtVerifier {
    settings: JwtSettings,
    keys: ArcSwap<Vec<Key>>,
    clock: WallClock,
}

#[derive(serde::Deserialize)]
struct Claims {
    sub: Option<String>,
    exp: Option<f64>,
    nbf: Option<f64>,
}

impl JwtVerifier {
    /// Loads every configured key; any bad one is an error naming its file.
    pub fn new(settings: JwtSettings) -> Result<JwtVerifier, AuthError> {
        let keys = load_keys(&settings)?;
        Ok(JwtVerifier { settings, keys: ArcSwap::from_pointee(keys), clock: WallClock::new() })
    }

    /// Re-reads the key files; on error the old keys stay in use.
    pub fn reload(&self) -> Result<(), AuthError> {
        let keys = load_keys(&self.settings)?;
        self.keys.store(Arc::new(keys));
        Ok(())
    }

    /// The token's `sub`, or the reason it is refused.
    pub fn verify(&self, token: &str) -> Result<HeaderValue, &'static str> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| "malformed token")?;
        if !matches!(header.alg, Algorithm::HS256 | Algorithm::RS256 | Algorithm::ES256) {
            return Err("unsupported algorithm (HS256, RS256 or ES256 only)");
        }
        let keys = self.keys.load();
        let by_kid: Vec<&Key> =
            keys.iter().filter(|k| k.alg == header.alg && header.kid.is_some() && k.kid == header.kid).collect();
        let candidates: Vec<&Key> = if by_kid.is_empty() {
            keys.iter().filter(|k| k.alg == header.alg && (k.kid.is_none() || header.kid.is_none())).collect()
        } else {
            by_kid
        };
        if candidates.is_empty() {
            return Err("no key matches the token's algorithm and kid");
        }
        let mut last = "bad signature";
        for key in candidates {
            match jsonwebtoken::decode::<Claims>(token, &key.key, &self.validation(key.alg)) {
                Ok(data) => return self.check_claims(data.claims),
                Err(e) if *e.kind() == ErrorKind::InvalidSignature => last = "bad signature",
                Err(e) => return Err(reason(e.kind())),
            }
        }
        Err(last)
    }

    fn validation(&self, alg: Algorithm) -> Validation {
        let mut v = Validation::new(alg);
        v.validate_exp = false; // checked against `WallClock` in `check_claims`
        v.validate_nbf = false;
        v.required_spec_claims.clear();
        v.validate_aud = self.settings.audience.is_some();
        // A configured issuer or audience is a requirement: a token that
        // leaves the claim out is refused, not waved through.
        if let Some(aud) = &self.settings.audience {
            v.set_audience(&[aud]);
            v.required_spec_claims.insert("aud".to_string());
        }
        if let Some(iss) = &self.settings.issuer {
            v.set_issuer(&[iss]);
            v.required_spec_claims.insert("iss".to_string());
        }
        v
    }

    fn check_claims(&self, claims: Claims) -> Result<HeaderValue, &'static str> {
        let now = self.clock.unix_secs();
        let leeway = self.settings.leeway.as_secs_f64();
        let exp = claims.exp.ok_or("token has no exp claim")?;
        if now > exp + leeway {
            return Err("token expired");
        }
        if claims.nbf.is_some_and(|nbf| nbf > now + leeway) {
            return Err("token not yet valid");
        }
        let sub = claims.sub.filter(|s| !s.is_empty()).ok_or("token has no sub claim")?;
        HeaderValue::from_str(&sub).map_err(|_| "sub claim is not a valid header value")
    }
}

fn reason(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidIssuer => "wrong issuer",
        ErrorKind::InvalidAudience => "wrong audience",
        ErrorKind::MissingRequiredClaim(c) if c == "iss" => "token has no iss claim",
        ErrorKind::MissingRequiredClaim(c) if c == "aud" => "token has no aud claim",
        ErrorKind::InvalidAlgorithm => "algorithm does not match the key",
        _ => "malformed token",
    }
}

fn load_keys(settings: &JwtSettings) -> Result<Vec<Key>, AuthError> {
    let mut keys = Vec::new();
    if let Some(secret) = &settings.hs256_secret {
        keys.push(hmac_key(secret.as_bytes(), "hs256_secret")?);
    }
    if let Some(path) = &settings.hs256_secret_file {
        let text = read(path)?;
        keys.push(hmac_key(text.trim().as_bytes(), &path.display().to_string())?);
    }
    for path in &settings.public_key_files {
        keys.push(pem_key(path)?);
    }
    if let Some(path) = &settings.jwks_file {
        keys.extend(jwks_keys(path)?);
    }
    Ok(keys)
}

fn hmac_key(secret: &[u8], source: &str) -> Result<Key, AuthError> {
    if secret.len() < 32 {
        let reason = "an HS256 secret must be at least 32 bytes".to_string();
        return Err(AuthError::Key { path: source.to_string(), reason });
    }
    Ok(Key { kid: None, alg: Algorithm::HS256, key: DecodingKey::from_secret(secret) })
}

fn read(path: &PathBuf) -> Result<String, AuthError> {
    std::fs::read_to_string(path).map_err(|source| AuthError::Read { path: path.display().to_string(), source })
}

fn pem_key(path: &PathBuf) -> Result<Key, AuthError> {
    let pem = read(path)?;
    if let Ok(key) = DecodingKey::from_rsa_pem(pem.as_bytes()) {
        return Ok(Key { kid: None, alg: Algorithm::RS256, key });
    }
    if let Ok(key) = DecodingKey::from_ec_pem(pem.as_bytes()) {
        return Ok(Key { kid: None, alg: Algorithm::ES256, key });
    }
    let reason = "not a PEM RSA or EC P-256 public key".to_string();
    Err(AuthError::Key { path: path.display().to_string(), reason })
}

fn jwks_keys(path: &PathBuf) -> Result<Vec<Key>, AuthError> {
    let bad = |reason: String| AuthError::Key { path: path.display().to_string(), reason };
    let set: JwkSet = serde_json::from_str(&read(path)?).map_err(|e| bad(format!("not a JWKS document: {e}")))?;
    let mut keys = Vec::with_capacity(set.keys.len());
    for jwk in &set.keys {
        let alg = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => Algorithm::RS256,
            AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => Algorithm::ES256,
            AlgorithmParameters::OctetKey(octets) => {
                let secret = URL_SAFE_NO_PAD
                    .decode(octets.value.trim_end_matches('='))
                    .map_err(|e| bad(format!("key {:?}: k is not base64url: {e}", jwk.common.key_id)))?;
                if secret.len() < 32 {
                    let kid = &jwk.common.key_id;
                    return Err(bad(format!("key {kid:?}: an HS256 secret must be at least 32 bytes")));
                }
                Algorithm::HS256
            }
            _ => continue, // a key type Portico does not verify with is skipped, not fatal
        };
        let key = DecodingKey::from_jwk(jwk).map_err(|e| bad(format!("key {:?}: {e}", jwk.common.key_id)))?;
        keys.push(Key { kid: jwk.common.key_id.clone(), alg, key });
    }
    Ok(keys)
}

/// Unix time that advances with tokio's clock (and so stands still, or
/// jumps, when a test pauses or advances it).
struct WallClock {
    system: SystemTime,
    instant: Instant,
}

impl WallClock {
    fn new() -> WallClock {
        WallClock { system: SystemTime::now(), instant: Instant::now() }
    }

    fn unix_secs(&self) -> f64 {
        let now = self.system + self.instant.elapsed();
        now.duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
    }
}
