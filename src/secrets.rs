//! Encryption at rest of secret values (deployment environment variables), with XChaCha20-Poly1305.
//!
//! The key comes from `CAPCOM_SECRET_KEY` (base64 of 32 bytes) or, with none configured, from a key
//! generated once into the data folder. Each value is sealed with a fresh random 24-byte nonce and bound to
//! where it belongs (associated data: the deployment id and the variable name), so a ciphertext copied to
//! another row does not decrypt. Stored form: version byte `1` ‖ nonce ‖ ciphertext.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

/// Name of the key file generated into the data folder.
pub const GENERATED_KEY_FILE: &str = "secret.key";

const VERSION: u8 = 1;

/// Why the secret key could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("secret key: {0}")]
pub struct SecretKeyError(String);

/// Why a value could not be sealed or opened.
#[derive(Debug, thiserror::Error)]
#[error("secret value: {0}")]
pub struct SealError(&'static str);

/// Seals and opens secret values.
pub struct SecretBox {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox")
    }
}

impl SecretBox {
    /// From `CAPCOM_SECRET_KEY` if set, else from (creating once) `<data_dir>/secret.key`.
    pub fn from_config(configured: Option<&str>, data_dir: &Path) -> Result<Self, SecretKeyError> {
        let encoded = match configured {
            Some(key) => key.trim().to_owned(),
            None => {
                let path = data_dir.join(GENERATED_KEY_FILE);
                if !path.exists() {
                    let mut key = [0u8; 32];
                    getrandom::fill(&mut key).map_err(|e| SecretKeyError(e.to_string()))?;
                    write_private(&path, &STANDARD.encode(key))?;
                }
                std::fs::read_to_string(&path)
                    .map_err(|e| SecretKeyError(format!("{}: {e}", path.display())))?
                    .trim()
                    .to_owned()
            }
        };
        let bytes = STANDARD.decode(encoded).map_err(|_| SecretKeyError("CAPCOM_SECRET_KEY must be base64".into()))?;
        let cipher = XChaCha20Poly1305::new_from_slice(&bytes)
            .map_err(|_| SecretKeyError("CAPCOM_SECRET_KEY must encode exactly 32 bytes".into()))?;
        Ok(SecretBox { cipher })
    }

    /// Seals `plaintext` for the place `context` names.
    pub fn seal(&self, plaintext: &str, context: &[u8]) -> Result<Vec<u8>, SealError> {
        let mut nonce = [0u8; 24];
        getrandom::fill(&mut nonce).map_err(|_| SealError("no randomness"))?;
        let sealed = self
            .cipher
            .encrypt(&XNonce::from(nonce), Payload { msg: plaintext.as_bytes(), aad: context })
            .map_err(|_| SealError("encryption failed"))?;
        let mut stored = Vec::with_capacity(1 + nonce.len() + sealed.len());
        stored.push(VERSION);
        stored.extend_from_slice(&nonce);
        stored.extend_from_slice(&sealed);
        Ok(stored)
    }

    /// Opens a value sealed for `context`.
    pub fn open(&self, stored: &[u8], context: &[u8]) -> Result<String, SealError> {
        if stored.len() < 25 || stored[0] != VERSION {
            return Err(SealError("unknown format"));
        }
        let nonce: [u8; 24] = stored[1..25].try_into().map_err(|_| SealError("unknown format"))?;
        let plain = self
            .cipher
            .decrypt(&XNonce::from(nonce), Payload { msg: &stored[25..], aad: context })
            .map_err(|_| SealError("does not decrypt with this key and place"))?;
        String::from_utf8(plain).map_err(|_| SealError("not UTF-8"))
    }
}

fn write_private(path: &Path, content: &str) -> Result<(), SecretKeyError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| SecretKeyError(e.to_string()))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| SecretKeyError(format!("{}: {e}", path.display())))?;
    file.write_all(content.as_bytes()).map_err(|e| SecretKeyError(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_in_their_place() {
        let key = STANDARD.encode([7u8; 32]);
        let secret_box = SecretBox::from_config(Some(&key), Path::new("/nonexistent")).unwrap();
        let sealed = secret_box.seal("hunter2", b"deployment-1/PASSWORD").unwrap();
        assert!(!sealed.windows(7).any(|w| w == b"hunter2"));
        assert_eq!(secret_box.open(&sealed, b"deployment-1/PASSWORD").unwrap(), "hunter2");
        assert!(secret_box.open(&sealed, b"deployment-2/PASSWORD").is_err());
        assert!(SecretBox::from_config(Some("c2hvcnQ="), Path::new("/nonexistent")).is_err());
    }
}
