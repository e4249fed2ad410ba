//! Cross-cutting HTTP behaviour: request ids, security headers and the
//! one-line-per-request trace. Error answers are rendered in [`super::errors`].

use std::time::Duration;

use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Response, header};
use axum::middleware::Next;
use tower_http::request_id::RequestId;
use tower_http::set_header::SetResponseHeaderLayer;
use tracing::Span;

/// The longest client `X-Request-Id` kept.
pub const MAX_REQUEST_ID_LEN: usize = 64;

/// True when a client's `X-Request-Id` may be kept: 1 to 64 characters of
/// `[A-Za-z0-9._-]`. Anything else would let a client spoof or flood the logs.
pub fn is_acceptable_request_id(value: &[u8]) -> bool {
    (1..=MAX_REQUEST_ID_LEN).contains(&value.len())
        && value
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Drops a client `X-Request-Id` that breaks the rule above, so that the next layer
/// generates a fresh one; the refused value is neither echoed nor logged.
pub async fn drop_unacceptable_request_id(mut request: Request, next: Next) -> Response<Body> {
    let headers = request.headers_mut();
    let keep = headers
        .get_all(X_REQUEST_ID)
        .iter()
        .map(|v| is_acceptable_request_id(v.as_bytes()))
        .collect::<Vec<_>>();
    // One acceptable value is kept; several values, or a bad one, are all dropped.
    if keep != [true] {
        headers.remove(X_REQUEST_ID);
    }
    next.run(request).await
}

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Security headers on every response; HTML pages also get a strict CSP that
/// allows nothing from other origins. An API answer that does not say how it may
/// be cached gets `no-store`: it may carry a key, a session token or a checkout URL
/// (browse pages, which may be cached, say so themselves).
pub async fn security_headers(request: Request, next: Next) -> Response<Body> {
    let api = request.uri().path().starts_with("/api/");
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let set = |headers: &mut axum::http::HeaderMap, name: &'static str, value: &'static str| {
        headers
            .entry(HeaderName::from_static(name))
            .or_insert(HeaderValue::from_static(value));
    };
    set(headers, "x-content-type-options", "nosniff");
    if api {
        set(headers, "cache-control", "no-store");
    }
    set(headers, "x-frame-options", "DENY");
    set(headers, "referrer-policy", "no-referrer");
    set(headers, "cross-origin-opener-policy", "same-origin");
    set(
        headers,
        "permissions-policy",
        "camera=(), microphone=(), geolocation=()",
    );
    let is_html = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("text/html"));
    if is_html {
        set(
            headers,
            "content-security-policy",
            "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
             img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; \
             base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        );
    } else {
        set(
            headers,
            "content-security-policy",
            "default-src 'none'; frame-ancestors 'none'",
        );
    }
    response
}

/// `Strict-Transport-Security` for a server whose public URL is https (a year, the
/// usual value): browsers then never reach it over plain http, where a session
/// cookie or a key could be read on the way. `None` for an http public URL, as in
/// development, where the header would make browsers refuse the server.
pub fn hsts_layer(public_url: &str) -> Option<SetResponseHeaderLayer<HeaderValue>> {
    public_url
        .to_ascii_lowercase()
        .starts_with("https://")
        .then(|| {
            SetResponseHeaderLayer::if_not_present(
                header::STRICT_TRANSPORT_SECURITY,
                HeaderValue::from_static("max-age=31536000"),
            )
        })
}

/// The span of one request: request id, method, matched route.
pub fn request_span(request: &Request<Body>) -> Span {
    let request_id = request
        .extensions()
        .get::<RequestId>()
        .and_then(|id| id.header_value().to_str().ok())
        .unwrap_or_default();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str);
    tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %request.method(),
        route = %route,
    )
}

/// Logs the one line of a finished request.
pub fn log_response(response: &Response<Body>, latency: Duration, _span: &Span) {
    tracing::info!(
        status = response.status().as_u16(),
        latency_ms = latency.as_secs_f64() * 1000.0,
        "request finished"
    );
}

#[cfg(test)]
mod tests {
    use super::is_acceptable_request_id;

    #[test]
    fn request_ids_follow_the_rule() {
        for good in ["a", "req-1.2_3", &"x".repeat(64)] {
            assert!(is_acceptable_request_id(good.as_bytes()), "{good}");
        }
        for bad in ["", "a b", "a\nb", "é", "<script>", &"x".repeat(65)] {
            assert!(!is_acceptable_request_id(bad.as_bytes()), "{bad:?}");
        }
    }
}
