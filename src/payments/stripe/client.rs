//! [`StripeClient`]: the few Stripe API calls UDAM makes, over plain HTTP.
//!
//! Stripe's API takes `application/x-www-form-urlencoded` bodies with nested
//! keys written in brackets (`line_items[0][price_data][currency]=usd`),
//! authenticates with `Authorization: Bearer <secret key>`, and answers JSON.
//! Every POST here carries an `Idempotency-Key` chosen by the caller, so a
//! retry after a timeout can never create a second session or refund.

use std::fmt;
use std::time::Duration;

use reqwest::StatusCode;
use serde::Deserialize;
use serde::de::DeserializeOwned;

pub use super::error::StripeError;
pub use super::objects::{CheckoutSession, Refund};

/// How long to wait for a TCP/TLS connection to Stripe.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a whole call (connect, send, read the response) may take. A
/// buyer is waiting on the other end, so we fail rather than hang; the
/// idempotency key makes the retry safe.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The shortest and longest life Stripe accepts for a Checkout Session, from its
/// creation by Stripe's clock (`expires_at` outside it is refused).
pub const SESSION_LIFETIME: std::ops::RangeInclusive<Duration> =
    Duration::from_secs(30 * 60)..=Duration::from_secs(24 * 3600);

/// Placeholder written wherever the secret key would otherwise appear.
const REDACTED: &str = "[redacted]";

/// A Stripe API client bound to one base URL and one secret key.
///
/// Cheap to clone: clones share the connection pool.
#[derive(Clone)]
pub struct StripeClient {
    http: reqwest::Client,
    /// Base URL without a trailing slash, e.g. `https://api.stripe.com`.
    api_base: String,
    secret_key: String,
}

impl fmt::Debug for StripeClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StripeClient")
            .field("api_base", &self.api_base)
            .field("secret_key", &REDACTED)
            .finish()
    }
}

/// What to sell in one Checkout Session: a single line item, priced inline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutSessionRequest {
    /// ISO 4217 code; sent lower-cased as Stripe documents.
    pub currency: String,
    /// Price of one unit in the currency's minor unit (cents).
    pub unit_amount: i64,
    /// Number of units.
    pub quantity: i64,
    /// Product name shown on Stripe's payment page.
    pub product_name: String,
    /// The UDAM order id. Sent both as `client_reference_id` and as
    /// `metadata[order_id]`, so webhooks can be matched to the order either way.
    pub client_reference_id: String,
    /// Extra metadata pairs, sent as `metadata[key]=value`. A pair keyed
    /// `order_id` is ignored: that key always carries `client_reference_id`.
    pub metadata: Vec<(String, String)>,
    /// Where Stripe sends the buyer after paying.
    pub success_url: String,
    /// Where Stripe sends the buyer who gives up.
    pub cancel_url: String,
    /// Unix seconds; Stripe accepts [`SESSION_LIFETIME`] from now.
    pub expires_at: i64,
}

impl CheckoutSessionRequest {
    /// The form pairs Stripe expects for `POST /v1/checkout/sessions`, in a
    /// stable order (readable in logs of the fake, and testable).
    fn to_form(&self) -> Vec<(String, String)> {
        const ITEM: &str = "line_items[0]";
        let mut form = vec![
            ("mode".to_owned(), "payment".to_owned()),
            (
                format!("{ITEM}[price_data][currency]"),
                self.currency.to_ascii_lowercase(),
            ),
            (
                format!("{ITEM}[price_data][unit_amount]"),
                self.unit_amount.to_string(),
            ),
            (
                format!("{ITEM}[price_data][product_data][name]"),
                self.product_name.clone(),
            ),
            (format!("{ITEM}[quantity]"), self.quantity.to_string()),
            (
                "client_reference_id".to_owned(),
                self.client_reference_id.clone(),
            ),
            (
                "metadata[order_id]".to_owned(),
                self.client_reference_id.clone(),
            ),
        ];
        // Sending `metadata[order_id]` twice would leave Stripe to pick one;
        // the order id must be unambiguous, so the caller's copy is dropped.
        form.extend(
            self.metadata
                .iter()
                .filter(|(k, _)| k != "order_id")
                .map(|(k, v)| (format!("metadata[{k}]"), v.clone())),
        );
        form.extend([
            ("success_url".to_owned(), self.success_url.clone()),
            ("cancel_url".to_owned(), self.cancel_url.clone()),
            ("expires_at".to_owned(), self.expires_at.to_string()),
        ]);
        form
    }
}

