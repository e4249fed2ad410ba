//! Rate limits of the web forms.
//!
//! Every request already pays the per-client limit (`http::rate_limit`). The API's
//! stricter buckets, though, are keyed to API paths; so that the forms are no side
//! door around them, signing in or up spends from the very same `login-*` /
//! `register-*` buckets (per client address and per email), and buying from the
//! same `orders-user:*` bucket. Budgets are shared: ten tries on the API and ten
//! on the form are twenty tries.

use axum::body::Body;
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;

use super::error::WebError;
use crate::ratelimit::{client_bucket_id, email_digest};
use crate::state::AppState;

/// The client part of a bucket name, as the rate-limit middleware computes it.
pub struct Client(pub String);

impl FromRequestParts<AppState> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        // The middleware's function reads a whole request; the body plays no part.
        let probe = Request::from_parts(parts.clone(), Body::empty());
        Ok(Self(client_bucket_id(
            &probe,
            &state.config.edge.trusted_proxies,
        )))
    }
}

/// Spends one request from `bucket`; a denial becomes the 429 page.
async fn spend(
    state: &AppState,
    bucket: &str,
    quota: crate::ratelimit::Quota,
) -> Result<(), WebError> {
    let decision = state.limiter.check(bucket, quota).await;
    if decision.allowed {
        Ok(())
    } else {
        Err(WebError::TooMany {
            headers: decision.headers(),
        })
    }
}

/// Which of the API's attempt buckets a form spends from.
#[derive(Clone, Copy, Debug)]
pub enum Attempt {
    /// Signing in (`login-*`).
    SignIn,
    /// Signing up (`register-*`).
    SignUp,
}

/// Spends a sign-in or sign-up attempt of `client` for `email`.
pub async fn attempt(
    state: &AppState,
    client: &Client,
    kind: Attempt,
    email: &str,
) -> Result<(), WebError> {
    let edge = &state.config.edge;
    let name = match kind {
        Attempt::SignIn => "login",
        Attempt::SignUp => "register",
    };
    spend(
        state,
        &format!("{name}-ip:{}", client.0),
        edge.rate_limit_auth_ip,
    )
    .await?;
    let email = email.trim().to_lowercase();
    if !email.is_empty() {
        let bucket = format!("{name}-email:{}", email_digest(&email));
        spend(state, &bucket, edge.rate_limit_auth_email).await?;
    }
    Ok(())
}

/// Spends one order of `user_id`.
pub async fn order(state: &AppState, user_id: &str) -> Result<(), WebError> {
    let quota = state.config.edge.rate_limit_orders;
    spend(state, &format!("orders-user:{user_id}"), quota).await
}
