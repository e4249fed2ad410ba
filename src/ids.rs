//! Opaque identifiers and random tokens.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Fills `N` bytes from the operating system's CSPRNG.
///
/// The OS generator failing is not something a request can recover from, and it
/// never happens on a working system, so it aborts loudly instead of producing a
/// weak value.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the operating system's random generator failed");
    bytes
}

/// A new opaque id such as `lst_3q2…`: a type prefix and 128 random bits.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", URL_SAFE_NO_PAD.encode(random_bytes::<16>()))
}
