//! The `AuthUser` extractor: a valid `Authorization: Bearer` session, or 401.
//!
//! The JSON API authenticates by bearer token only. Browser pages use a cookie and
//! their own extractor in `web`, which also checks CSRF; keeping cookies away from
//! the JSON API means a cross-site form can never act on it.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::{User, sessions};
use crate::error::ApiError;
use crate::state::AppState;

/// The signed-in user of this request.
#[derive(Clone, Debug)]
pub struct AuthUser {
    /// Who is calling.
    pub user: User,
    /// SHA-256 of the presented session token (to revoke exactly this session).
    pub token_hash: Vec<u8>,
}

/// The bearer token of a request, if any, without validating it.
pub fn bearer_token(parts: &Parts) -> Option<&str> {
    bearer_in(&parts.headers)
}

/// The bearer token in a set of headers, if any, without validating it.
pub fn bearer_in(headers: &axum::http::HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

impl AuthUser {
    /// Resolves a raw session token to its user.
    pub async fn from_token(state: &AppState, token: &str) -> Result<Self, ApiError> {
        let token_hash = sessions::hash_token(token);
        let user = sessions::lookup(state, &token_hash)
            .await?
            .ok_or_else(ApiError::unauthorized)?;
        Ok(Self { user, token_hash })
    }
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(cached) = parts.extensions.get::<AuthUser>() {
            return Ok(cached.clone());
        }
        let token = bearer_token(parts).ok_or_else(ApiError::unauthorized)?;
        let auth = Self::from_token(state, token).await?;
        parts.extensions.insert(auth.clone());
        Ok(auth)
    }
}
