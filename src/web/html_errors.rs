//! HTML for error answers made outside the page handlers.

use axum::extract::Request;
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::Response;

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
