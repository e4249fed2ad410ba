//! Buyer keys: `udam_` + 64 hex characters (32 random bytes) + an 8-hex checksum.
//!
//! The prefix lets leaked-key scanners find them; the checksum (the first 4 bytes of
//! SHA-256 over the rest) tells a typo or a made-up string apart without a database
//! lookup. Only the SHA-256 of the whole key is stored; the key itself is shown once.

use sha2::{Digest, Sha256};

use crate::crypto::SecretString;

/// Every buyer key starts with this.
pub const PREFIX: &str = "udam_";
const RANDOM_HEX: usize = 64;
const CHECKSUM_HEX: usize = 8;
/// Length of a well-formed key.
pub const KEY_LEN: usize = PREFIX.len() + RANDOM_HEX + CHECKSUM_HEX;

/// A freshly issued key: the plaintext (shown once), its stored hash and its hint.
pub struct IssuedKey {
    /// The key itself.
    pub plaintext: SecretString,
    /// SHA-256 of the key, as stored.
    pub hash: [u8; 32],
    /// What is shown later: prefix, first and last four characters.
    pub hint: String,
}

impl std::fmt::Debug for IssuedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedKey")
            .field("hint", &self.hint)
            .finish_non_exhaustive()
    }
}

fn checksum(body: &str) -> String {
    hex::encode(&Sha256::digest(body.as_bytes())[..CHECKSUM_HEX / 2])
}

/// A new random key.
pub fn issue() -> IssuedKey {
    let body = format!(
        "{PREFIX}{}",
        hex::encode(crate::ids::random_bytes::<{ RANDOM_HEX / 2 }>())
    );
    let key = format!("{body}{}", checksum(&body));
    IssuedKey {
        hash: hash(&key),
        hint: hint(&key),
        plaintext: SecretString::new(key),
    }
}

/// SHA-256 of a key.
pub fn hash(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// `udam_1a2b…9z8y`: enough to recognise a key, not to use it.
pub fn hint(key: &str) -> String {
    let start = key.get(..PREFIX.len() + 4).unwrap_or(PREFIX);
    let end = key.get(key.len().saturating_sub(4)..).unwrap_or_default();
    format!("{start}…{end}")
}

/// The hash of `candidate` if it is shaped like a key and its checksum holds;
/// `None` for anything else (which then never reaches the database).
pub fn verify_shape(candidate: &str) -> Option<[u8; 32]> {
    if candidate.len() != KEY_LEN || !candidate.starts_with(PREFIX) {
        return None;
    }
    let (body, sum) = candidate.split_at(PREFIX.len() + RANDOM_HEX);
    let hex_ok = candidate[PREFIX.len()..]
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    (hex_ok && checksum(body) == sum).then(|| hash(candidate))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_keys_verify_and_typos_do_not() {
        let key = issue();
        let text = key.plaintext.expose();
        assert_eq!(text.len(), KEY_LEN);
        assert!(text.starts_with("udam_"));
        assert_eq!(verify_shape(text), Some(key.hash));
        let mut typo = text.to_owned().into_bytes();
        typo[10] = if typo[10] == b'a' { b'b' } else { b'a' };
        let typo = String::from_utf8(typo).unwrap();
        assert_eq!(verify_shape(&typo), None);
        assert_eq!(verify_shape("udam_short"), None);
        assert!(key.hint.starts_with("udam_") && key.hint.ends_with(&text[text.len() - 4..]));
        assert!(!format!("{key:?}").contains(text));
    }
}
