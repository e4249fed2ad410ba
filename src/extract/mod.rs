//! Extractors whose rejections use the error envelope, and the JSON helpers they
//! share with the request types.
//!
//! A leaf module: it imports nothing but the error type, so every capability can
//! use it without reaching into the router (`http`).

pub mod json_int;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts};
use axum::http::StatusCode;

use crate::error::{ApiError, ErrorCode};

/// `axum::Json`, but a bad body answers with the envelope:
/// malformed JSON 400, wrong content type 415, too large 413, wrong shape 422.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::JsonDataError(e) => {
                // serde names the path of the bad field, e.g. "units: invalid type".
                let detail = e.body_text();
                let field = field_of(&detail);
                ApiError::validation(&field, detail)
            }
            JsonRejection::JsonSyntaxError(e) => {
                ApiError::bad_request(ErrorCode::MalformedJson, e.body_text())
            }
            JsonRejection::MissingJsonContentType(_) => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ErrorCode::UnsupportedMediaType,
                "send the body with Content-Type: application/json",
            ),
            JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    ErrorCode::PayloadTooLarge,
                    "the request body is too large",
                )
            }
            other => ApiError::bad_request(ErrorCode::BadRequest, other.body_text()),
        }
    }
}

/// `axum::extract::Query` with envelope rejections (422 naming the parameter).
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        let detail = rejection.body_text();
        let field = field_of(&detail);
        ApiError::validation(&field, detail)
    }
}

/// Pulls the field name out of serde's "Failed to deserialize ...: field: reason" text.
fn field_of(detail: &str) -> String {
    let tail = detail.split_once(": ").map_or(detail, |(_, rest)| rest);
    if let Some((path, _)) = tail.split_once(": ")
        && !path.contains(' ')
    {
        return path.to_owned();
    }
    if let Some(start) = tail.find("field `") {
        let rest = &tail[start + 7..];
        if let Some(end) = rest.find('`') {
            return rest[..end].to_owned();
        }
    }
    "body".to_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_fields() {
        assert_eq!(
            super::field_of(
                "Failed to deserialize the JSON body into the target type: units: invalid type: string \"x\", expected i64 at line 1 column 12"
            ),
            "units"
        );
        assert_eq!(
            super::field_of(
                "Failed to deserialize the JSON body into the target type: missing field `email` at line 1 column 2"
            ),
            "email"
        );
    }
}
