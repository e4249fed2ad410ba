//! The fake's HTTP side: every request recorded, forced failures, Bearer auth,
//! `Idempotency-Key` replay (saved once an endpoint starts executing, as Stripe
//! does), and routing to the resources.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::Response;
use serde_json::Value;

use super::wire::{error_body, forced_refusal, forced_server_error, no_such, reply};
use super::{Failure, Inner, RecordedRequest, Saved, checkout, connect, lock, refunds};

/// How a handler's outcome interacts with idempotency: Stripe saves the
/// result once an endpoint starts executing, but not for requests rejected
/// while validating parameters.
pub(super) enum Outcome {
    Saved(StatusCode, Value),
    NotSaved(StatusCode, Value),
}

pub(super) async fn handle(
    State(state): State<Arc<Mutex<Inner>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header_str = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let content_type = header_str(header::CONTENT_TYPE.as_str());
    let parsed_form = parse_form(content_type.as_deref(), &body);
    let request = RecordedRequest {
        method: method.to_string(),
        path: uri.path().to_owned(),
        idempotency_key: header_str("idempotency-key"),
        authorization: header_str(header::AUTHORIZATION.as_str()),
        content_type,
        form: parsed_form.clone().unwrap_or_default(),
    };

    // Stripe's hosted onboarding pages are for a browser: no API key, no failures.
    if let ["connect", "onboarding", token] = request
        .path
        .trim_start_matches('/')
        .split('/')
        .collect::<Vec<_>>()
        .as_slice()
    {
        return connect::onboarding_page(&state, token, method == Method::POST).await;
    }
    let failure = {
        let mut inner = lock(&state);
        inner.requests.push(request.clone());
        inner.failure
    };
    let post = method == Method::POST;
    match failure {
        Some(Failure::Hang) => std::future::pending::<()>().await,
        Some(Failure::ServerError) => return forced_server_error(),
        Some(Failure::WritesFail) if post => return forced_server_error(),
        Some(Failure::BadRequest) => return forced_refusal("The request was rejected"),
        Some(Failure::WritesRefused) if post => return forced_refusal("The transfer was refused"),
        Some(Failure::LostResponse | Failure::WritesFail | Failure::WritesRefused) | None => {}
    }
    let response = dispatch(&state, &method, &uri, &request, parsed_form);
    if failure == Some(Failure::LostResponse)
        && method == Method::POST
        && response.status().is_success()
    {
        return reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            error_body(
                "api_error",
                None,
                None,
                "An unknown error occurred (fake Stripe lost the answer).",
            ),
        );
    }
    response
}

/// Authenticates and routes one API request.
fn dispatch(
    state: &Mutex<Inner>,
    method: &Method,
    uri: &Uri,
    request: &RecordedRequest,
    parsed_form: Result<Vec<(String, String)>, ()>,
) -> Response {
    let mut inner = lock(state);
    if let Some(rejection) = check_auth(&inner.secret_key, request.authorization.as_deref()) {
        return rejection;
    }
    let Ok(form) = parsed_form else {
        return reply(
            StatusCode::BAD_REQUEST,
            error_body(
                "invalid_request_error",
                None,
                None,
                "Invalid request body: expected application/x-www-form-urlencoded parameters.",
            ),
        );
    };

    let segments: Vec<&str> = request.path.trim_start_matches('/').split('/').collect();
    match (method, segments.as_slice()) {
        (&Method::POST, ["v1", "checkout", "sessions"]) => {
            idempotent(&mut inner, request, form, |inner, form| {
                checkout::create_session(inner, form)
            })
        }
        (&Method::GET, ["v1", "checkout", "sessions", id]) => match inner.sessions.get(*id) {
            Some(session) => reply(StatusCode::OK, session.clone()),
            None => reply(
                StatusCode::NOT_FOUND,
                no_such("checkout.session", id, "session"),
            ),
        },
        (&Method::POST, ["v1", "checkout", "sessions", id, "expire"]) => {
            let id = (*id).to_owned();
            idempotent(&mut inner, request, form, move |inner, _| {
                checkout::expire_session(inner, &id)
            })
        }
        (&Method::POST, ["v1", "refunds"]) => {
            idempotent(&mut inner, request, form, |inner, form| {
                refunds::create_refund(inner, form)
            })
        }
        (&Method::POST, ["v1", "accounts"]) => {
            idempotent(&mut inner, request, form, connect::create_account)
        }
        (&Method::GET, ["v1", "accounts", id]) => connect::get_account(&inner, id),
        (&Method::POST, ["v1", "account_links"]) => {
            idempotent(&mut inner, request, form, connect::create_account_link)
        }
        (&Method::POST, ["v1", "transfers"]) => {
            idempotent(&mut inner, request, form, connect::create_transfer)
        }
        (&Method::GET, ["v1", "transfers"]) => {
            let query: Vec<(String, String)> =
                serde_urlencoded::from_str(uri.query().unwrap_or_default()).unwrap_or_default();
            connect::list_transfers(&inner, &query)
        }
        _ => reply(
            StatusCode::NOT_FOUND,
            error_body(
                "invalid_request_error",
                None,
                None,
                &format!(
                    "Unrecognized request URL ({method}: {}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.",
                    request.path
                ),
            ),
        ),
    }
}

