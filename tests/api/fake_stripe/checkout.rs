//! Checkout Sessions on the fake: `POST /v1/checkout/sessions` validated as Stripe
//! validates a `payment`-mode session with inline `price_data`,
//! `GET /v1/checkout/sessions/{id}`, `POST …/{id}/expire`; and the buyer's side
//! (pay, pay later, expire) with the `checkout.session.*` events Stripe sends.

use axum::http::StatusCode;
use serde_json::{Value, json};
use udam::payments::stripe::CheckoutSession;

use super::refunds::Payment;
use super::{
    FakeStripe, Inner, Outcome, error_body, event_json, integer, invalid_param, new_id, no_such,
    now_unix, required, value,
};

/// Stripe accepts `expires_at` from 30 minutes to 24 hours after creation.
const MIN_EXPIRY_SECS: i64 = 30 * 60;
const MAX_EXPIRY_SECS: i64 = 24 * 60 * 60;

impl FakeStripe {
    /// Number of Checkout Sessions created so far.
    pub fn session_count(&self) -> usize {
        self.lock().sessions.len()
    }

    /// A session's current state, as the API would return it.
    pub fn session(&self, id: &str) -> Option<CheckoutSession> {
        let json = self.lock().sessions.get(id).cloned()?;
        Some(to_session(json))
    }

    /// The buyer pays by card: the session becomes `complete` and `paid`,
    /// with a new PaymentIntent.
    pub fn complete_session(&self, id: &str) -> CheckoutSession {
        self.complete(id, true)
    }

    /// The buyer picks a delayed payment method (bank debit): the session is
    /// `complete` but still `unpaid`; settle it with [`FakeStripe::settle_async_payment`].
    pub fn complete_session_unpaid(&self, id: &str) -> CheckoutSession {
        self.complete(id, false)
    }

    /// A delayed payment settles (`paid`) or fails (stays `unpaid`, as Stripe leaves it).
    pub fn settle_async_payment(&self, id: &str, succeeded: bool) -> CheckoutSession {
        let mut inner = self.lock();
        let session = inner
            .sessions
            .get_mut(id)
            .unwrap_or_else(|| panic!("no session {id}"));
        assert_eq!(
            session["status"], "complete",
            "settle_async_payment needs a completed session"
        );
        if succeeded {
            session["payment_status"] = json!("paid");
        }
        to_session(session.clone())
    }

    /// Stripe's own clock expires an open session (as at `expires_at`).
    pub fn expire_session(&self, id: &str) -> CheckoutSession {
        let mut inner = self.lock();
        let session = inner
            .sessions
            .get_mut(id)
            .unwrap_or_else(|| panic!("no session {id}"));
        assert_eq!(session["status"], "open", "only an open session can expire");
        session["status"] = json!("expired");
        session["url"] = Value::Null;
        to_session(session.clone())
    }

    /// `checkout.session.completed` for the session as it is now (paid, or
    /// unpaid after [`FakeStripe::complete_session_unpaid`]).
    pub fn checkout_completed_event(&self, id: &str) -> String {
        self.session_event("checkout.session.completed", id)
    }

    /// `checkout.session.async_payment_succeeded` for the session as it is now.
    pub fn async_payment_succeeded_event(&self, id: &str) -> String {
        self.session_event("checkout.session.async_payment_succeeded", id)
    }

    /// `checkout.session.async_payment_failed` for the session as it is now.
    pub fn async_payment_failed_event(&self, id: &str) -> String {
        self.session_event("checkout.session.async_payment_failed", id)
    }

    /// `checkout.session.expired` for the session as it is now.
    pub fn session_expired_event(&self, id: &str) -> String {
        self.session_event("checkout.session.expired", id)
    }

    /// Any `checkout.session.*` event carrying the session as it is now.
    pub fn session_event(&self, event_type: &str, id: &str) -> String {
        let session = self
            .lock()
            .sessions
            .get(id)
            .cloned()
            .unwrap_or_else(|| panic!("no session {id}"));
        event_json(event_type, session)
    }

    /// A `checkout.session.*` event for the session as it is now with some fields
    /// replaced: what Stripe signs when another flow on the account (a Payment Link)
    /// lets the payer set `client_reference_id` (issue 12, defect 3).
    pub fn altered_session_event(&self, event_type: &str, id: &str, changes: Value) -> String {
        let mut session = self
            .lock()
            .sessions
            .get(id)
            .cloned()
            .unwrap_or_else(|| panic!("no session {id}"));
        if let (Some(object), Some(changes)) = (session.as_object_mut(), changes.as_object()) {
            for (k, v) in changes {
                object.insert(k.clone(), v.clone());
            }
        }
        event_json(event_type, session)
    }

