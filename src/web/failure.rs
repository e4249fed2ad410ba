//! Why a page handler did not produce its page: the [`WebError`] type alone.
//!
//! A leaf: the session, CSRF and layout extractors reject with it, and the page
//! that renders it (`error`) needs the layout and the session, so the type lives
//! apart from its rendering to keep the imports one-way.

use crate::error::ApiError;

/// Why a page handler did not produce its page.
#[derive(Debug)]
pub enum WebError {
    /// A service said no (or failed): shown as an error page with its status.
    Page(ApiError),
    /// The page needs a signed-in user: go sign in, then come back to `next`.
    SignIn {
        /// Where to return after signing in (a local path).
        next: String,
    },
    /// A rate limit said no: the 429 page, with `Retry-After` and `RateLimit-*`.
    TooMany {
        /// The limiter's headers.
        headers: axum::http::HeaderMap,
    },
}

impl From<ApiError> for WebError {
    fn from(err: ApiError) -> Self {
        Self::Page(err)
    }
}

impl From<sqlx::Error> for WebError {
    fn from(err: sqlx::Error) -> Self {
        Self::Page(err.into())
    }
}
