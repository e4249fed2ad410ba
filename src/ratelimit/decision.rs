//! The answer to one rate-limit check, and the HTTP headers that tell the client about it.

use std::time::Duration;

use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderMap, HeaderName, HeaderValue};

/// `RateLimit-Limit`: the bucket's burst size.
pub const RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
/// `RateLimit-Remaining`: requests the client may still send right now.
pub const RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
/// `RateLimit-Reset`: seconds until the bucket is full again.
pub const RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

/// Whether a request may proceed, and what the client should be told either way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// `true` when the request is within its quota.
    pub allowed: bool,
    /// The quota's burst size.
    pub limit: u32,
    /// Requests that would still be allowed right now, after this one.
    pub remaining: u32,
    /// Time until the bucket is completely refilled.
    pub reset_after: Duration,
    /// When denied, how long until one request would be allowed; `None` when allowed.
    pub retry_after: Option<Duration>,
}

impl Decision {
    /// The response headers for this decision: `RateLimit-Limit`,
    /// `RateLimit-Remaining`, `RateLimit-Reset` (whole seconds, rounded up),
    /// and, when denied, `Retry-After` (whole seconds, rounded up, at least 1).
    ///
    /// Rounding up keeps a client that obeys the headers from retrying a
    /// fraction of a second too early and being denied again.
    pub fn headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::with_capacity(4);
        headers.insert(RATELIMIT_LIMIT, HeaderValue::from(self.limit));
        headers.insert(RATELIMIT_REMAINING, HeaderValue::from(self.remaining));
        headers.insert(
            RATELIMIT_RESET,
            HeaderValue::from(ceil_secs(self.reset_after)),
        );
        if !self.allowed {
            // A hand-built denial without a wait falls back to the full reset time.
            let wait = self.retry_after.unwrap_or(self.reset_after);
            headers.insert(RETRY_AFTER, HeaderValue::from(ceil_secs(wait).max(1)));
        }
        headers
    }
}

/// Whole seconds, rounded up: 0 stays 0, 1 ns becomes 1.
fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(map: &HeaderMap, name: &str) -> Option<String> {
        map.get(name)
            .map(|v| v.to_str().expect("ascii header").to_owned())
    }

    #[test]
    fn allowed_request_reports_budget_without_retry_after() {
        let d = Decision {
            allowed: true,
            limit: 60,
            remaining: 59,
            reset_after: Duration::from_millis(1000),
            retry_after: None,
        };
        let h = d.headers();
        assert_eq!(header(&h, "RateLimit-Limit").as_deref(), Some("60"));
        assert_eq!(header(&h, "RateLimit-Remaining").as_deref(), Some("59"));
        assert_eq!(header(&h, "RateLimit-Reset").as_deref(), Some("1"));
        assert_eq!(header(&h, "Retry-After"), None);
        assert_eq!(h.len(), 3);
    }

    #[test]
    fn denied_request_rounds_seconds_up() {
        let d = Decision {
            allowed: false,
            limit: 5,
            remaining: 0,
            reset_after: Duration::from_millis(59_001),
            retry_after: Some(Duration::from_millis(11_200)),
        };
        let h = d.headers();
        assert_eq!(header(&h, "ratelimit-limit").as_deref(), Some("5"));
        assert_eq!(header(&h, "ratelimit-remaining").as_deref(), Some("0"));
        assert_eq!(header(&h, "ratelimit-reset").as_deref(), Some("60"));
        assert_eq!(header(&h, "retry-after").as_deref(), Some("12"));
    }

    #[test]
    fn retry_after_is_never_zero_seconds() {
        // "Retry-After: 0" would invite an immediate retry that is still denied.
        for wait in [
            Duration::ZERO,
            Duration::from_nanos(1),
            Duration::from_millis(999),
        ] {
            let d = Decision {
                allowed: false,
                limit: 1,
                remaining: 0,
                reset_after: wait,
                retry_after: Some(wait),
            };
            assert_eq!(header(&d.headers(), "retry-after").as_deref(), Some("1"));
        }
    }

    #[test]
    fn full_bucket_resets_in_zero_seconds() {
        let d = Decision {
            allowed: true,
            limit: 10,
            remaining: 10,
            reset_after: Duration::ZERO,
            retry_after: None,
        };
        assert_eq!(
            header(&d.headers(), "ratelimit-reset").as_deref(),
            Some("0")
        );
    }
}
