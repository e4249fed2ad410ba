//! The one place where errors become HTTP responses.
//!
//! Every non-2xx response carries `{"error": {"code": "...", "message": "..."}}`
//! (plus `field` for validation failures). An internal error answers with a generic
//! message and logs its cause once, inside the request's span, so the log line
//! carries the request id.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

crate::vocabulary! {
    /// Every error code the API answers with, in `error.code` of the envelope.
    pub enum ErrorCode {
        /// A body, query or path value is invalid; `field` names it.
        ValidationFailed = "validation_failed",
        /// The request could not be understood.
        BadRequest = "bad_request",
        /// The body is not valid JSON.
        MalformedJson = "malformed_json",
        /// The body is not sent as `application/json`.
        UnsupportedMediaType = "unsupported_media_type",
        /// The body is larger than the route accepts.
        PayloadTooLarge = "payload_too_large",
        /// The request headers are too large.
        HeadersTooLarge = "headers_too_large",
        /// No valid session: sign in first.
        Unauthorized = "unauthorized",
        /// Signed in, but not allowed to do this.
        Forbidden = "forbidden",
        /// No such resource (or route).
        NotFound = "not_found",
        /// The route does not accept that HTTP method.
        MethodNotAllowed = "method_not_allowed",
        /// The request took too long to arrive.
        RequestTimeout = "request_timeout",
        /// Too many requests; see `Retry-After`.
        RateLimited = "rate_limited",
        /// The service is busy, unavailable or took too long; try again.
        Unavailable = "unavailable",
        /// The server could not confirm whether the request took effect (a commit went
        /// unanswered); retry with the same `Idempotency-Key` to learn its outcome.
        OutcomeUnknown = "outcome_unknown",
        /// Something failed on the server's side; details are only logged.
        InternalError = "internal_error",
        /// Any other failed request (a status without a more specific code).
        Error = "error",
        /// The email address already has an account.
        EmailTaken = "email_taken",
        /// Wrong email or password.
        InvalidCredentials = "invalid_credentials",
        /// The listing is archived and can no longer change or sell.
        ListingArchived = "listing_archived",
        /// The listing is not for sale (paused or archived).
        ListingUnavailable = "listing_unavailable",
        /// Fewer units are left than the order asks for.
        InsufficientUnits = "insufficient_units",
        /// Sellers cannot buy their own listings.
        OwnListing = "own_listing",
        /// The listing changed (price or stock) while buying; retry.
        ListingChanged = "listing_changed",
        /// The order is no longer pending payment.
        OrderNotPending = "order_not_pending",
        /// The `Idempotency-Key` was used with a different request.
        IdempotencyKeyReuse = "idempotency_key_reuse",
        /// A request with this `Idempotency-Key` is still being processed; retry shortly.
        IdempotencyInProgress = "idempotency_in_progress",
        /// The payment provider did not answer; nothing was charged.
        PaymentProviderUnavailable = "payment_provider_unavailable",
        /// Nothing is owed in that currency.
        NothingOwed = "nothing_owed",
        /// The webhook's signature does not verify.
        InvalidSignature = "invalid_signature",
        /// The webhook's body is not a Stripe event.
        MalformedEvent = "malformed_event",
        /// A web form's CSRF token is missing or wrong.
        CsrfFailed = "csrf_failed",
        /// A web form could not be read.
        BadForm = "bad_form",
        /// A web page's query could not be read.
        BadQuery = "bad_query",
        /// The gateway key is missing, malformed, unknown, revoked, or for another listing.
        GatewayKeyInvalid = "gateway_key_invalid",
        /// The gateway key's requests are used up; buy more units of the listing.
        AllowanceExhausted = "allowance_exhausted",
        /// The gateway could not reach the listing's upstream; the request was not counted.
        UpstreamUnavailable = "upstream_unavailable",
        /// The listing's upstream did not answer in time; the request was not counted.
        UpstreamTimeout = "upstream_timeout",
        /// The listing's upstream resolves to an address the gateway may not reach.
        UpstreamForbidden = "upstream_forbidden",
        /// The operation needs a listing with gateway delivery.
        NotGatewayDelivery = "not_gateway_delivery",
    }
}

/// The error envelope's body.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error itself.
    pub error: ErrorDetail,
}

/// What went wrong, for a program (`code`) and for a person (`message`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable snake_case code, e.g. `email_taken`.
    pub code: ErrorCode,
    /// Human-readable explanation.
    pub message: String,
    /// The offending field, for validation errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// An error a handler returns; it maps itself to a status and the envelope.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: ErrorCode,
    message: String,
    field: Option<String>,
    /// The hidden cause of a 500, logged but never sent.
    source: Option<anyhow::Error>,
    retry_after_secs: Option<u64>,
}

