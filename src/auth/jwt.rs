//! User tokens (SPEC §3): JWTs signed with the one configured key and algorithm.
//!
//! Only the configured algorithm is accepted, so `alg: none` and HS/RS confusion are refused by
//! construction. Expiry and not-before are checked against the injected clock with at most 60 s of leeway.

use std::fs;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::bounded::BoundedMap;
use crate::config::Config;

/// Clock leeway for `exp` and `nbf`, in seconds.
pub const LEEWAY_SECS: i64 = 60;

/// Name of the key file generated into the data folder when no key is configured.
pub const GENERATED_KEY_FILE: &str = "jwt-ed25519.pem";

/// Claims of a user token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// Subject: the user id.
    pub sub: String,
    /// The user id again, under Houston's name.
    pub uuid: Uuid,
    /// Issued at (seconds since the epoch).
    pub iat: i64,
    /// Not valid before.
    pub nbf: i64,
    /// Expires at.
    pub exp: i64,
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// Unique token id.
    pub jti: String,
}

/// Why keys could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The HS256 secret is too short to be safe.
    #[error("CAPCOM_JWT_SECRET must be at least 32 bytes long")]
    SecretTooShort,
    /// Both a secret and a key file were configured.
    #[error("set either CAPCOM_JWT_SECRET or CAPCOM_JWT_PRIVATE_KEY_FILE, not both")]
    Ambiguous,
    /// The key file could not be read or written.
    #[error("JWT key file {path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The PEM is neither an Ed25519 nor an RSA private key.
    #[error("JWT key file {0} holds neither an Ed25519 nor an RSA private key in PEM form")]
    UnsupportedKey(PathBuf),
}

/// Why a token was refused. Deliberately coarse: clients all get the same message.
#[derive(Debug, thiserror::Error)]
#[error("invalid token: {0}")]
pub struct TokenError(String);

/// Signing and verification keys.
pub struct JwtKeys {
    algorithm: Algorithm,
    encoding: EncodingKey,
    decoding: DecodingKey,
    key_id: Option<String>,
    jwks: serde_json::Value,
    issuer: String,
    audience: String,
    lifetime_secs: i64,
    /// Tokens whose signature, algorithm, issuer and audience were verified with these keys, by the
    /// SHA-256 of the token (see [`JwtKeys::verify`]).
    verified: BoundedMap<[u8; 32], Claims>,
}

/// At most this many bytes of verified tokens are remembered.
pub const VERIFIED_TOKENS_MAX_BYTES: usize = 16 * 1024 * 1024;

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("JwtKeys").field("algorithm", &self.algorithm).field("key_id", &self.key_id).finish()
    }
}

fn file_error(path: &Path) -> impl Fn(String) -> KeyError + '_ {
    move |message| KeyError::File { path: path.to_owned(), message }
}

fn key_id(public: &[u8]) -> String {
    Sha256::digest(public).iter().take(8).map(|b| format!("{b:02x}")).collect()
}

impl JwtKeys {
    /// Loads the keys the configuration names: an HS256 secret, a PEM private key, or (neither) an Ed25519
    /// key generated once into `data_dir` and reused.
    pub fn from_config(config: &Config) -> Result<Self, KeyError> {
        let (algorithm, encoding, decoding, key_id, jwk) = match (&config.jwt_secret, &config.jwt_private_key_file) {
            (Some(_), Some(_)) => return Err(KeyError::Ambiguous),
            (Some(secret), None) => {
                if secret.len() < 32 {
                    return Err(KeyError::SecretTooShort);
                }
                let bytes = secret.as_bytes();
                (Algorithm::HS256, EncodingKey::from_secret(bytes), DecodingKey::from_secret(bytes), None, None)
            }
            (None, Some(path)) => Self::load_pem(path)?,
            (None, None) => {
                let path = config.data_dir.join(GENERATED_KEY_FILE);
                if !path.exists() {
                    generate_ed25519_pem(&path)?;
                }
                Self::load_pem(&path)?
            }
        };
        let jwks = serde_json::json!({ "keys": jwk.into_iter().collect::<Vec<_>>() });
        Ok(JwtKeys {
            algorithm,
            encoding,
            decoding,
            key_id,
            jwks,
            issuer: config.jwt_issuer.clone(),
            audience: config.jwt_audience.clone(),
            lifetime_secs: config.jwt_lifetime_secs,
            verified: BoundedMap::new(config.token_cache_entries, VERIFIED_TOKENS_MAX_BYTES),
        })
    }

