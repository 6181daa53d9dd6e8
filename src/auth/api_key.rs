//! API keys of service accounts (SPEC §3): `cck_<public id>_<secret>`, 256 random bits of secret, stored
//! only as a SHA-256 hash next to the public prefix used to find the row, compared in constant time.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// What every key starts with, so that a leaked key is recognizable (and scanners can find it).
pub const KEY_MARKER: &str = "cck_";

/// A freshly minted key.
pub struct NewKey {
    /// The full key, shown once.
    pub key: String,
    /// The public prefix stored for lookup (`cck_<public id>`).
    pub prefix: String,
    /// SHA-256 of the full key.
    pub hash: Vec<u8>,
}

impl std::fmt::Debug for NewKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewKey").field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

/// Mints a key.
pub fn mint() -> Result<NewKey, getrandom::Error> {
    let mut public = [0u8; 6];
    let mut secret = [0u8; 32];
    getrandom::fill(&mut public)?;
    getrandom::fill(&mut secret)?;
    let prefix = format!("{KEY_MARKER}{}", public.iter().map(|b| format!("{b:02x}")).collect::<String>());
    let key = format!("{prefix}_{}", URL_SAFE_NO_PAD.encode(secret));
    let hash = hash(&key);
    Ok(NewKey { key, prefix, hash })
}

/// SHA-256 of a key.
pub fn hash(key: &str) -> Vec<u8> {
    Sha256::digest(key.as_bytes()).to_vec()
}

/// Whether a credential looks like an API key rather than a JWT.
pub fn is_api_key(credential: &str) -> bool {
    credential.starts_with(KEY_MARKER)
}

/// The public prefix of a presented key, if it has the expected shape.
pub fn prefix_of(key: &str) -> Option<&str> {
    let rest = key.strip_prefix(KEY_MARKER)?;
    let (public, secret) = rest.split_once('_')?;
    (public.len() == 12 && !secret.is_empty()).then(|| &key[..KEY_MARKER.len() + public.len()])
}

/// Whether `presented` hashes to `stored`, in constant time.
pub fn matches(presented: &str, stored: &[u8]) -> bool {
    hash(presented).ct_eq(stored).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_wrong_ones_do_not_match() {
        let minted = mint().unwrap();
        assert!(minted.key.len() > 50, "at least 256 bits of secret");
        assert_eq!(prefix_of(&minted.key), Some(minted.prefix.as_str()));
        assert!(matches(&minted.key, &minted.hash));
        let mut wrong = minted.key.clone();
        wrong.pop();
        wrong.push('x');
        assert!(!matches(&wrong, &minted.hash) || minted.key.ends_with('x'));
        assert_eq!(prefix_of("cck_short_x"), None);
        assert!(is_api_key(&minted.key) && !is_api_key("eyJhbGciOi"));
        assert!(!format!("{minted:?}").contains(&minted.key), "Debug hides the key");
    }
}
