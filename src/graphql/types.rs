//! GraphQL object types. Each wraps the REST view of the same thing, so both APIs
//! show the same values: money as integer minor units plus a lowercase ISO 4217
//! currency, times as RFC 3339 UTC strings, ids as `ID`, statuses as their
//! snake_case vocabulary words.

use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, ID, Object, SimpleObject};

use super::connection::{ListingConnection, ListingFilter};
use super::loaders::ListingLoader;
use crate::accounts::UserView;
use crate::listings::highlight::Highlight;
use crate::listings::model::ListingView;
use crate::orders::model::OrderView;
use crate::tokens::TokenView;

/// A data service for sale.
pub struct Listing {
    pub(super) view: ListingView,
    pub(super) highlight: Option<Highlight>,
}

impl Listing {
    /// A listing without search highlights.
    pub fn new(view: ListingView) -> Self {
        Self {
            view,
            highlight: None,
        }
    }
}

#[Object]
impl Listing {
    /// Opaque id.
    async fn id(&self) -> ID {
        ID(self.view.id.clone())
    }
    /// The seller's id.
    async fn seller_id(&self) -> ID {
        ID(self.view.seller_id.clone())
    }
    /// The seller, with their other listings.
    async fn seller(&self) -> Seller {
        Seller {
            id: self.view.seller_id.clone(),
        }
    }
    /// Name of the data service.
    async fn service_name(&self) -> &str {
        &self.view.service_name
    }
    /// Free text.
    async fn description(&self) -> &str {
        &self.view.description
    }
    /// What one unit is.
    async fn unit_description(&self) -> &str {
        &self.view.unit_description
    }
    /// Price per unit, in the currency's minor unit.
    async fn price_cents(&self) -> i64 {
        self.view.price_cents
    }
    /// Lowercase ISO 4217 code.
    async fn currency(&self) -> &str {
        &self.view.currency
    }
    /// Units left.
    async fn available_units(&self) -> i64 {
        self.view.available_units
    }
    /// `active`, `sold_out`, `paused` or `archived`.
    async fn status(&self) -> &'static str {
        self.view.status.as_str()
    }
    /// Last 4 characters of the seller's API key.
    async fn api_key_hint(&self) -> &str {
        &self.view.api_key_hint
    }
    /// `key` or `gateway`.
    async fn delivery(&self) -> &'static str {
        self.view.delivery.as_str()
    }
    /// Gateway listings: requests one unit buys.
    async fn requests_per_unit(&self) -> Option<i64> {
        self.view.requests_per_unit
    }
    /// Gateway listings: which upstream answers are charged.
    async fn meter(&self) -> Option<&'static str> {
        self.view.meter.map(|m| m.as_str())
    }
    /// RFC 3339 UTC.
    async fn created_at(&self) -> &str {
        &self.view.created_at
    }
    /// RFC 3339 UTC.
    async fn updated_at(&self) -> &str {
        &self.view.updated_at
    }
    /// The matched words as HTML-free segments, when the page answers a search: the
    /// same JSON as REST's `highlight`.
    async fn highlight(&self) -> Option<async_graphql::Json<Highlight>> {
        self.highlight.clone().map(async_graphql::Json)
    }
}

/// A seller, as buyers see them: their id and active listings.
pub struct Seller {
    pub(super) id: String,
}

#[Object]
impl Seller {
    /// The seller's user id.
    async fn id(&self) -> ID {
        ID(self.id.clone())
    }
    /// The seller's active listings (the browse of `listings` with `sellerId` set).
    /// Each costs a REST call of the rate limit, on top of its page.
    #[graphql(complexity = "super::connection::nested_page_cost(first, child_complexity)")]
    async fn listings(
        &self,
        ctx: &Context<'_>,
        filter: Option<ListingFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<ListingConnection> {
        let mut filter = filter.unwrap_or_default();
        filter.seller_id = Some(ID(self.id.clone()));
        super::connection::browse(ctx, filter, first, after).await
    }
}

/// An order, for its buyer and the listing's seller.
pub struct Order(pub OrderView);

#[Object]
impl Order {
    /// Opaque id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// The buyer.
    async fn buyer_id(&self) -> ID {
        ID(self.0.buyer_id.clone())
    }
    /// The listing bought.
    async fn listing_id(&self) -> ID {
        ID(self.0.listing_id.clone())
    }
    /// The listing bought, as it is now (archived ones included), loaded in batches.
    async fn listing(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Listing>> {
        let loader = ctx.data::<DataLoader<ListingLoader>>()?;
        let view = loader.load_one(self.0.listing_id.clone()).await?;
        Ok(view.map(Listing::new))
    }
    /// The listing's seller.
    async fn seller_id(&self) -> ID {
        ID(self.0.seller_id.clone())
    }
    /// The listing's name when ordered.
    async fn service_name(&self) -> &str {
        &self.0.service_name
    }
    /// Units bought.
    async fn units(&self) -> i64 {
        self.0.units
    }
    /// Price per unit, minor units.
    async fn unit_price_cents(&self) -> i64 {
        self.0.unit_price_cents
    }
    /// Total, minor units.
    async fn total_cents(&self) -> i64 {
        self.0.total_cents
    }
    /// Lowercase ISO 4217 code.
    async fn currency(&self) -> &str {
        &self.0.currency
    }
    /// Where the order stands.
    async fn status(&self) -> &'static str {
        self.0.status.as_str()
    }
    /// How its money stands (`deferred`: fulfilled now, owed on the balance).
    async fn payment_status(&self) -> &'static str {
        self.0.payment_status.as_str()
    }
    /// Where to pay, while payment is pending.
    async fn checkout_url(&self) -> Option<&str> {
        self.0.checkout_url.as_deref()
    }
    /// When the reservation lapses, while payment is pending (RFC 3339).
    async fn expires_at(&self) -> Option<&str> {
        self.0.expires_at.as_deref()
    }
    /// RFC 3339 UTC.
    async fn created_at(&self) -> &str {
        &self.0.created_at
    }
    /// RFC 3339 UTC.
    async fn updated_at(&self) -> &str {
        &self.0.updated_at
    }
}