    #[allow(clippy::type_complexity)]
    fn load_pem(
        path: &Path,
    ) -> Result<(Algorithm, EncodingKey, DecodingKey, Option<String>, Option<serde_json::Value>), KeyError> {
        let pem = fs::read_to_string(path).map_err(|e| file_error(path)(e.to_string()))?;
        if let Ok(signing) = ed25519_dalek::SigningKey::from_pkcs8_pem(&pem) {
            let public = signing.verifying_key().to_bytes();
            let x = URL_SAFE_NO_PAD.encode(public);
            let kid = key_id(&public);
            let encoding = EncodingKey::from_ed_pem(pem.as_bytes()).map_err(|e| file_error(path)(e.to_string()))?;
            let decoding = DecodingKey::from_ed_components(&x).map_err(|e| file_error(path)(e.to_string()))?;
            let jwk =
                serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": x, "alg": "EdDSA", "use": "sig", "kid": kid});
            return Ok((Algorithm::EdDSA, encoding, decoding, Some(kid), Some(jwk)));
        }
        // RSA keys are read and used by jsonwebtoken's aws-lc-rs backend, whose private-key operations run
        // in constant time; the public components come from the same backend.
        let encoding =
            EncodingKey::from_rsa_pem(pem.as_bytes()).map_err(|_| KeyError::UnsupportedKey(path.to_owned()))?;
        let public = jsonwebtoken::jwk::Jwk::from_encoding_key(&encoding, Algorithm::RS256)
            .map_err(|_| KeyError::UnsupportedKey(path.to_owned()))?;
        let jsonwebtoken::jwk::AlgorithmParameters::RSA(public) = public.algorithm else {
            return Err(KeyError::UnsupportedKey(path.to_owned()));
        };
        let (n, e) = (public.n, public.e);
        let kid = key_id(n.as_bytes());
        let decoding = DecodingKey::from_rsa_components(&n, &e).map_err(|e| file_error(path)(e.to_string()))?;
        let jwk = serde_json::json!({"kty": "RSA", "n": n, "e": e, "alg": "RS256", "use": "sig", "kid": kid});
        Ok((Algorithm::RS256, encoding, decoding, Some(kid), Some(jwk)))
    }

    /// The signing algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The JSON Web Key Set published at `/.well-known/jwks.json` (empty for HS256, whose key is secret).
    pub fn jwks(&self) -> &serde_json::Value {
        &self.jwks
    }

    /// Claims for a new token for `user_id`. `not_before_revocation` is the user's `tokensValidAfter`:
    /// `iat` is never earlier than it, so a token issued right after a logout is valid even within the same
    /// second.
    pub fn claims_for(&self, user_id: Uuid, now: DateTime<Utc>, tokens_valid_after: DateTime<Utc>) -> Claims {
        let now_secs = now.timestamp();
        let iat = now_secs.max(ceil_secs(tokens_valid_after));
        Claims {
            sub: user_id.to_string(),
            uuid: user_id,
            iat,
            nbf: now_secs,
            exp: now_secs + self.lifetime_secs,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            jti: Uuid::new_v4().to_string(),
        }
    }

    /// Signs `claims`.
    pub fn sign(&self, claims: &Claims) -> Result<String, TokenError> {
        let mut header = Header::new(self.algorithm);
        header.kid = self.key_id.clone();
        jsonwebtoken::encode(&header, claims, &self.encoding).map_err(|e| TokenError(e.to_string()))
    }

