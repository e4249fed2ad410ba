//! The Stripe objects UDAM reads back, reduced to the fields it uses.
//!
//! Stripe objects carry dozens of fields and gain new ones with every API
//! version, so these types ignore unknown fields and accept `null` wherever
//! Stripe documents a field as nullable. That keeps us working across API
//! versions and lets a minimal fake answer with only what matters.

use std::collections::HashMap;

use serde::{Deserialize, Deserializer};

/// A Checkout Session (`"object": "checkout.session"`), as returned by the
/// API and embedded in `checkout.session.*` webhook events.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CheckoutSession {
    /// `cs_test_...` / `cs_live_...`.
    pub id: String,
    /// Hosted payment page to redirect the buyer to; `null` once the session
    /// is complete or expired.
    #[serde(default)]
    pub url: Option<String>,
    /// `open`, `complete` or `expired`.
    #[serde(default)]
    pub status: Option<String>,
    /// `unpaid`, `paid` or `no_payment_required`. A `complete` session can
    /// still be `unpaid` while a delayed payment method settles.
    pub payment_status: String,
    /// `pi_...` once a payment exists. Accepts an expanded object too and
    /// keeps only its id.
    #[serde(default, deserialize_with = "expandable_id")]
    pub payment_intent: Option<String>,
    /// Our own reference (the UDAM order id).
    #[serde(default)]
    pub client_reference_id: Option<String>,
    /// Key/value pairs we set at creation.
    #[serde(default, deserialize_with = "null_as_empty_map")]
    pub metadata: HashMap<String, String>,
    /// Unix seconds after which Stripe expires the session.
    #[serde(default)]
    pub expires_at: Option<i64>,
    /// Total in the currency's minor unit.
    #[serde(default)]
    pub amount_total: Option<i64>,
    /// Lower-case ISO 4217 code.
    #[serde(default)]
    pub currency: Option<String>,
}

impl CheckoutSession {
    /// True when Stripe says the money has been collected.
    pub fn is_paid(&self) -> bool {
        self.payment_status == "paid"
    }
}

/// A Refund (`"object": "refund"`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Refund {
    /// `re_...`.
    pub id: String,
    /// `pending`, `requires_action`, `succeeded`, `failed` or `canceled`.
    #[serde(default)]
    pub status: Option<String>,
    /// The refunded PaymentIntent.
    #[serde(default, deserialize_with = "expandable_id")]
    pub payment_intent: Option<String>,
    /// Refunded amount in the currency's minor unit.
    #[serde(default)]
    pub amount: Option<i64>,
}

/// A Charge (`"object": "charge"`), as embedded in `charge.*` webhook events.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Charge {
    /// `ch_...`.
    pub id: String,
    /// The PaymentIntent it belongs to.
    #[serde(default, deserialize_with = "expandable_id")]
    pub payment_intent: Option<String>,
    /// The amount charged, minor units.
    #[serde(default)]
    pub amount: i64,
    /// How much of it has been refunded so far, minor units (cumulative).
    #[serde(default)]
    pub amount_refunded: i64,
    /// Lower-case ISO 4217 code.
    #[serde(default)]
    pub currency: String,
}

/// Stripe returns a related object either as its id (the default) or, when
/// the caller asked to `expand` it, as the whole object. We only need the id.
fn expandable_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum IdOrObject {
        Id(String),
        Object { id: String },
    }
    Ok(Option::<IdOrObject>::deserialize(d)?.map(|v| match v {
        IdOrObject::Id(id) | IdOrObject::Object { id } => id,
    }))
}

/// Stripe documents `metadata` as an object, but some embedded shapes send
/// `null`; both mean "no metadata".
fn null_as_empty_map<'de, D: Deserializer<'de>>(d: D) -> Result<HashMap<String, String>, D::Error> {
    Ok(Option::<HashMap<String, String>>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_documented_session_and_ignores_unknown_fields() {
        let json = r#"{
            "id": "cs_test_a1", "object": "checkout.session", "livemode": false,
            "amount_subtotal": 2198, "amount_total": 2198, "currency": "usd",
            "automatic_tax": {"enabled": false, "status": null},
            "client_reference_id": "ord_1", "expires_at": 1679520812,
            "metadata": {"order_id": "ord_1"}, "mode": "payment",
            "payment_intent": null, "payment_status": "unpaid", "status": "open",
            "url": "https://checkout.stripe.com/c/pay/cs_test_a1"
        }"#;
        let s: CheckoutSession = serde_json::from_str(json).expect("valid session");
        assert_eq!(s.id, "cs_test_a1");
        assert_eq!(s.status.as_deref(), Some("open"));
        assert_eq!(s.payment_intent, None);
        assert_eq!(
            s.metadata.get("order_id").map(String::as_str),
            Some("ord_1")
        );
        assert_eq!(s.amount_total, Some(2198));
        assert!(!s.is_paid());
    }

    #[test]
    fn expanded_payment_intent_and_null_metadata_are_accepted() {
        let json = r#"{"id": "cs_1", "payment_status": "paid",
            "payment_intent": {"id": "pi_9", "object": "payment_intent"}, "metadata": null}"#;
        let s: CheckoutSession = serde_json::from_str(json).expect("valid session");
        assert_eq!(s.payment_intent.as_deref(), Some("pi_9"));
        assert!(s.metadata.is_empty());
        assert!(s.is_paid());
    }

    #[test]
    fn parses_a_refund() {
        let json = r#"{"id": "re_1", "object": "refund", "amount": 500,
            "payment_intent": "pi_1", "status": "succeeded", "charge": "ch_1"}"#;
        let r: Refund = serde_json::from_str(json).expect("valid refund");
        assert_eq!(r.id, "re_1");
        assert_eq!(r.amount, Some(500));
        assert_eq!(r.payment_intent.as_deref(), Some("pi_1"));
    }
}