impl StripeClient {
    /// A client for `api_base` (`https://api.stripe.com` in production) with
    /// the default timeouts.
    pub fn new(api_base: &str, secret_key: &str) -> Self {
        Self::with_timeouts(
            api_base,
            secret_key,
            DEFAULT_CONNECT_TIMEOUT,
            DEFAULT_REQUEST_TIMEOUT,
        )
    }

    /// Like [`StripeClient::new`] with explicit timeouts (tests use short ones
    /// to prove that a hanging Stripe becomes a [`StripeError::Network`]).
    pub fn with_timeouts(
        api_base: &str,
        secret_key: &str,
        connect: Duration,
        request: Duration,
    ) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(connect)
            .timeout(request)
            .user_agent(concat!("udam/", env!("CARGO_PKG_VERSION")))
            .build()
            // Building fails only if the TLS backend cannot initialise, which
            // no input controls; there is no useful client without it.
            .expect("reqwest client with rustls must build");
        Self {
            http,
            api_base: api_base.trim_end_matches('/').to_owned(),
            secret_key: secret_key.to_owned(),
        }
    }

    /// The base URL this client talks to.
    pub fn api_base(&self) -> &str {
        &self.api_base
    }

    /// `POST /v1/checkout/sessions`: a one-line-item session in `payment` mode.
    pub async fn create_checkout_session(
        &self,
        req: &CheckoutSessionRequest,
        idempotency_key: &str,
    ) -> Result<CheckoutSession, StripeError> {
        self.post("/v1/checkout/sessions", &req.to_form(), idempotency_key)
            .await
    }

    /// `GET /v1/checkout/sessions/{id}`: the session's current state, for
    /// reconciling when a webhook was missed.
    pub async fn get_checkout_session(&self, id: &str) -> Result<CheckoutSession, StripeError> {
        check_id("checkout session id", id)?;
        let url = format!("{}/v1/checkout/sessions/{id}", self.api_base);
        let result = self
            .http
            .get(url)
            .bearer_auth(&self.secret_key)
            .send()
            .await;
        self.read(result).await
    }

    /// `POST /v1/checkout/sessions/{id}/expire`: closes an `open` session so
    /// the buyer can no longer pay. Stripe answers 400 for any other status.
    pub async fn expire_checkout_session(
        &self,
        id: &str,
        idempotency_key: &str,
    ) -> Result<CheckoutSession, StripeError> {
        check_id("checkout session id", id)?;
        let path = format!("/v1/checkout/sessions/{id}/expire");
        self.post(&path, &[], idempotency_key).await
    }

    /// `POST /v1/refunds` with `payment_intent=...`: refunds the whole payment.
    pub async fn create_refund(
        &self,
        payment_intent: &str,
        idempotency_key: &str,
    ) -> Result<Refund, StripeError> {
        check_id("payment intent id", payment_intent)?;
        let form = [("payment_intent".to_owned(), payment_intent.to_owned())];
        self.post("/v1/refunds", &form, idempotency_key).await
    }

    /// `POST {path}` with a form body and an `Idempotency-Key`.
    pub(super) async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        form: &[(String, String)],
        idempotency_key: &str,
    ) -> Result<T, StripeError> {
        check_idempotency_key(idempotency_key)?;
        let result = self
            .http
            .post(format!("{}{path}", self.api_base))
            // bearer_auth marks the header sensitive, so reqwest/hyper never
            // print it in their own Debug output.
            .bearer_auth(&self.secret_key)
            .header("Idempotency-Key", idempotency_key)
            .form(form)
            .send()
            .await;
        self.read(result).await
    }

    /// `GET {path}` with query pairs.
    pub(super) async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<T, StripeError> {
        let result = self
            .http
            .get(format!("{}{path}", self.api_base))
            .bearer_auth(&self.secret_key)
            .query(query)
            .send()
            .await;
        self.read(result).await
    }

    /// Turns a response (or the lack of one) into the object or an error.
    async fn read<T: DeserializeOwned>(
        &self,
        result: Result<reqwest::Response, reqwest::Error>,
    ) -> Result<T, StripeError> {
        let response = result.map_err(|e| self.network_error(&e))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| self.network_error(&e))?;
        if status.is_success() {
            // serde_json's messages name the field and position, never the
            // input, so nothing from the body leaks into the error.
            serde_json::from_slice(&body).map_err(|e| StripeError::Decode(e.to_string()))
        } else {
            Err(self.api_error(status, &body))
        }
    }

    fn network_error(&self, err: &reqwest::Error) -> StripeError {
        // reqwest's top-level message is generic ("error sending request");
        // the cause chain says what actually happened (refused, timed out).
        let mut message = if err.is_timeout() {
            format!("timed out: {err}")
        } else {
            err.to_string()
        };
        let mut source = std::error::Error::source(err);
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        StripeError::Network(self.scrub(message))
    }

    fn api_error(&self, status: StatusCode, body: &[u8]) -> StripeError {
        #[derive(Deserialize)]
        struct Envelope {
            error: Detail,
        }
        #[derive(Deserialize)]
        struct Detail {
            #[serde(default)]
            code: Option<String>,
            #[serde(default)]
            message: Option<String>,
            #[serde(default, rename = "type")]
            kind: Option<String>,
        }
        let (code, message) = match serde_json::from_slice::<Envelope>(body) {
            Ok(Envelope { error }) => {
                let message = error
                    .message
                    .or(error.kind)
                    .unwrap_or_else(|| "no error message".to_owned());
                (error.code, message)
            }
            // A proxy or load balancer in front of Stripe may answer with HTML;
            // its body is not worth echoing into our logs.
            Err(_) => (None, format!("{status} without a Stripe error body")),
        };
        StripeError::Api {
            status: status.as_u16(),
            code,
            message: self.scrub(message),
        }
    }

    /// Defence in depth: Stripe itself masks keys in its messages, but an
    /// intermediary echoing our request must not make us log the key.
    fn scrub(&self, message: String) -> String {
        if self.secret_key.is_empty() || !message.contains(&self.secret_key) {
            message
        } else {
            message.replace(&self.secret_key, REDACTED)
        }
    }
}