/// Shorthand for handler results.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// An error with a status, code and message.
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
            source: None,
            retry_after_secs: None,
        }
    }

    /// 422 `validation_failed`, naming the field.
    pub fn validation(field: &str, message: impl Into<String>) -> Self {
        let mut err = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::ValidationFailed,
            format!("{field}: {}", message.into()),
        );
        err.field = Some(field.to_owned());
        err
    }

    /// 400 with a code.
    pub fn bad_request(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 401 `unauthorized`: no valid session.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthorized,
            "sign in first: a valid session token is required",
        )
    }

    /// 403 `forbidden`.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, ErrorCode::Forbidden, message)
    }

    /// 404 `not_found` for a named kind of thing.
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            format!("{what} not found"),
        )
    }

    /// 409 with a code.
    pub fn conflict(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    /// 429 `rate_limited`, telling the client when to come back.
    pub fn rate_limited(retry_after_secs: u64) -> Self {
        let mut err = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::RateLimited,
            format!("too many requests: retry in {retry_after_secs} s"),
        );
        err.retry_after_secs = Some(retry_after_secs);
        err
    }

    /// 503 `unavailable`.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Unavailable,
            message,
        )
    }

    /// 503 `unavailable` with `Retry-After`: a bounded queue is full, come back soon.
    pub fn unavailable_for(message: impl Into<String>, retry_after_secs: u64) -> Self {
        let mut err = Self::unavailable(message);
        err.retry_after_secs = Some(retry_after_secs);
        err
    }

    /// 500 whose cause is logged, never sent.
    pub fn internal(source: impl Into<anyhow::Error>) -> Self {
        let mut err = Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::InternalError,
            "something went wrong on our side; it has been logged",
        );
        err.source = Some(source.into());
        err
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The human-readable message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The offending field of a validation error.
    pub fn field(&self) -> Option<&str> {
        self.field.as_deref()
    }

    /// Seconds the client should wait before retrying, when the error says.
    pub fn retry_after_secs(&self) -> Option<u64> {
        self.retry_after_secs
    }

    /// Logs the hidden cause of an internal error, once, where an error leaves the
    /// server by another way than [`IntoResponse`] (a GraphQL error, for one).
    pub fn log_cause(&self) {
        if let Some(source) = &self.source {
            tracing::error!(error = format!("{source:#}"), "internal error");
        }
    }

    /// The envelope this error answers with, as JSON bytes (for stored responses).
    pub fn envelope_bytes(&self) -> Vec<u8> {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message.clone(),
                field: self.field.clone(),
            },
        };
        serde_json::to_vec(&body).unwrap_or_default()
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::PoolTimedOut => {
                tracing::warn!("database pool timed out");
                Self::unavailable("the database is busy; try again")
            }
            // PostgreSQL's lock_timeout (55P03) or statement_timeout (57014) ended a
            // statement: the transaction rolled back, nothing happened, retrying is safe.
            sqlx::Error::Database(db)
                if matches!(db.code().as_deref(), Some("55P03") | Some("57014")) =>
            {
                tracing::warn!(error = %db, "a database statement timed out");
                Self::unavailable_for("the database is busy; try again", 1)
            }
            _ => Self::internal(err),
        }
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(err: anyhow::Error) -> Self {
        Self::internal(err)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Some(source) = &self.source {
            // Logged here, once, inside the request span (which carries the request id).
            tracing::error!(error = format!("{source:#}"), "internal error");
        }
        envelope(
            self.status,
            self.code,
            self.message,
            self.field,
            self.retry_after_secs,
        )
    }
}

/// What an error answer says, carried as an extension of the response beside its
/// JSON body, so that the one rendering layer (`http::errors`) can answer a browser
/// with an HTML page without reading the body back.
#[derive(Clone, Debug)]
pub struct ErrorReport {
    /// The stable code.
    pub code: ErrorCode,
    /// The sentence meant for people.
    pub message: String,
}

/// Builds an envelope response directly (also used by the error pipeline for bare statuses).
pub fn envelope(
    status: StatusCode,
    code: ErrorCode,
    message: String,
    field: Option<String>,
    retry_after_secs: Option<u64>,
) -> Response {
    let body = ErrorBody {
        error: ErrorDetail {
            code,
            message,
            field,
        },
    };
    let report = ErrorReport {
        code: body.error.code,
        message: body.error.message.clone(),
    };
    let mut response = (status, axum::Json(body)).into_response();
    response.extensions_mut().insert(report);
    if let Some(secs) = retry_after_secs {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

/// The code and message used when a bare status must become an envelope.
pub fn default_code_for(status: StatusCode) -> (ErrorCode, &'static str) {
    match status {
        StatusCode::BAD_REQUEST => (ErrorCode::BadRequest, "the request could not be understood"),
        StatusCode::UNAUTHORIZED => (ErrorCode::Unauthorized, "sign in first"),
        StatusCode::FORBIDDEN => (ErrorCode::Forbidden, "you may not do this"),
        StatusCode::NOT_FOUND => (ErrorCode::NotFound, "no such resource"),
        StatusCode::METHOD_NOT_ALLOWED => (
            ErrorCode::MethodNotAllowed,
            "this route does not accept that HTTP method",
        ),
        StatusCode::REQUEST_TIMEOUT => (ErrorCode::RequestTimeout, "the request took too long"),
        StatusCode::PAYLOAD_TOO_LARGE => {
            (ErrorCode::PayloadTooLarge, "the request body is too large")
        }
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            ErrorCode::UnsupportedMediaType,
            "send the body as application/json",
        ),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => (
            ErrorCode::HeadersTooLarge,
            "the request headers are too large",
        ),
        StatusCode::TOO_MANY_REQUESTS => (ErrorCode::RateLimited, "too many requests; slow down"),
        StatusCode::SERVICE_UNAVAILABLE => (
            ErrorCode::Unavailable,
            "the service is unavailable or took too long; try again",
        ),
        s if s.is_server_error() => (
            ErrorCode::InternalError,
            "something went wrong on our side; it has been logged",
        ),
        _ => (ErrorCode::Error, "the request failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorCode;

    #[test]
    fn every_code_round_trips_and_is_documented() {
        for code in ErrorCode::ALL {
            assert_eq!(code.as_str().parse::<ErrorCode>(), Ok(*code));
            let json = serde_json::to_string(code).unwrap_or_default();
            assert_eq!(json, format!("\"{code}\""));
            assert!(!code.meaning().is_empty(), "{code} has no doc");
        }
        assert!("no_such_code".parse::<ErrorCode>().is_err());
    }
}