/// Stripe takes the key as `Authorization: Bearer sk_...` (or HTTP Basic,
/// which UDAM does not use, so the fake insists on Bearer).
fn check_auth(secret_key: &str, authorization: Option<&str>) -> Option<Response> {
    let provided = authorization
        .and_then(|a| a.strip_prefix("Bearer "))
        .map(str::trim);
    match provided {
        Some(key) if key == secret_key => None,
        Some(key) if !key.is_empty() => Some(reply(
            StatusCode::UNAUTHORIZED,
            error_body(
                "invalid_request_error",
                None,
                None,
                &format!("Invalid API Key provided: {}", mask_key(key)),
            ),
        )),
        _ => Some(reply(
            StatusCode::UNAUTHORIZED,
            error_body(
                "invalid_request_error",
                None,
                None,
                "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, or we can help at https://support.stripe.com/.",
            ),
        )),
    }
}

/// Stripe echoes a wrong key with all but its prefix and last 4 characters masked.
fn mask_key(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    let prefix_len = key
        .rfind('_')
        .map(|i| key[..=i].chars().count())
        .unwrap_or(0)
        .min(chars.len());
    let tail_start = chars.len().saturating_sub(4).max(prefix_len);
    let prefix: String = chars[..prefix_len].iter().collect();
    let tail: String = chars[tail_start..].iter().collect();
    format!("{prefix}{}{tail}", "*".repeat(tail_start - prefix_len))
}

/// Replays the saved response for a repeated key, rejects a key reused with
/// different parameters, or runs `exec` and saves what it produced.
fn idempotent(
    inner: &mut Inner,
    request: &RecordedRequest,
    form: Vec<(String, String)>,
    exec: impl FnOnce(&mut Inner, &[(String, String)]) -> Outcome,
) -> Response {
    let key = request.idempotency_key.clone();
    if let Some(saved) = key.as_ref().and_then(|k| inner.idempotency.get(k)) {
        if saved.method == request.method && saved.path == request.path && saved.form == form {
            let mut response = reply(saved.status, saved.body.clone());
            response.headers_mut().insert(
                "idempotent-replayed",
                header::HeaderValue::from_static("true"),
            );
            return response;
        }
        let message = format!(
            "Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '{}' if you meant to execute a different request.",
            key.as_deref().unwrap_or_default()
        );
        return reply(
            StatusCode::BAD_REQUEST,
            error_body("idempotency_error", None, None, &message),
        );
    }
    match exec(inner, &form) {
        Outcome::NotSaved(status, body) => reply(status, body),
        Outcome::Saved(status, body) => {
            if let Some(key) = key {
                inner.idempotency.insert(
                    key,
                    Saved {
                        method: request.method.clone(),
                        path: request.path.clone(),
                        form,
                        status,
                        body: body.clone(),
                    },
                );
            }
            reply(status, body)
        }
    }
}

fn parse_form(content_type: Option<&str>, body: &[u8]) -> Result<Vec<(String, String)>, ()> {
    if body.is_empty() {
        return Ok(Vec::new());
    }
    let is_form =
        content_type.is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(());
    }
    serde_urlencoded::from_bytes(body).map_err(|_| ())
}
