//! Request hardening: the header-size limit and CORS.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::config::CorsOrigins;
use crate::error::{ApiError, ErrorCode};
use crate::ratelimit::{RATELIMIT_LIMIT, RATELIMIT_REMAINING, RATELIMIT_RESET};

/// Bytes one header line costs beyond its name and value (`": "` and CRLF).
const LINE_OVERHEAD: usize = 4;

/// Answers 431 `headers_too_large` when the request's header block exceeds
/// `limit` bytes (`--header-limit`).
///
/// hyper has its own, much larger bounds and answers a bare 431 past them; this
/// limit sits well below, so an oversized request gets the error envelope and
/// never reaches the handlers or the rate limiter's work.
pub async fn header_limit(State(limit): State<usize>, request: Request, next: Next) -> Response {
    let size: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + LINE_OVERHEAD)
        .sum();
    if size > limit {
        return ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ErrorCode::HeadersTooLarge,
            format!("the request headers are larger than {limit} bytes"),
        )
        .into_response();
    }
    next.run(request).await
}

/// Adds `Connection: close` to refusals that leave the request body unread
/// (413 `payload_too_large`, 431 `headers_too_large`).
///
/// hyper cannot reuse a connection whose request body was never read, so it
/// closes it after the response; without saying so in the response, a client
/// may pick the dead connection from its pool for its next request and fail
/// with a truncated response. Saying it makes the client open a fresh one.
pub async fn close_after_refusal(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    if matches!(
        response.status(),
        StatusCode::PAYLOAD_TOO_LARGE | StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    ) {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// How long browsers may cache a preflight answer.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(600);

/// The CORS layer for the configured origins, or `None` (no CORS headers at all)
/// when the list is empty.
///
/// Only the listed origins are echoed back. Credentials (cookies) are not
/// allowed: the JSON API authenticates by bearer token, which a page sends
/// explicitly. The rate-limit and request-id headers are exposed so that
/// browser clients can pace themselves and report ids.
pub fn cors_layer(origins: &CorsOrigins) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins.origins().iter().cloned()))
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                HeaderName::from_static("idempotency-key"),
                HeaderName::from_static("x-request-id"),
            ])
            .expose_headers([
                header::RETRY_AFTER,
                header::LOCATION,
                RATELIMIT_LIMIT,
                RATELIMIT_REMAINING,
                RATELIMIT_RESET,
                HeaderName::from_static("x-request-id"),
            ])
            .max_age(PREFLIGHT_MAX_AGE),
    )
}