    /// Verifies signature, algorithm, issuer and audience, then `exp`/`nbf` against `now`.
    ///
    /// The first part depends only on the token's text and these keys, so its outcome is remembered for a
    /// token that passed it, by the token's SHA-256, in a map bounded by `CAPCOM_TOKEN_CACHE_ENTRIES` entries
    /// (10 000) and [`VERIFIED_TOKENS_MAX_BYTES`]: a client sending the same token on every request pays the
    /// signature check once. The time checks run on every call, and a token found expired is forgotten.
    /// Revocation is not decided here: the caller compares `iat` with the user's `tokensValidAfter`, read
    /// on every request ([`crate::auth::principal::resolve_token`]). Keys are per process and never
    /// change while it runs, so a token signed with another key is never remembered.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Claims, TokenError> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(claims) = self.verified.get(&digest) {
            return match check_time(&claims, now) {
                Ok(()) => Ok(claims),
                Err(error) => {
                    self.verified.remove(&digest);
                    Err(error)
                }
            };
        }
        let claims = self.verify_signed(token)?;
        check_time(&claims, now)?;
        self.verified.insert(digest, claims.clone(), token.len() + std::mem::size_of::<Claims>() + 256);
        Ok(claims)
    }

    /// The claims of `token` once its signature, algorithm, issuer, audience and subject are checked
    /// (not its times).
    fn verify_signed(&self, token: &str) -> Result<Claims, TokenError> {
        let mut validation = Validation::new(self.algorithm);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "sub", "iss", "aud"]);
        // Time is checked below against the injected clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .map_err(|e| TokenError(e.to_string()))?;
        let claims = data.claims;
        if claims.sub != claims.uuid.to_string() {
            return Err(TokenError("sub and uuid differ".into()));
        }
        Ok(claims)
    }
}

/// Refuses claims that expired or are not yet valid at `now` (with [`LEEWAY_SECS`] either way).
fn check_time(claims: &Claims, now: DateTime<Utc>) -> Result<(), TokenError> {
    let now_secs = now.timestamp();
    if claims.exp + LEEWAY_SECS <= now_secs {
        return Err(TokenError("expired".into()));
    }
    if claims.nbf - LEEWAY_SECS > now_secs || claims.iat - LEEWAY_SECS > now_secs {
        return Err(TokenError("not yet valid".into()));
    }
    Ok(())
}

/// Longest lifetime of a deployment access token.
pub const DEPLOYMENT_TOKEN_SECS: i64 = 3600;

/// Claims of a deployment access token: for the Airflow API of one deployment, never for capcom's.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeploymentClaims {
    /// Subject: the user id.
    pub sub: String,
    /// Audience: the deployment id (so capcom itself refuses the token).
    pub aud: String,
    /// The caller's Airflow role there.
    pub roles: Vec<String>,
    /// Issued at.
    pub iat: i64,
    /// Not valid before.
    pub nbf: i64,
    /// Expires at.
    pub exp: i64,
    /// Issuer.
    pub iss: String,
    /// Unique token id.
    pub jti: String,
}

impl JwtKeys {
    /// Signs a deployment access token for `user_id` with Airflow role `role` on `deployment_id`, valid for
    /// at most an hour (and never longer than a user token).
    pub fn sign_deployment_token(
        &self,
        user_id: Uuid,
        deployment_id: Uuid,
        role: &str,
        now: DateTime<Utc>,
    ) -> Result<(String, DeploymentClaims), TokenError> {
        let now_secs = now.timestamp();
        let claims = DeploymentClaims {
            sub: user_id.to_string(),
            aud: deployment_id.to_string(),
            roles: vec![role.to_owned()],
            iat: now_secs,
            nbf: now_secs,
            exp: now_secs + DEPLOYMENT_TOKEN_SECS.min(self.lifetime_secs),
            iss: self.issuer.clone(),
            jti: Uuid::new_v4().to_string(),
        };
        let mut header = Header::new(self.algorithm);
        header.kid = self.key_id.clone();
        let token = jsonwebtoken::encode(&header, &claims, &self.encoding).map_err(|e| TokenError(e.to_string()))?;
        Ok((token, claims))
    }
}