/// The answer of `placeOrder`.
pub struct OrderPlaced {
    pub(super) created: crate::orders::keyed::OrderCreated,
    pub(super) replayed: bool,
}

#[Object]
impl OrderPlaced {
    /// The order.
    async fn order(&self) -> Order {
        Order(self.created.order.clone())
    }
    /// True when the buyer must pay at `checkoutUrl` before getting a token.
    async fn payment_requires_confirmation(&self) -> bool {
        self.created.payment_requires_confirmation
    }
    /// Where to pay, when payment is required.
    async fn checkout_url(&self) -> Option<&str> {
        self.created.checkout_url.as_deref()
    }
    /// True when this is the stored answer of an earlier request with the same
    /// idempotency key (nothing was bought now).
    async fn replayed(&self) -> bool {
        self.replayed
    }
}

/// An access token (grant) as its buyer sees it.
pub struct Token(pub TokenView);

#[Object]
impl Token {
    /// Grant id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// The order that bought it.
    async fn order_id(&self) -> ID {
        ID(self.0.order_id.clone())
    }
    /// The listing.
    async fn listing_id(&self) -> ID {
        ID(self.0.listing_id.clone())
    }
    /// The listing's name.
    async fn service_name(&self) -> &str {
        &self.0.service_name
    }
    /// Units bought.
    async fn units(&self) -> i64 {
        self.0.units
    }
    /// `key` listings: the seller's API key; null once revoked and for gateway listings.
    async fn access_token(&self) -> Option<&str> {
        self.0.access_token.as_deref()
    }
    /// Whether the token works.
    async fn status(&self) -> &'static str {
        self.0.status.as_str()
    }
    /// RFC 3339 UTC.
    async fn created_at(&self) -> &str {
        &self.0.created_at
    }
    /// How the listing is delivered.
    async fn delivery(&self) -> &'static str {
        self.0.delivery.as_str()
    }
    /// Gateway listings: the buyer's key, in full only in the answer that issued it.
    async fn gateway_key(&self) -> Option<&str> {
        self.0.gateway_key.as_deref()
    }
    /// Gateway listings: the key's prefix and last four characters.
    async fn gateway_key_hint(&self) -> Option<&str> {
        self.0.gateway_key_hint.as_deref()
    }
    /// Gateway listings: the base URL to call.
    async fn gateway_url(&self) -> Option<&str> {
        self.0.gateway_url.as_deref()
    }
    /// Gateway listings: requests taken so far by the key.
    async fn requests_used(&self) -> Option<i64> {
        self.0.requests_used
    }
    /// Gateway listings: requests bought.
    async fn requests_allowed(&self) -> Option<i64> {
        self.0.requests_allowed
    }
}

/// The signed-in user.
pub struct Me(pub UserView);

#[Object]
impl Me {
    /// Opaque id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// Normalized email.
    async fn email(&self) -> &str {
        &self.0.email
    }
    /// Optional public name.
    async fn display_name(&self) -> Option<&str> {
        self.0.display_name.as_deref()
    }
    /// Whether the user is an administrator.
    async fn is_admin(&self) -> bool {
        self.0.is_admin
    }
    /// RFC 3339 UTC.
    async fn created_at(&self) -> &str {
        &self.0.created_at
    }
}

/// What a buyer owes in one currency, for instantly fulfilled orders.
#[derive(SimpleObject)]
pub struct Owed {
    /// Lowercase ISO 4217 code.
    pub currency: String,
    /// Amount owed, minor units.
    pub owed_cents: i64,
}

/// A seller's earnings in one currency, minor units, read from the ledger.
#[derive(SimpleObject)]
pub struct CurrencyEarnings {
    /// Lowercase ISO 4217 code.
    pub currency: String,
    /// The seller's share of sales not paid by their buyers yet.
    pub pending_cents: i64,
    /// The seller's share of paid sales, owed to the seller.
    pub available_cents: i64,
}

/// A revoked token.
#[derive(SimpleObject)]
pub struct RevokedToken {
    /// The grant id.
    pub id: ID,
    /// Always `revoked`.
    pub status: String,
}

/// A settlement of what a buyer owes in one currency: the oldest owed orders, at most 1,000.
#[derive(SimpleObject)]
pub struct Settlement {
    /// Settlement id.
    pub id: ID,
    /// Lowercase ISO 4217 code.
    pub currency: String,
    /// Amount to pay, minor units.
    pub amount_cents: i64,
    /// Where the settlement stands.
    pub status: String,
    /// Where to pay.
    pub checkout_url: Option<String>,
    /// RFC 3339 UTC.
    pub created_at: String,
}
