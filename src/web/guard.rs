//! Rate limits of the web forms, and HTML for error answers made outside the pages.
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
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::Response;

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
            &state.config.guard.trusted_proxies,
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
    let guard = &state.config.guard;
    let name = match kind {
        Attempt::SignIn => "login",
        Attempt::SignUp => "register",
    };
    spend(
        state,
        &format!("{name}-ip:{}", client.0),
        guard.rate_limit_auth_ip,
    )
    .await?;
    let email = email.trim().to_lowercase();
    if !email.is_empty() {
        let bucket = format!("{name}-email:{}", email_digest(&email));
        spend(state, &bucket, guard.rate_limit_auth_email).await?;
    }
    Ok(())
}

/// Spends one order of `user_id`.
pub async fn order(state: &AppState, user_id: &str) -> Result<(), WebError> {
    let quota = state.config.guard.rate_limit_orders;
    spend(state, &format!("orders-user:{user_id}"), quota).await
}

/// Largest error envelope read back when turning it into a page.
const ENVELOPE_LIMIT: usize = 16 * 1024;

/// Middleware: when a browser asks for a page (not an API, docs or dev-checkout
/// path, and `Accept` names `text/html`) and gets a JSON error made outside the
/// page handlers (the rate limiter's 429, a body-limit 413, a timeout's 503),
/// answers with the HTML error page instead, keeping the status and headers such
/// as `Retry-After`. Programs and probes, which do not ask for HTML, keep JSON.
pub async fn html_errors(request: Request, next: Next) -> Response {
    let wants_page = !super::is_json_path(request.uri().path())
        && request
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|accept| accept.contains("text/html"));
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    if !wants_page || !is_json || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let message = axum::body::to_bytes(body, ENVELOPE_LIMIT)
        .await
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
        .unwrap_or_default();
    let mut page = super::error_page(status, &message);
    copy_headers(&parts.headers, page.headers_mut());
    page
}

/// Carries over what the client should still see (rate-limit and retry hints,
/// `Allow`, the request id), but not the JSON body's own framing.
fn copy_headers(from: &HeaderMap, to: &mut HeaderMap) {
    for (name, value) in from {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            to.insert(name.clone(), value.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn hints_survive_but_framing_does_not() {
        let mut from = HeaderMap::new();
        from.insert(header::RETRY_AFTER, HeaderValue::from_static("7"));
        from.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        from.insert(header::CONTENT_LENGTH, HeaderValue::from_static("50"));
        let mut to = HeaderMap::new();
        to.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
        copy_headers(&from, &mut to);
        assert_eq!(to.get(header::RETRY_AFTER).unwrap(), "7");
        assert_eq!(to.get(header::CONTENT_TYPE).unwrap(), "text/html");
        assert!(to.get(header::CONTENT_LENGTH).is_none());
    }
}
