//! The one error pipeline. Every error answer leaves the server through this layer:
//!
//! * an [`ApiError`](crate::error::ApiError) (from a handler, an extractor, the rate
//!   limiter, the panic catcher) is already an envelope and carries an
//!   [`ErrorReport`] extension saying what it says;
//! * a bare status from a layer or an axum rejection (unknown route, body limit,
//!   timeout, path rejection) becomes an envelope here, once;
//! * a browser asking for a page (not an API, docs or dev-checkout path, and
//!   `Accept` names `text/html`) gets the HTML error page made from the report,
//!   keeping the status and hints such as `Retry-After`; programs keep JSON.
//!
//! Page handlers answer their own failures with pages (`web::error`), and stored
//! idempotent replays are envelopes already; both pass through untouched.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderName, Response, header};
use axum::middleware::Next;

use crate::error::{ErrorReport, default_code_for, envelope};

/// Largest plain-text rejection read to explain a bare 4xx.
const REJECTION_LIMIT: usize = 1024;

/// Middleware: renders every error answer as the envelope or, for browsers asking
/// for a page, as the HTML error page (see the module doc).
pub async fn render_errors(request: Request, next: Next) -> Response<Body> {
    let wants_page = wants_page(&request);
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let response = if response.extensions().get::<ErrorReport>().is_some()
        || has_type(response.headers(), "application/json")
        || has_type(response.headers(), "text/html")
    {
        response
    } else {
        envelope_for_bare(response).await
    };
    if !wants_page {
        return response;
    }
    match response.extensions().get::<ErrorReport>() {
        Some(report) => {
            let mut page = crate::web::error_page(status, &report.message);
            copy_hints(response.headers(), page.headers_mut());
            page
        }
        None => response,
    }
}

/// True when the client is a browser asking for a page outside the JSON paths.
fn wants_page(request: &Request) -> bool {
    !crate::web::is_json_path(request.uri().path())
        && request
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|accept| accept.contains("text/html"))
}

fn has_type(headers: &HeaderMap, prefix: &str) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with(prefix))
}

/// The envelope for a bare status. A short plain-text rejection from axum explains
/// a 4xx well; a 5xx says nothing internal.
async fn envelope_for_bare(response: Response<Body>) -> Response<Body> {
    let status = response.status();
    let (parts, body) = response.into_parts();
    let (code, default_message) = default_code_for(status);
    let message = if status.is_client_error() {
        axum::body::to_bytes(body, REJECTION_LIMIT)
            .await
            .ok()
            .and_then(|b| String::from_utf8(b.to_vec()).ok())
            .filter(|m| !m.trim().is_empty())
            .unwrap_or_else(|| default_message.to_owned())
    } else {
        default_message.to_owned()
    };
    let mut fresh = envelope(status, code, message, None, None);
    for name in [
        header::RETRY_AFTER,
        header::ALLOW,
        HeaderName::from_static("ratelimit-limit"),
        HeaderName::from_static("ratelimit-remaining"),
        HeaderName::from_static("ratelimit-reset"),
    ] {
        if let Some(value) = parts.headers.get(&name) {
            fresh.headers_mut().insert(name, value.clone());
        }
    }
    fresh
}

/// Carries over what the client should still see on the page (rate-limit and retry
/// hints, `Allow`, the request id), but not the JSON body's own framing.
fn copy_hints(from: &HeaderMap, to: &mut HeaderMap) {
    for (name, value) in from {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            to.insert(name.clone(), value.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderValue, StatusCode};

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
        copy_hints(&from, &mut to);
        assert_eq!(to.get(header::RETRY_AFTER).unwrap(), "7");
        assert_eq!(to.get(header::CONTENT_TYPE).unwrap(), "text/html");
        assert!(to.get(header::CONTENT_LENGTH).is_none());
    }

    #[tokio::test]
    async fn a_bare_status_becomes_an_envelope_with_its_report() {
        let bare = Response::builder()
            .status(StatusCode::PAYLOAD_TOO_LARGE)
            .header(header::RETRY_AFTER, "3")
            .body(Body::from("length limit exceeded"))
            .unwrap();
        let fresh = envelope_for_bare(bare).await;
        assert_eq!(fresh.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(fresh.headers().get(header::RETRY_AFTER).unwrap(), "3");
        let report = fresh.extensions().get::<ErrorReport>().cloned().unwrap();
        assert_eq!(report.code, crate::error::ErrorCode::PayloadTooLarge);
        assert_eq!(report.message, "length limit exceeded");
    }
}
