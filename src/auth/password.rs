//! Password hashing with argon2id, off the async runtime (each hash costs tens of milliseconds of CPU).

use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

use crate::error::{ApiError, ApiResult};

/// Minimum password length (SPEC §3).
pub const MIN_LENGTH: usize = 8;
/// Maximum password length: bounds the hashing work a request can ask for.
pub const MAX_LENGTH: usize = 1024;

/// Hashes `password` into a PHC string.
pub async fn hash(password: String) -> ApiResult<String> {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|hash| hash.to_string())
            .map_err(|e| ApiError::internal(format!("password hashing: {e}")))
    })
    .await?
}

/// A hash of a password nobody knows, verified against when the user does not exist so that an unknown
/// identity takes as long to refuse as a wrong password.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| {
        Argon2::default()
            .hash_password(b"capcom decoy password, never valid")
            .map(|hash| hash.to_string())
            .unwrap_or_default()
    })
}

/// Whether `password` matches `stored`. With no stored hash, does the same work and answers false.
pub async fn verify(password: String, stored: Option<String>) -> ApiResult<bool> {
    tokio::task::spawn_blocking(move || {
        let known = stored.is_some();
        let hash = stored.unwrap_or_else(|| decoy_hash().to_owned());
        let matches = Argon2::default().verify_password(password.as_bytes(), hash.as_str()).is_ok();
        known && matches
    })
    .await
    .map_err(ApiError::from)
}