/// The user id a JWT *claims*, read without checking its signature: for routing a request (which database
/// serves it) before the token is verified, never for a decision about access.
pub fn unverified_user_id(token: &str) -> Option<Uuid> {
    #[derive(Deserialize)]
    struct Subject {
        uuid: Uuid,
    }
    let payload = token.split('.').nth(1)?;
    if payload.len() > 4096 {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    serde_json::from_slice::<Subject>(&bytes).ok().map(|subject| subject.uuid)
}

/// Seconds since the epoch, rounded up.
pub fn ceil_secs(instant: DateTime<Utc>) -> i64 {
    let secs = instant.timestamp();
    if instant.timestamp_subsec_nanos() > 0 { secs + 1 } else { secs }
}

fn generate_ed25519_pem(path: &Path) -> Result<(), KeyError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| file_error(path)(e.to_string()))?;
    let signing = ed25519_dalek::SigningKey::from_bytes(&seed);
    let pem = signing
        .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
        .map_err(|e| file_error(path)(e.to_string()))?;
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(|e| file_error(path)(e.to_string()))?;
    }
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| file_error(path)(e.to_string()))?;
    file.write_all(pem.as_bytes()).map_err(|e| file_error(path)(e.to_string()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_with_key(pem: &str) -> (Config, tempfile_path::TempPath) {
        let path = tempfile_path::TempPath::new("pem");
        std::fs::write(path.as_path(), pem).unwrap();
        let mut config = Config::try_from_args(["capcom"]).unwrap();
        config.jwt_private_key_file = Some(path.as_path().to_owned());
        (config, path)
    }

    /// A file path removed on drop (no extra dependency for two unit tests).
    mod tempfile_path {
        pub struct TempPath(std::path::PathBuf);
        impl TempPath {
            pub fn new(ext: &str) -> Self {
                TempPath(std::env::temp_dir().join(format!("capcom-key-{}.{ext}", uuid::Uuid::new_v4())))
            }
            pub fn as_path(&self) -> &std::path::Path {
                &self.0
            }
        }
        impl Drop for TempPath {
            fn drop(&mut self) {
                let _ = std::fs::remove_file(&self.0);
            }
        }
    }

    #[test]
    fn rs256_keys_sign_verify_and_publish_their_modulus() {
        use rsa::pkcs1::EncodeRsaPrivateKey as _;
        use rsa::pkcs8::EncodePrivateKey as _;
        use rsa::traits::PublicKeyParts as _;
        let mut rng = rsa::rand_core::OsRng;
        let key = rsa::RsaPrivateKey::new(&mut rng, 2048).unwrap();
        // PKCS#8 ("PRIVATE KEY") and PKCS#1 ("RSA PRIVATE KEY") PEM files both work.
        let pkcs8 = key.to_pkcs8_pem(rsa::pkcs8::LineEnding::LF).unwrap().to_string();
        let pkcs1 = key.to_pkcs1_pem(rsa::pkcs8::LineEnding::LF).unwrap().to_string();
        for pem in [pkcs8, pkcs1] {
            let (config, _path) = config_with_key(&pem);
            let keys = JwtKeys::from_config(&config).unwrap();
            assert_eq!(keys.algorithm(), Algorithm::RS256);
            let jwk = &keys.jwks()["keys"][0];
            assert_eq!(jwk["kty"], "RSA");
            assert_eq!(jwk["n"], URL_SAFE_NO_PAD.encode(key.n().to_bytes_be()));
            assert_eq!(jwk["e"], URL_SAFE_NO_PAD.encode(key.e().to_bytes_be()));
            let now = Utc::now();
            let claims = keys.claims_for(Uuid::new_v4(), now, now - chrono::Duration::hours(1));
            let token = keys.sign(&claims).unwrap();
            assert_eq!(keys.verify(&token, now).unwrap(), claims);
        }
    }

    #[test]
    fn a_pem_that_is_no_private_key_is_refused() {
        let (config, _path) = config_with_key("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n");
        assert!(matches!(JwtKeys::from_config(&config), Err(KeyError::UnsupportedKey(_))));
    }
}
