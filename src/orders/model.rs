//! The order as stored and as shown.

use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::any::AnyRow;
use utoipa::ToSchema;

use crate::clock::rfc3339;
use crate::vocab::{OrderStatus, PaymentStatus, ProviderName};

/// The columns read by [`Order::from_row`], in order, as a literal so that queries
/// can be assembled with `concat!` into the `&'static str` sqlx caches.
#[macro_export]
macro_rules! order_columns {
    () => {
        "id, buyer_id, listing_id, seller_id, service_name, units, unit_price_cents, \
         total_cents, currency, status, payment_status, holds_units, provider, \
         provider_session_id, checkout_url, payment_intent_id, settlement_id, expires_at, \
         created_at, updated_at"
    };
}

/// An order row.
#[derive(Clone, Debug)]
pub struct Order {
    /// `ord_…`
    pub id: String,
    /// Who buys.
    pub buyer_id: String,
    /// What.
    pub listing_id: String,
    /// From whom.
    pub seller_id: String,
    /// The listing's name when ordered.
    pub service_name: String,
    /// Units bought.
    pub units: i64,
    /// Price per unit when ordered.
    pub unit_price_cents: i64,
    /// `units × unit_price_cents`.
    pub total_cents: i64,
    /// Currency.
    pub currency: String,
    /// Where the order stands.
    pub status: OrderStatus,
    /// How its money stands.
    pub payment_status: PaymentStatus,
    /// True while the order's units are taken from the listing.
    pub holds_units: bool,
    /// The provider of orders that went through a checkout.
    pub provider: Option<ProviderName>,
    /// The provider's checkout session.
    pub provider_session_id: Option<String>,
    /// Where the buyer pays.
    pub checkout_url: Option<String>,
    /// The provider's payment reference once paid.
    pub payment_intent_id: Option<String>,
    /// The settlement paying a deferred order.
    pub settlement_id: Option<String>,
    /// When a pending reservation lapses (unix ms).
    pub expires_at: Option<i64>,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub updated_at: i64,
}

impl Order {
    /// Reads a row selected with [`order_columns!`](crate::order_columns).
    pub fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: row.try_get(0)?,
            buyer_id: row.try_get(1)?,
            listing_id: row.try_get(2)?,
            seller_id: row.try_get(3)?,
            service_name: row.try_get(4)?,
            units: row.try_get(5)?,
            unit_price_cents: row.try_get(6)?,
            total_cents: row.try_get(7)?,
            currency: row.try_get(8)?,
            status: row.try_get(9)?,
            payment_status: row.try_get(10)?,
            holds_units: row.try_get::<i64, _>(11)? != 0,
            provider: row.try_get(12)?,
            provider_session_id: row.try_get(13)?,
            checkout_url: row.try_get(14)?,
            payment_intent_id: row.try_get(15)?,
            settlement_id: row.try_get(16)?,
            expires_at: row.try_get(17)?,
            created_at: row.try_get(18)?,
            updated_at: row.try_get(19)?,
        })
    }

    /// The API shape.
    pub fn view(&self) -> OrderView {
        let pending = self.status == OrderStatus::PendingPayment;
        OrderView {
            id: self.id.clone(),
            buyer_id: self.buyer_id.clone(),
            listing_id: self.listing_id.clone(),
            seller_id: self.seller_id.clone(),
            service_name: self.service_name.clone(),
            units: self.units,
            unit_price_cents: self.unit_price_cents,
            total_cents: self.total_cents,
            currency: self.currency.clone(),
            status: self.status,
            payment_status: self.payment_status,
            checkout_url: self.checkout_url.clone().filter(|_| pending),
            expires_at: self.expires_at.filter(|_| pending).map(rfc3339),
            created_at: rfc3339(self.created_at),
            updated_at: rfc3339(self.updated_at),
        }
    }
}

/// An order as the API shows it.
#[derive(Clone, Debug, Deserialize, Serialize, ToSchema)]
pub struct OrderView {
    /// Opaque id.
    pub id: String,
    /// The buyer.
    pub buyer_id: String,
    /// The listing bought.
    pub listing_id: String,
    /// The listing's seller.
    pub seller_id: String,
    /// The listing's name when ordered.
    pub service_name: String,
    /// Units bought.
    pub units: i64,
    /// Price per unit, minor units.
    pub unit_price_cents: i64,
    /// Total, minor units.
    pub total_cents: i64,
    /// Lowercase ISO 4217 code.
    pub currency: String,
    /// Where the order stands.
    pub status: OrderStatus,
    /// How its money stands (`deferred`: fulfilled now, owed on the balance).
    pub payment_status: PaymentStatus,
    /// Where to pay, while payment is pending.
    pub checkout_url: Option<String>,
    /// When the reservation lapses, while payment is pending (RFC 3339).
    pub expires_at: Option<String>,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// RFC 3339 UTC.
    pub updated_at: String,
}
