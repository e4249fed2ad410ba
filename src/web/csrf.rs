//! CSRF protection for every form POST.
//!
//! * Signed in: each form carries `csrf = hex(SHA-256("udam-csrf:" + session token))`.
//!   Another site can make a browser send the session cookie, but cannot read the
//!   token, so it cannot compute the field. Nothing is stored: the token is derived
//!   from the session, and it dies with it.
//! * Signed out (sign-in and sign-up forms): double submit. The page sets a random
//!   `udam_csrf` cookie and puts the same value in the form; another site can neither
//!   read nor set that cookie, so it cannot make the two match. Behind https it is
//!   `__Host-udam_csrf`, which not even a sibling subdomain can set
//!   ([`UiCookie`]). This stops login CSRF
//!   (signing a victim into the attacker's account).
//!
//! Both comparisons run in constant time. The extractors [`Protected`] and
//! [`AnonForm`] do the check before a handler runs, so no form handler can forget it.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use serde::Deserialize;
use serde::de::DeserializeOwned;

pub use super::csrf_token::{matches, new_anon_token, token_for_session};
use super::failure::WebError;
use super::session::{SignedIn, UiCookie};
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

/// The 403 every failed check answers with (its page says what to do).
pub fn rejected() -> WebError {
    WebError::Page(ApiError::new(
        StatusCode::FORBIDDEN,
        ErrorCode::CsrfFailed,
        "This form has expired or was sent from another site, so nothing was changed. \
         Go back, reload the page and try again (cookies must be enabled).",
    ))
}

#[derive(Deserialize)]
struct CsrfField {
    #[serde(default)]
    csrf: String,
}

/// Reads a form body (within the configured body limit) and its `csrf` field.
async fn read_form(req: Request, state: &AppState) -> Result<(Bytes, String), WebError> {
    let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
        let message = if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            "the form is too large; shorten the text and try again"
        } else {
            "the form could not be read; go back and try again"
        };
        WebError::Page(ApiError::new(
            rejection.status(),
            ErrorCode::BadForm,
            message,
        ))
    })?;
    let csrf = serde_urlencoded::from_bytes::<CsrfField>(&bytes)
        .map(|f| f.csrf)
        .unwrap_or_default();
    Ok((bytes, csrf))
}

/// Parses the form's own fields (after the CSRF check passed).
fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, WebError> {
    serde_urlencoded::from_bytes(bytes).map_err(|_| {
        WebError::Page(ApiError::bad_request(
            ErrorCode::BadForm,
            "the form was incomplete; go back and try again",
        ))
    })
}

/// A form POST by a signed-in user whose CSRF token matched. Signed-out browsers
/// are sent to sign in; a missing or wrong token gets the 403 page. Either way
/// nothing runs.
pub struct Protected<T> {
    /// The signed-in user.
    pub me: SignedIn,
    /// The form's fields.
    pub form: T,
}

impl<T: DeserializeOwned> FromRequest<AppState> for Protected<T> {
    type Rejection = WebError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, WebError> {
        let (mut parts, body) = req.into_parts();
        let me = SignedIn::from_request_parts(&mut parts, state).await?;
        let (bytes, csrf) = read_form(Request::from_parts(parts, body), state).await?;
        if !matches(&csrf, &me.csrf) {
            return Err(rejected());
        }
        Ok(Self {
            me,
            form: parse(&bytes)?,
        })
    }
}

/// A signed-out form POST (sign-in, sign-up) whose double-submit token matched.
pub struct AnonForm<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for AnonForm<T> {
    type Rejection = WebError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, WebError> {
        let expected = UiCookie::Csrf
            .read(state, req.headers())
            .unwrap_or_default()
            .to_owned();
        let (bytes, csrf) = read_form(req, state).await?;
        if !matches(&csrf, &expected) {
            return Err(rejected());
        }
        Ok(Self(parse(&bytes)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    #[test]
    fn session_tokens_are_bound_to_the_session() {
        let a = token_for_session("session-a");
        assert_eq!(a.len(), 64);
        assert_eq!(a, token_for_session("session-a"));
        assert_ne!(a, token_for_session("session-b"));
        // The known answer: hex(SHA-256("udam-csrf:abc")).
        assert_eq!(
            token_for_session("abc"),
            hex::encode(Sha256::digest(b"udam-csrf:abc"))
        );
    }

    #[test]
    fn matching_needs_the_exact_nonempty_token() {
        let t = new_anon_token();
        assert!(matches(&t, &t));
        assert!(!matches("", ""));
        assert!(!matches(&t[..10], &t));
        assert!(!matches(&format!("{t}0"), &t));
        assert_ne!(new_anon_token(), t);
    }
}
