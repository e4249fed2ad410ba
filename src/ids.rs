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

/// True when `id` has the shape of an id this server issues: a short lowercase
/// prefix, `_`, then URL-safe base64. Lookups of anything else answer "not found"
/// without a query (PostgreSQL, for one, refuses text holding a NUL byte).
pub fn is_well_formed(id: &str) -> bool {
    let Some((prefix, rest)) = id.split_once('_') else {
        return false;
    };
    (2..=4).contains(&prefix.len())
        && prefix.bytes().all(|b| b.is_ascii_lowercase())
        && (1..=64).contains(&rest.len())
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_well_formed() {
        let id = super::new_id("lst");
        assert!(super::is_well_formed(&id));
        assert!(super::is_well_formed("tok_nope"));
        for bad in [
            "",
            "lst",
            "lst_",
            "_abc",
            "LST_abc",
            "lst_a\u{0}b",
            "lst_a b",
            "toolong_abc",
        ] {
            assert!(!super::is_well_formed(bad), "{bad:?}");
        }
    }
}
