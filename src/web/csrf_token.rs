//! The CSRF token values: derived from a session, or random for the signed-out
//! double-submit cookie, and compared in constant time.
//!
//! A leaf: the session extractor derives its form token here, and the CSRF
//! extractors (`csrf`) check against it, without the two importing each other.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The CSRF token of a session.
pub fn token_for_session(session_token: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"udam-csrf:");
    hasher.update(session_token.as_bytes());
    hex::encode(hasher.finalize())
}

/// A fresh random value for the double-submit cookie.
pub fn new_anon_token() -> String {
    hex::encode(crate::ids::random_bytes::<32>())
}

/// Constant-time equality of a presented token and the expected one; an empty
/// expected token never matches.
pub fn matches(presented: &str, expected: &str) -> bool {
    !expected.is_empty() && bool::from(presented.as_bytes().ct_eq(expected.as_bytes()))
}
