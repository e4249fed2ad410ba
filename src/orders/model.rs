//! The order as stored and as shown.

use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::any::AnyRow;
use utoipa::ToSchema;

use crate::clock::rfc3339;
use crate::vocab::{OrderStatus, PaymentStatus, ProviderName};

/// The columns read by [`Order::from_row`] (which reads them by name), as a literal so
/// that queries can be assembled with `concat!` into the `&'static str` sqlx caches.
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
            id: row.try_get("id")?,
            buyer_id: row.try_get("buyer_id")?,
            listing_id: row.try_get("listing_id")?,
            seller_id: row.try_get("seller_id")?,
            service_name: row.try_get("service_name")?,
            units: row.try_get("units")?,
            unit_price_cents: row.try_get("unit_price_cents")?,
            total_cents: row.try_get("total_cents")?,
            currency: row.try_get("currency")?,
            status: row.try_get("status")?,
            payment_status: row.try_get("payment_status")?,
            holds_units: row.try_get::<i64, _>("holds_units")? != 0,
            provider: row.try_get("provider")?,
            provider_session_id: row.try_get("provider_session_id")?,
            checkout_url: row.try_get("checkout_url")?,
            payment_intent_id: row.try_get("payment_intent_id")?,
            settlement_id: row.try_get("settlement_id")?,
            expires_at: row.try_get("expires_at")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
        })
    }

    /// The API shape as `user_id` sees it: the checkout URL is the buyer's alone
    /// (whoever holds it can pay or cancel the reservation), so the seller's view
    /// of a sale never carries it.
    pub fn view_for(&self, user_id: &str) -> OrderView {
        if self.buyer_id == user_id {
            self.buyers_view()
        } else {
            self.shared_view()
        }
    }

    /// What anyone but the buyer may see: the order without its checkout URL. Also
    /// what webhooks carry (an order's only event while it awaits payment,
    /// `order.created`, goes to the seller).
    pub fn shared_view(&self) -> OrderView {
        OrderView {
            checkout_url: None,
            ..self.buyers_view()
        }
    }

    /// The whole API shape, checkout URL included: the buyer's alone.
    fn buyers_view(&self) -> OrderView {
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