/// Stripe ids are a prefix, an underscore and alphanumerics (`cs_test_a1B2`,
/// `pi_3Mt...`). Checking that before putting an id into a URL path means no
/// id can change which endpoint we call (`..`, `a/b`, `x?y=`).
pub(super) fn check_id(what: &str, id: &str) -> Result<(), StripeError> {
    if !id.is_empty()
        && id.len() <= 255
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        Ok(())
    } else {
        Err(StripeError::Invalid(format!("{what} is not a Stripe id")))
    }
}

/// Stripe accepts idempotency keys of up to 255 characters. Anything that
/// is not visible ASCII could not even be sent as a header; refusing it here
/// keeps such a bug from looking like a (retryable) network failure.
fn check_idempotency_key(key: &str) -> Result<(), StripeError> {
    if !key.is_empty() && key.len() <= 255 && key.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(())
    } else {
        Err(StripeError::Invalid(
            "idempotency key must be 1 to 255 visible ASCII characters".to_owned(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> CheckoutSessionRequest {
        CheckoutSessionRequest {
            currency: "USD".into(),
            unit_amount: 1250,
            quantity: 3,
            product_name: "Weather API, 1 month".into(),
            client_reference_id: "ord_42".into(),
            metadata: vec![
                ("listing_id".into(), "lst_7".into()),
                ("order_id".into(), "ignored".into()),
            ],
            success_url: "https://udam.example/orders/ord_42?paid=1".into(),
            cancel_url: "https://udam.example/orders/ord_42".into(),
            expires_at: 1_700_003_600,
        }
    }

    #[test]
    fn checkout_form_uses_stripe_bracket_keys() {
        let form = request().to_form();
        let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            pairs,
            vec![
                ("mode", "payment"),
                ("line_items[0][price_data][currency]", "usd"),
                ("line_items[0][price_data][unit_amount]", "1250"),
                (
                    "line_items[0][price_data][product_data][name]",
                    "Weather API, 1 month"
                ),
                ("line_items[0][quantity]", "3"),
                ("client_reference_id", "ord_42"),
                ("metadata[order_id]", "ord_42"),
                ("metadata[listing_id]", "lst_7"),
                ("success_url", "https://udam.example/orders/ord_42?paid=1"),
                ("cancel_url", "https://udam.example/orders/ord_42"),
                ("expires_at", "1700003600"),
            ]
        );
    }

    #[test]
    fn checkout_form_survives_url_encoding() {
        // What reqwest's `.form()` sends is serde_urlencoded's output; Stripe
        // decodes it back to exactly these pairs, `&` and `=` in values included.
        let mut req = request();
        req.product_name = "A&B = 100% \"data\" ü".into();
        let form = req.to_form();
        let body = serde_urlencoded::to_string(&form).expect("encodable");
        let decoded: Vec<(String, String)> = serde_urlencoded::from_str(&body).expect("decodable");
        assert_eq!(decoded, form);
    }

    #[test]
    fn debug_redacts_the_secret_key() {
        let client = StripeClient::new("https://api.stripe.com/", "sk_test_supersecret");
        let debug = format!("{client:?}");
        assert!(!debug.contains("sk_test_supersecret"), "{debug}");
        assert!(debug.contains("[redacted]"));
        assert_eq!(client.api_base(), "https://api.stripe.com");
    }

    #[test]
    fn api_error_reads_stripe_error_body_and_scrubs_the_key() {
        let client = StripeClient::new("http://127.0.0.1:9", "sk_test_k3y");
        let body = br#"{"error": {"type": "invalid_request_error", "code": "parameter_missing",
            "message": "Missing required param: mode (you sent sk_test_k3y).", "param": "mode"}}"#;
        let err = client.api_error(StatusCode::BAD_REQUEST, body);
        assert_eq!(
            err,
            StripeError::Api {
                status: 400,
                code: Some("parameter_missing".into()),
                message: "Missing required param: mode (you sent [redacted]).".into(),
            }
        );
    }

    #[test]
    fn api_error_without_stripe_body_still_reports_status() {
        let client = StripeClient::new("http://127.0.0.1:9", "sk_test_k3y");
        let err = client.api_error(StatusCode::BAD_GATEWAY, b"<html>bad gateway</html>");
        assert!(
            matches!(
                err,
                StripeError::Api {
                    status: 502,
                    code: None,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(!err.to_string().contains("html"));
    }

    #[test]
    fn ids_that_could_change_the_url_are_refused() {
        assert!(check_id("id", "cs_test_a1B2").is_ok());
        for bad in ["", "..", "cs/../refunds", "cs?x=1", "cs test", "cs%2F"] {
            assert!(
                matches!(check_id("id", bad), Err(StripeError::Invalid(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn unusable_idempotency_keys_are_refused() {
        assert!(check_idempotency_key("order-ord_42-checkout-1").is_ok());
        let long = "k".repeat(256);
        for bad in ["", "has space", "new\nline", long.as_str()] {
            assert!(
                matches!(check_idempotency_key(bad), Err(StripeError::Invalid(_))),
                "{bad:?}"
            );
        }
    }
}
