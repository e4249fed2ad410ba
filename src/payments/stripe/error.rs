//! What can go wrong when talking to Stripe.

/// A failed Stripe call.
///
/// Messages come from transport errors or from Stripe's own error body; the
/// client scrubs its secret key out of them before building this value, so
/// neither `Display` nor `Debug` can leak it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StripeError {
    /// No HTTP response: connection refused, DNS, TLS, timeout. The request
    /// may or may not have reached Stripe, so retry with the same
    /// idempotency key.
    #[error("could not reach Stripe: {0}")]
    Network(String),
    /// Stripe answered with a non-2xx status and (usually) its error body
    /// `{"error": {"type", "code", "message", "param"}}`.
    #[error("Stripe API error (HTTP {status}{}): {message}", code.as_deref().map(|c| format!(", code {c}")).unwrap_or_default())]
    Api {
        /// HTTP status code.
        status: u16,
        /// Stripe's machine-readable `error.code`, when it sent one.
        code: Option<String>,
        /// Stripe's human-readable `error.message`.
        message: String,
    },
    /// A 2xx response whose body was not the object we expected.
    #[error("unexpected response from Stripe: {0}")]
    Decode(String),
    /// Refused before sending: an argument Stripe could never accept (an id
    /// that is not a Stripe id, an unusable idempotency key). A bug on our
    /// side, not a Stripe outage.
    #[error("invalid Stripe request: {0}")]
    Invalid(String),
}

impl StripeError {
    /// True when repeating the same request (with the same idempotency key)
    /// may succeed: transport failures, Stripe-side 5xx, rate limiting (429)
    /// and a concurrent request holding the same idempotency key (409).
    pub fn is_retryable(&self) -> bool {
        match self {
            StripeError::Network(_) => true,
            StripeError::Api { status, .. } => *status >= 500 || *status == 429 || *status == 409,
            StripeError::Decode(_) | StripeError::Invalid(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_status_and_code() {
        let e = StripeError::Api {
            status: 400,
            code: Some("parameter_missing".into()),
            message: "Missing required param: mode.".into(),
        };
        assert_eq!(
            e.to_string(),
            "Stripe API error (HTTP 400, code parameter_missing): Missing required param: mode."
        );
        let e = StripeError::Api {
            status: 500,
            code: None,
            message: "boom".into(),
        };
        assert_eq!(e.to_string(), "Stripe API error (HTTP 500): boom");
    }

    #[test]
    fn retryable_only_for_transient_failures() {
        let api = |status| StripeError::Api {
            status,
            code: None,
            message: String::new(),
        };
        assert!(StripeError::Network("refused".into()).is_retryable());
        assert!(api(500).is_retryable());
        assert!(api(503).is_retryable());
        assert!(api(429).is_retryable());
        assert!(api(409).is_retryable());
        assert!(!api(400).is_retryable());
        assert!(!api(401).is_retryable());
        assert!(!api(404).is_retryable());
        assert!(!StripeError::Decode("x".into()).is_retryable());
        assert!(!StripeError::Invalid("x".into()).is_retryable());
    }
}