    fn complete(&self, id: &str, paid: bool) -> CheckoutSession {
        let mut inner = self.lock();
        let session = inner
            .sessions
            .get_mut(id)
            .unwrap_or_else(|| panic!("no session {id}"));
        assert_eq!(
            session["status"], "open",
            "only an open session can be completed"
        );
        let payment_intent = new_id("pi");
        session["status"] = json!("complete");
        session["payment_status"] = json!(if paid { "paid" } else { "unpaid" });
        session["payment_intent"] = json!(payment_intent);
        session["url"] = Value::Null;
        let payment = Payment {
            charge_id: new_id("ch"),
            amount: session["amount_total"].as_i64().unwrap_or_default(),
            currency: session["currency"].as_str().unwrap_or_default().to_owned(),
            amount_refunded: 0,
        };
        let snapshot = session.clone();
        inner.payments.insert(payment_intent, payment);
        to_session(snapshot)
    }
}

pub(super) fn create_session(inner: &mut Inner, form: &[(String, String)]) -> Outcome {
    match build_session(form) {
        Ok(session) => {
            let id = session["id"].as_str().unwrap_or_default().to_owned();
            inner.sessions.insert(id, session.clone());
            Outcome::Saved(StatusCode::OK, session)
        }
        Err(error) => Outcome::NotSaved(StatusCode::BAD_REQUEST, error),
    }
}

/// Validates the parameters the way Stripe does for a `payment`-mode session
/// with inline `price_data`, and builds the session object.
fn build_session(form: &[(String, String)]) -> Result<Value, Value> {
    const ITEM: &str = "line_items[0]";
    let mode = required(form, "mode")?;
    if mode != "payment" {
        return Err(invalid_param(
            "mode",
            &format!("Invalid mode: the fake supports only `payment`, got `{mode}`."),
        ));
    }
    let currency = required(form, &format!("{ITEM}[price_data][currency]"))?;
    let unit_amount = integer(form, &format!("{ITEM}[price_data][unit_amount]"), 0)?;
    // Validated but not stored: Stripe keeps line items off the session
    // object unless `line_items` is expanded, which UDAM never asks for.
    required(form, &format!("{ITEM}[price_data][product_data][name]"))?;
    let quantity = integer(form, &format!("{ITEM}[quantity]"), 1)?;
    let success_url = required(form, "success_url")?;
    let now = now_unix();
    let expires_at = match value(form, "expires_at") {
        None => now + MAX_EXPIRY_SECS,
        Some(_) => {
            let at = integer(form, "expires_at", 0)?;
            if at < now + MIN_EXPIRY_SECS {
                return Err(invalid_param(
                    "expires_at",
                    "The `expires_at` timestamp must be at least 30 minutes from Checkout Session creation.",
                ));
            }
            if at > now + MAX_EXPIRY_SECS {
                return Err(invalid_param(
                    "expires_at",
                    "The `expires_at` timestamp must be less than 24 hours from Checkout Session creation.",
                ));
            }
            at
        }
    };
    let Some(amount_total) = unit_amount.checked_mul(quantity) else {
        return Err(invalid_param(
            &format!("{ITEM}[quantity]"),
            "The total amount is too large.",
        ));
    };
    let metadata: serde_json::Map<String, Value> = form
        .iter()
        .filter_map(|(k, v)| {
            let key = k.strip_prefix("metadata[")?.strip_suffix(']')?;
            Some((key.to_owned(), json!(v)))
        })
        .collect();
    let id = new_id("cs_test");
    Ok(json!({
        "id": id,
        "object": "checkout.session",
        "after_expiration": null,
        "allow_promotion_codes": null,
        "amount_subtotal": amount_total,
        "amount_total": amount_total,
        "cancel_url": value(form, "cancel_url"),
        "client_reference_id": value(form, "client_reference_id"),
        "created": now,
        "currency": currency.to_ascii_lowercase(),
        "customer": null,
        "customer_email": null,
        "expires_at": expires_at,
        "livemode": false,
        "locale": null,
        "metadata": metadata,
        "mode": "payment",
        "payment_intent": null,
        "payment_method_types": ["card"],
        "payment_status": "unpaid",
        "status": "open",
        "success_url": success_url,
        "url": format!("https://checkout.stripe.com/c/pay/{id}"),
    }))
}

pub(super) fn expire_session(inner: &mut Inner, id: &str) -> Outcome {
    let Some(session) = inner.sessions.get_mut(id) else {
        return Outcome::Saved(
            StatusCode::NOT_FOUND,
            no_such("checkout.session", id, "session"),
        );
    };
    let status = session["status"].as_str().unwrap_or_default().to_owned();
    if status != "open" {
        return Outcome::Saved(
            StatusCode::BAD_REQUEST,
            error_body(
                "invalid_request_error",
                None,
                None,
                &format!(
                    "A Checkout Session can be expired when it is in one of these statuses: open. This Checkout Session's status is `{status}`."
                ),
            ),
        );
    }
    session["status"] = json!("expired");
    session["url"] = Value::Null;
    Outcome::Saved(StatusCode::OK, session.clone())
}

fn to_session(json: Value) -> CheckoutSession {
    serde_json::from_value(json).expect("fake sessions parse as CheckoutSession")
}
