//! Extractors whose rejections use the error envelope, and the JSON helpers they
//! share with the request types.
//!
//! A leaf module: it imports nothing but the error type, so every capability can
//! use it without reaching into the router (`http`).

pub mod json_int;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;
use serde_path_to_error::{Path, Segment};

use crate::error::{ApiError, ErrorCode};

/// `axum::Json`, but a bad body answers with the envelope:
/// malformed JSON 400, wrong content type 415, too large 413, wrong shape 422
/// naming the field by its path (`items[0].units`).
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ErrorCode::UnsupportedMediaType,
                "send the body with Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    ErrorCode::PayloadTooLarge,
                    "the request body is too large",
                )
            } else {
                ApiError::bad_request(ErrorCode::BadRequest, e.body_text())
            }
        })?;
        let mut de = serde_json::Deserializer::from_slice(&bytes);
        let value = serde_path_to_error::deserialize(&mut de).map_err(json_error)?;
        // Trailing bytes after the value are a syntax error, with no field to name.
        de.end()
            .map_err(|e| ApiError::bad_request(ErrorCode::MalformedJson, e.to_string()))?;
        Ok(Self(value))
    }
}

/// Reads a JSON value as `T` with the same errors as a body: a value of the wrong
/// shape is a validation error naming the field (for GraphQL inputs, which reach the
/// REST request types through their JSON form).
pub fn from_value<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(json_error)
}

/// Syntax and truncation errors are malformed JSON (400); a well-formed body of the
/// wrong shape is a validation error (422) naming the field.
fn json_error(error: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let field = field_name(error.path(), error.inner());
    let inner = error.into_inner();
    match inner.classify() {
        serde_json::error::Category::Data => ApiError::validation(&field, inner.to_string()),
        _ => ApiError::bad_request(ErrorCode::MalformedJson, inner.to_string()),
    }
}

/// Accepts `application/json` and any `application/*+json`, parameters ignored.
fn is_json(headers: &axum::http::HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    kind.eq_ignore_ascii_case("application")
        && (subtype.eq_ignore_ascii_case("json") || subtype.to_ascii_lowercase().ends_with("+json"))
}

/// `axum::extract::Query` with envelope rejections (422 naming the parameter).
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(Self)
            .map_err(|error| {
                let field = field_name(error.path(), error.inner());
                ApiError::validation(&field, error.into_inner().to_string())
            })
    }
}

/// The dotted path of the failing field (`a.b[0]`). An error on an object itself
/// (a missing field) has no deeper path, so the missing name completes it; an
/// error with no path at all is about the whole `body`.
fn field_name(path: &Path, error: &impl std::fmt::Display) -> String {
    let mut name = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => name.push_str(&format!("[{index}]")),
            Segment::Map { key } => push_key(&mut name, key),
            Segment::Enum { variant } => push_key(&mut name, variant),
            Segment::Unknown => {}
        }
    }
    if let Some(missing) = missing_field(&error.to_string()) {
        push_key(&mut name, &missing);
    }
    if name.is_empty() {
        "body".to_owned()
    } else {
        name
    }
}

fn push_key(name: &mut String, key: &str) {
    if !name.is_empty() {
        name.push('.');
    }
    name.push_str(key);
}

/// serde reports a missing field at its parent, so the name comes from
/// `de::Error::missing_field`'s fixed wording (serde's own, not the format's).
fn missing_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("missing field `")?;
    rest.split_once('`').map(|(name, _)| name.to_owned())
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Line {
        units: i64,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Order {
        email: String,
        items: Vec<Line>,
    }

    fn field(body: &str) -> String {
        let mut de = serde_json::Deserializer::from_str(body);
        match serde_path_to_error::deserialize::<_, Order>(&mut de) {
            Ok(_) => String::new(),
            Err(e) => super::field_name(e.path(), e.inner()),
        }
    }

    #[test]
    fn names_nested_and_missing_fields() {
        assert_eq!(
            field(r#"{"email":"a","items":[{"units":"x"}]}"#),
            "items[0].units"
        );
        assert_eq!(field(r#"{"items":[]}"#), "email");
        assert_eq!(field(r#"{"email":"a","items":[{}]}"#), "items[0].units");
        assert_eq!(field(r#"{"email":1,"items":[]}"#), "email");
    }
}
