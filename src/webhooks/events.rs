//! The event payload: `{id, type, created_at, data}`, where `data` is the changed
//! object in the REST API's own shape.
//!
//! The outbox holds the changed row at event time (the triggers copy it), and this
//! module renders it through the same view the REST API uses (`Order::view`,
//! `Listing::view`, `SettlementView`), so a webhook shows the object as it was when
//! the event happened, as Stripe's events do, and can never drift from the API's
//! shape. Grants have no owner-neutral REST view (a buyer's token view holds the
//! seller's key), so `grant.revoked` carries [`GrantEventView`], the grant's
//! non-secret fields. The gateway-key and payout events render in
//! [`payloads`](super::payloads).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::EventType;
use super::store::StoredEvent;
use crate::clock::rfc3339;
use crate::gateway::vocab::Meter;
use crate::listings::model::Listing;
use crate::orders::model::Order;
use crate::payments::settlement::SettlementView;
use crate::state::AppState;
use crate::vocab::{
    Delivery, GrantStatus, ListingStatus, OrderStatus, PaymentStatus, SettlementStatus,
};

/// An event as posted to an endpoint.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventEnvelope {
    /// `evt_…`; also the `webhook-id` header, the same on every retry.
    pub id: String,
    /// What happened.
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// RFC 3339 UTC: when it happened.
    pub created_at: String,
    /// The object, as the REST API shows it, at event time.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

/// A grant's fields in a `grant.revoked` event.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct GrantEventView {
    /// `tok_…`
    pub id: String,
    /// The order that bought it.
    pub order_id: String,
    /// The buyer.
    pub buyer_id: String,
    /// The listing.
    pub listing_id: String,
    /// The listing's seller.
    pub seller_id: String,
    /// Units bought.
    pub units: i64,
    /// `revoked`.
    pub status: GrantStatus,
    /// RFC 3339 UTC.
    #[serde(deserialize_with = "ms_as_rfc3339")]
    pub created_at: String,
    /// RFC 3339 UTC.
    #[serde(deserialize_with = "opt_ms_as_rfc3339")]
    pub revoked_at: Option<String>,
}

fn ms_as_rfc3339<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(rfc3339(i64::deserialize(d)?))
}

fn opt_ms_as_rfc3339<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<i64>::deserialize(d)?.map(rfc3339))
}

/// An order row as the triggers copy it.
#[derive(Deserialize)]
struct OrderRow {
    id: String,
    buyer_id: String,
    listing_id: String,
    seller_id: String,
    service_name: String,
    units: i64,
    unit_price_cents: i64,
    total_cents: i64,
    currency: String,
    status: OrderStatus,
    payment_status: PaymentStatus,
    checkout_url: Option<String>,
    expires_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

impl OrderRow {
    fn into_order(self) -> Order {
        Order {
            id: self.id,
            buyer_id: self.buyer_id,
            listing_id: self.listing_id,
            seller_id: self.seller_id,
            service_name: self.service_name,
            units: self.units,
            unit_price_cents: self.unit_price_cents,
            total_cents: self.total_cents,
            currency: self.currency,
            status: self.status,
            payment_status: self.payment_status,
            // Not shown by the view.
            holds_units: false,
            provider: None,
            provider_session_id: None,
            checkout_url: self.checkout_url,
            payment_intent_id: None,
            settlement_id: None,
            expires_at: self.expires_at,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

/// A listing row as the trigger copies it (without the sealed key or gateway secrets).
#[derive(Deserialize)]
struct ListingRow {
    id: String,
    seller_id: String,
    service_name: String,
    description: String,
    unit_description: String,
    price_cents: i64,
    currency: String,
    available_units: i64,
    status: ListingStatus,
    api_key_hint: String,
    created_at: i64,
    updated_at: i64,
    delivery: Delivery,
    requests_per_unit: Option<i64>,
    meter: Meter,
}

impl ListingRow {
    fn into_listing(self) -> Listing {
        Listing {
            id: self.id,
            seller_id: self.seller_id,
            service_name: self.service_name,
            description: self.description,
            unit_description: self.unit_description,
            price_cents: self.price_cents,
            currency: self.currency,
            available_units: self.available_units,
            status: self.status,
            api_key_hint: self.api_key_hint,
            created_at: self.created_at,
            updated_at: self.updated_at,
            delivery: self.delivery,
            upstream_base_url: None,
            inject_header: None,
            inject_template: None,
            inject_query: None,
            requests_per_unit: self.requests_per_unit,
            meter: self.meter,
        }
    }
}

/// A settlement row as the trigger copies it.
#[derive(Deserialize)]
struct SettlementRow {
    id: String,
    currency: String,
    amount_cents: i64,
    status: SettlementStatus,
    checkout_url: Option<String>,
    created_at: i64,
}

/// Renders a stored event into the exact bytes posted (the same on every retry).
pub fn render(state: &AppState, event: &StoredEvent) -> anyhow::Result<Vec<u8>> {
    let event_type: EventType = event
        .event_type
        .parse()
        .map_err(|e| anyhow::anyhow!("outbox event {}: {e}", event.id))?;
    let object = &event.object;
    let data = match event_type {
        EventType::OrderCreated
        | EventType::OrderFulfilled
        | EventType::OrderCancelled
        | EventType::OrderExpired => serde_json::to_value(
            serde_json::from_str::<OrderRow>(object)?
                .into_order()
                .shared_view(),
        )?,
        EventType::ListingSoldOut => serde_json::to_value(
            serde_json::from_str::<ListingRow>(object)?
                .into_listing()
                .view(),
        )?,
        EventType::GrantRevoked => {
            serde_json::to_value(serde_json::from_str::<GrantEventView>(object)?)?
        }
        EventType::SettlementPaid => {
            let row: SettlementRow = serde_json::from_str(object)?;
            serde_json::to_value(SettlementView {
                id: row.id,
                currency: row.currency,
                amount_cents: row.amount_cents,
                status: row.status,
                checkout_url: row.checkout_url,
                created_at: rfc3339(row.created_at),
            })?
        }
        EventType::AllowanceLow => super::payloads::allowance(state, object)?,
        EventType::PayoutCreated
        | EventType::PayoutPaid
        | EventType::PayoutFailed
        | EventType::PayoutReversed => super::payloads::payout(object)?,
        EventType::WebhookTest => serde_json::from_str(object)?,
    };
    Ok(serde_json::to_vec(&EventEnvelope {
        id: event.id.clone(),
        event_type,
        created_at: rfc3339(event.created_at),
        data,
    })?)
}
