//! Opaque identifiers and random tokens, and typed ids parsed at the edge.
//!
//! A path id is checked for the shape this server issues (and its entity's prefix)
//! before any handler runs: anything else names nothing, so it answers 404 without
//! a query, whatever bytes it holds (NUL, invalid UTF-8, overlong).

use std::marker::PhantomData;

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::ApiError;

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

/// An entity whose ids carry a fixed prefix, e.g. `lst` for listings.
pub trait Entity {
    /// The id prefix before `_`.
    const PREFIX: &'static str;
    /// What a 404 calls it ("listing not found").
    const NAME: &'static str;
}

/// Marks listing ids (`lst_…`).
pub enum Listing {}
impl Entity for Listing {
    const PREFIX: &'static str = "lst";
    const NAME: &'static str = "listing";
}

/// Marks order ids (`ord_…`).
pub enum Order {}
impl Entity for Order {
    const PREFIX: &'static str = "ord";
    const NAME: &'static str = "order";
}

/// Marks access-grant (token) ids (`tok_…`).
pub enum Grant {}
impl Entity for Grant {
    const PREFIX: &'static str = "tok";
    const NAME: &'static str = "token";
}

/// Marks a dev checkout's token (`dck_…`), which opens an order's or a settlement's checkout.
pub enum Checkout {}
impl Entity for Checkout {
    const PREFIX: &'static str = "dck";
    const NAME: &'static str = "checkout";
}

/// A well-formed id of entity `E`, taken from the path's one parameter.
pub struct Id<E> {
    text: String,
    entity: PhantomData<E>,
}

impl<E: Entity> Id<E> {
    /// The id if `text` has the shape of an `E` id (any prefix when `E::PREFIX` is empty).
    pub fn parse(text: &str) -> Option<Self> {
        let prefix_ok = E::PREFIX.is_empty()
            || text
                .split_once('_')
                .is_some_and(|(prefix, _)| prefix == E::PREFIX);
        (prefix_ok && is_well_formed(text)).then(|| Self {
            text: text.to_owned(),
            entity: PhantomData,
        })
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The id as an owned string.
    pub fn into_string(self) -> String {
        self.text
    }
}

impl<E> std::ops::Deref for Id<E> {
    type Target = str;

    fn deref(&self) -> &str {
        &self.text
    }
}

impl<E> std::fmt::Display for Id<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl<S: Send + Sync, E: Entity> FromRequestParts<S> for Id<E> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // A path that is not even UTF-8 names nothing either: the same 404.
        let Path(text) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::not_found(E::NAME))?;
        Self::parse(&text).ok_or_else(|| ApiError::not_found(E::NAME))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn typed_ids_check_their_prefix() {
        use super::{Id, Listing, Order};
        assert!(Id::<Listing>::parse("lst_abc").is_some());
        assert!(Id::<Listing>::parse("ord_abc").is_none());
        assert!(Id::<Order>::parse("ord_a\u{0}").is_none());
        assert_eq!(
            Id::<Order>::parse("ord_x").map(Id::into_string).as_deref(),
            Some("ord_x")
        );
    }

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
