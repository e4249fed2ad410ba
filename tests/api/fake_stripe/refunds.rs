//! Refunds on the fake: `POST /v1/refunds` (in full, once), refunds made in
//! Stripe's dashboard, and the cumulative `charge.refunded` event.

use axum::http::StatusCode;
use serde_json::json;

use super::{
    FakeStripe, Inner, Outcome, error_body, event_json, new_id, no_such, now_unix, required,
};

/// What a successful payment created, per PaymentIntent.
pub(super) struct Payment {
    pub(super) charge_id: String,
    pub(super) amount: i64,
    pub(super) currency: String,
    /// Refunded so far (cumulative), minor units.
    pub(super) amount_refunded: i64,
}

impl FakeStripe {
    /// `charge.refunded` for the charge behind `payment_intent` (refunded in
    /// full when a refund was created through the API, as Stripe reports it).
    pub fn charge_refunded_event(&self, payment_intent: &str) -> String {
        let inner = self.lock();
        let payment = inner
            .payments
            .get(payment_intent)
            .unwrap_or_else(|| panic!("no payment {payment_intent}"));
        let charge = json!({
            "id": payment.charge_id,
            "object": "charge",
            "amount": payment.amount,
            "amount_captured": payment.amount,
            "amount_refunded": payment.amount_refunded,
            "captured": true,
            "created": now_unix(),
            "currency": payment.currency,
            "livemode": false,
            "metadata": {},
            "paid": true,
            "payment_intent": payment_intent,
            "refunded": payment.amount_refunded >= payment.amount,
            "status": "succeeded",
        });
        event_json("charge.refunded", charge)
    }

    /// Someone refunds `amount` of the payment in Stripe's dashboard (not through
    /// UDAM): the charge's cumulative `amount_refunded` grows, as its next
    /// `charge.refunded` event reports.
    pub fn refund_in_dashboard(&self, payment_intent: &str, amount: i64) {
        let mut inner = self.lock();
        let payment = inner
            .payments
            .get_mut(payment_intent)
            .unwrap_or_else(|| panic!("no payment {payment_intent}"));
        assert!(
            payment.amount_refunded + amount <= payment.amount,
            "cannot refund more than was paid"
        );
        payment.amount_refunded += amount;
    }

    /// Every refund created through the API, as `(payment_intent, idempotency key)`.
    pub fn api_refunds(&self) -> Vec<(String, String)> {
        self.lock()
            .requests
            .iter()
            .filter(|r| r.method == "POST" && r.path == "/v1/refunds")
            .map(|r| {
                (
                    r.form_value("payment_intent")
                        .unwrap_or_default()
                        .to_owned(),
                    r.idempotency_key.clone().unwrap_or_default(),
                )
            })
            .collect()
    }
}

pub(super) fn create_refund(inner: &mut Inner, form: &[(String, String)]) -> Outcome {
    let payment_intent = match required(form, "payment_intent") {
        Ok(pi) => pi.to_owned(),
        Err(error) => return Outcome::NotSaved(StatusCode::BAD_REQUEST, error),
    };
    let Some(payment) = inner.payments.get_mut(&payment_intent) else {
        return Outcome::Saved(
            StatusCode::BAD_REQUEST,
            no_such("payment_intent", &payment_intent, "payment_intent"),
        );
    };
    if payment.amount_refunded >= payment.amount {
        return Outcome::Saved(
            StatusCode::BAD_REQUEST,
            error_body(
                "invalid_request_error",
                Some("charge_already_refunded"),
                None,
                &format!("Charge {} has already been refunded.", payment.charge_id),
            ),
        );
    }
    let refunded_now = payment.amount - payment.amount_refunded;
    payment.amount_refunded = payment.amount;
    let refund = json!({
        "id": new_id("re"),
        "object": "refund",
        "amount": refunded_now,
        "balance_transaction": new_id("txn"),
        "charge": payment.charge_id,
        "created": now_unix(),
        "currency": payment.currency,
        "metadata": {},
        "payment_intent": payment_intent,
        "reason": null,
        "receipt_number": null,
        "source_transfer_reversal": null,
        "status": "succeeded",
        "transfer_reversal": null,
    });
    Outcome::Saved(StatusCode::OK, refund)
}
