//! Stripe's wire format on the fake's side: reading form parameters (with
//! Stripe's errors for missing, empty and malformed ones), its error envelope,
//! and replies carrying a `request-id`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::new_id;

pub(super) fn value<'a>(form: &'a [(String, String)], key: &str) -> Option<&'a str> {
    form.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// A required parameter: absent is `parameter_missing`; an empty string is
/// how Stripe's form encoding unsets a value, which a required one cannot be.
pub(super) fn required<'a>(form: &'a [(String, String)], key: &str) -> Result<&'a str, Value> {
    match value(form, key) {
        None => Err(error_body(
            "invalid_request_error",
            Some("parameter_missing"),
            Some(key),
            &format!("Missing required param: {key}."),
        )),
        Some("") => Err(error_body(
            "invalid_request_error",
            Some("parameter_invalid_empty"),
            Some(key),
            &format!(
                "You passed an empty string for '{key}'. We assume empty values are an attempt to unset a parameter; however '{key}' cannot be unset. You should remove '{key}' from your request or supply a non-empty value."
            ),
        )),
        Some(v) => Ok(v),
    }
}

pub(super) fn integer(form: &[(String, String)], key: &str, min: i64) -> Result<i64, Value> {
    let raw = required(form, key)?;
    let Ok(n) = raw.parse::<i64>() else {
        return Err(error_body(
            "invalid_request_error",
            Some("parameter_invalid_integer"),
            Some(key),
            &format!("Invalid integer: {raw}"),
        ));
    };
    if n < min {
        return Err(invalid_param(
            key,
            &format!("This value must be greater than or equal to {min}."),
        ));
    }
    Ok(n)
}

pub(super) fn invalid_param(param: &str, message: &str) -> Value {
    error_body("invalid_request_error", None, Some(param), message)
}

pub(super) fn no_such(object: &str, id: &str, param: &str) -> Value {
    error_body(
        "invalid_request_error",
        Some("resource_missing"),
        Some(param),
        &format!("No such {object}: '{id}'"),
    )
}

/// Stripe's error envelope: `{"error": {"type", "code"?, "param"?, "message", "doc_url"?}}`.
pub(super) fn error_body(
    kind: &str,
    code: Option<&str>,
    param: Option<&str>,
    message: &str,
) -> Value {
    let mut error = json!({ "type": kind, "message": message });
    if let Some(code) = code {
        error["code"] = json!(code);
        error["doc_url"] = json!(format!(
            "https://stripe.com/docs/error-codes/{}",
            code.replace('_', "-")
        ));
    }
    if let Some(param) = param {
        error["param"] = json!(param);
    }
    json!({ "error": error })
}

pub(super) fn reply(status: StatusCode, body: Value) -> Response {
    let request_id = new_id("req");
    (status, [("request-id", request_id)], axum::Json(body)).into_response()
}

/// A forced 500 with Stripe's `api_error` body (`Failure::ServerError`, `WritesFail`).
pub(super) fn forced_server_error() -> Response {
    reply(
        StatusCode::INTERNAL_SERVER_ERROR,
        error_body(
            "api_error",
            None,
            None,
            "An unknown error occurred (fake Stripe forced failure).",
        ),
    )
}

/// A forced 400 with an `invalid_request_error` body (`Failure::BadRequest`,
/// `WritesRefused`).
pub(super) fn forced_refusal(what: &str) -> Response {
    reply(
        StatusCode::BAD_REQUEST,
        error_body(
            "invalid_request_error",
            None,
            None,
            &format!("{what} (fake Stripe forced failure)."),
        ),
    )
}
