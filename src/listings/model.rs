//! The listing as stored and as shown, and the rules for its fields.

use serde::{Deserialize, Serialize};
use sqlx::FromRow;
use sqlx::any::AnyRow;
use utoipa::ToSchema;

use super::delivery::{GatewayPatch, GatewaySettings};
use super::store::GatewayExtras;
use crate::clock::rfc3339;
use crate::error::ApiError;
use crate::gateway::costs::RouteCost;
use crate::gateway::vocab::Meter;
use crate::vocab::{Delivery, ListingAvailability, ListingStatus};

/// Most units a listing may offer.
pub const MAX_UNITS: i64 = 1_000_000_000;
/// Longest seller API key accepted, in bytes.
pub const MAX_API_KEY_BYTES: usize = 4096;

/// The columns read by [`Listing::from_row`] (by name, in any order), as a literal so
/// that queries can be assembled with `concat!` into the `&'static str` sqlx caches.
#[macro_export]
macro_rules! listing_columns {
    () => {
        "id, seller_id, service_name, description, unit_description, price_cents, currency, \
         available_units, status, api_key_hint, created_at, updated_at, delivery, \
         upstream_base_url, inject_header, inject_template, inject_query, requests_per_unit, meter"
    };
}

/// A listing row (without its sealed key), decoded by column name.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Listing {
    /// `lst_…`
    pub id: String,
    /// The seller's user id.
    pub seller_id: String,
    /// Name of the data service.
    pub service_name: String,
    /// Free text.
    pub description: String,
    /// What one unit is, e.g. "per 1000 requests".
    pub unit_description: String,
    /// Price of one unit in the currency's minor unit.
    pub price_cents: i64,
    /// Lowercase ISO 4217 code.
    pub currency: String,
    /// Units left to sell.
    pub available_units: i64,
    /// Stored status.
    pub status: ListingStatus,
    /// Last characters of the seller's key.
    pub api_key_hint: String,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms; moved by every edit and by units given back, which is what cache
    /// invalidation watches. A sale does not move it (see `store::changed_since`).
    pub updated_at: i64,
    /// How buyers reach the service.
    pub delivery: Delivery,
    /// Gateway listings: the seller's API base URL.
    pub upstream_base_url: Option<String>,
    /// Gateway listings: the header the seller's key goes into.
    pub inject_header: Option<String>,
    /// Gateway listings: that header's value, holding `{key}`.
    pub inject_template: Option<String>,
    /// Gateway listings: the query parameter the seller's key goes into.
    pub inject_query: Option<String>,
    /// Gateway listings: requests one unit buys.
    pub requests_per_unit: Option<i64>,
    /// Gateway listings: which answers are charged.
    pub meter: Meter,
}

impl Listing {
    /// Reads a row with the listing columns, by name (the status through its
    /// vocabulary's decoder).
    pub fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        <Self as FromRow<'_, AnyRow>>::from_row(row)
    }

    /// The status buyers see: an active listing without units is `sold_out`.
    pub fn public_status(&self) -> ListingAvailability {
        match self.status {
            ListingStatus::Active if self.available_units == 0 => ListingAvailability::SoldOut,
            ListingStatus::Active => ListingAvailability::Active,
            ListingStatus::Paused => ListingAvailability::Paused,
            ListingStatus::Archived => ListingAvailability::Archived,
        }
    }

    /// The API shape.
    pub fn view(&self) -> ListingView {
        ListingView {
            id: self.id.clone(),
            seller_id: self.seller_id.clone(),
            service_name: self.service_name.clone(),
            description: self.description.clone(),
            unit_description: self.unit_description.clone(),
            price_cents: self.price_cents,
            currency: self.currency.clone(),
            available_units: self.available_units,
            status: self.public_status(),
            api_key_hint: self.api_key_hint.clone(),
            created_at: rfc3339(self.created_at),
            updated_at: rfc3339(self.updated_at),
            delivery: self.delivery,
            requests_per_unit: self.requests_per_unit,
            meter: (self.delivery == Delivery::Gateway).then_some(self.meter),
            rate_limit_per_minute: None,
            route_costs: None,
        }
    }

    /// The gateway settings of a gateway listing (`None` for `key` delivery), with
    /// the columns [`Listing`] does not carry.
    pub fn gateway_settings(&self, extras: &GatewayExtras) -> Option<GatewaySettings> {
        if self.delivery != Delivery::Gateway {
            return None;
        }
        Some(GatewaySettings {
            upstream_base_url: self.upstream_base_url.clone().unwrap_or_default(),
            inject_header: self.inject_header.clone(),
            inject_template: self.inject_template.clone(),
            inject_query: self.inject_query.clone(),
            requests_per_unit: self.requests_per_unit.unwrap_or(1),
            meter: self.meter,
            rate_limit_per_minute: extras.rate_limit_per_minute,
            route_costs: crate::gateway::costs::from_column(extras.route_costs.as_deref()),
        })
    }
}

impl ListingView {
    /// Adds the gateway columns [`Listing`] does not carry (gateway listings only).
    pub fn with_extras(mut self, extras: &GatewayExtras) -> Self {
        if self.delivery == Delivery::Gateway {
            self.rate_limit_per_minute = extras.rate_limit_per_minute;
            self.route_costs = Some(crate::gateway::costs::from_column(
                extras.route_costs.as_deref(),
            ));
        }
        self
    }
}

/// A listing as the API shows it. The seller's key itself never appears.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ListingView {
    /// Opaque id.
    pub id: String,
    /// The seller.
    pub seller_id: String,
    /// Name of the data service.
    pub service_name: String,
    /// Free text.
    pub description: String,
    /// What one unit is.
    pub unit_description: String,
    /// Price per unit, in the currency's minor unit.
    pub price_cents: i64,
    /// Lowercase ISO 4217 code.
    #[schema(example = "usd")]
    pub currency: String,
    /// Units left.
    pub available_units: i64,
    /// `active`, `sold_out`, `paused` or `archived`.
    pub status: ListingAvailability,
    /// Last 4 characters of the seller's API key (or `****` for keys under 8 characters).
    #[schema(example = "x9Qz")]
    pub api_key_hint: String,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// RFC 3339 UTC: when the seller last edited the listing or units came back
    /// (a lapsed or refunded order). A sale does not move it; `available_units` does.
    pub updated_at: String,
    /// `key`: buyers receive the seller's key; `gateway`: buyers receive their own
    /// key for the metered gateway.
    pub delivery: Delivery,
    /// Gateway listings: requests one unit buys (null otherwise).
    pub requests_per_unit: Option<i64>,
    /// Gateway listings: which upstream answers are charged (null otherwise).
    pub meter: Option<Meter>,
    /// Gateway listings: requests per minute one buyer key may make (null: no
    /// limit). Shown on single listings, not in browse pages.
    pub rate_limit_per_minute: Option<i64>,
    /// Gateway listings: requests a call takes, per path prefix (longest wins; other
    /// paths cost 1). Shown on single listings, not in browse pages.
    pub route_costs: Option<Vec<RouteCost>>,
}

/// Body of `POST /listings`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateListing {
    /// 1 to 200 characters, not only blanks, no control characters.
    #[schema(
        example = "Weather API",
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$"
    )]
    pub service_name: String,
    /// Up to 10,000 characters.
    #[serde(default)]
    #[schema(max_length = 10000, pattern = r"^[^\u0000]*$")]
    pub description: String,
    /// What one unit is; default "per unit". Same rules as `service_name`.
    #[schema(
        example = "per 1000 requests",
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$"
    )]
    pub unit_description: Option<String>,
    /// 0 to 100,000,000, in the currency's minor unit.
    #[schema(example = 250, minimum = 0, maximum = 100000000)]
    #[serde(deserialize_with = "crate::extract::json_int::int")]
    pub price_cents: i64,
    /// ISO 4217 code, default `usd` (any case).
    #[schema(example = "usd")]
    pub currency: Option<String>,
    /// 0 to 1,000,000,000.
    #[schema(example = 100, minimum = 0, maximum = 1000000000)]
    #[serde(deserialize_with = "crate::extract::json_int::int")]
    pub available_units: i64,
    /// The key buyers will receive: 1 to 4096 printable ASCII characters (bytes).
    /// Stored sealed, never shown again.
    #[schema(
        example = "sk_weather_5f2c9e1d",
        min_length = 1,
        max_length = 4096,
        pattern = r"^[\x20-\x7e]+$"
    )]
    pub api_key: String,
    /// `key` (default): buyers receive `api_key`; `gateway`: buyers call through the
    /// metered gateway, which injects `api_key` upstream (then `gateway` is required).
    pub delivery: Option<Delivery>,
    /// Gateway settings, with `delivery: "gateway"` only.
    pub gateway: Option<super::delivery::GatewayInput>,
}

impl std::fmt::Debug for CreateListing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateListing")
            .field("service_name", &self.service_name)
            .field("api_key", &"[redacted]")
            .finish_non_exhaustive()
    }
}

/// Body of `PATCH /listings/{id}`: every field optional.
#[derive(Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateListing {
    /// New price per unit, 0 to 100,000,000.
    #[schema(minimum = 0, maximum = 100000000)]
    #[serde(default, deserialize_with = "crate::extract::json_int::opt_int")]
    pub price_cents: Option<i64>,
    /// New description.
    #[schema(max_length = 10000, pattern = r"^[^\u0000]*$")]
    pub description: Option<String>,
    /// New unit description.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$"
    )]
    pub unit_description: Option<String>,
    /// New number of units left.
    #[schema(minimum = 0, maximum = 1000000000)]
    #[serde(default, deserialize_with = "crate::extract::json_int::opt_int")]
    pub available_units: Option<i64>,
    /// `active` or `paused` (archive with DELETE).
    #[schema(pattern = "^(active|paused)$")]
    pub status: Option<String>,
    /// A new key (rotation); sealed like the first.
    #[schema(min_length = 1, max_length = 4096, pattern = r"^[\x20-\x7e]+$")]
    pub api_key: Option<String>,
    /// Gateway listings: a new upstream base URL (checked like the first); the same
    /// as `gateway.upstream_base_url`.
    #[schema(max_length = 2048)]
    pub upstream_base_url: Option<String>,
    /// Gateway listings: changes to the gateway settings (the delivery itself cannot
    /// change).
    pub gateway: Option<GatewayPatch>,
}

impl std::fmt::Debug for UpdateListing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpdateListing")
            .field("price_cents", &self.price_cents)
            .field("available_units", &self.available_units)
            .field("status", &self.status)
            .field("api_key", &self.api_key.as_ref().map(|_| "[redacted]"))
            .finish_non_exhaustive()
    }
}

/// A short label (service name, unit description): 1 to 200 characters, not only
/// blanks, no control characters. Stored as given, so that the rule the OpenAPI
/// document states is exactly the rule applied.
fn check_label(field: &str, raw: &str) -> Result<String, ApiError> {
    let chars = raw.chars().count();
    if chars == 0
        || chars > 200
        || raw.chars().any(char::is_control)
        || raw.chars().all(char::is_whitespace)
    {
        return Err(ApiError::validation(
            field,
            "must be 1 to 200 printable characters, not only blanks",
        ));
    }
    Ok(raw.to_owned())
}

/// Checks a service name.
pub fn check_service_name(raw: &str) -> Result<String, ApiError> {
    check_label("service_name", raw)
}

/// Checks a description: at most 10,000 characters, no NUL.
pub fn check_description(raw: &str) -> Result<String, ApiError> {
    if raw.chars().count() > 10_000 || raw.contains('\0') {
        return Err(ApiError::validation(
            "description",
            "must be at most 10000 characters, without NUL",
        ));
    }
    Ok(raw.to_owned())
}

/// Checks a unit description.
pub fn check_unit_description(raw: &str) -> Result<String, ApiError> {
    check_label("unit_description", raw)
}

/// Highest price of one unit, in minor units: 1,000,000.00 in a two-decimal
/// currency, above what Stripe takes in one payment (999,999.99). The bound keeps
/// every sum the ledger makes (an order is at most this times the per-order units;
/// a seller's earnings are sums of orders) far inside a 64-bit integer.
pub const MAX_PRICE_CENTS: i64 = 100_000_000;

/// Checks a price: an integer from 0 to [`MAX_PRICE_CENTS`].
pub fn check_price(price_cents: i64) -> Result<i64, ApiError> {
    if !(0..=MAX_PRICE_CENTS).contains(&price_cents) {
        return Err(ApiError::validation(
            "price_cents",
            format!("must be 0 to {MAX_PRICE_CENTS}"),
        ));
    }
    Ok(price_cents)
}

/// Checks a currency against the known list; returns the lowercase code.
pub fn check_currency(raw: &str) -> Result<String, ApiError> {
    crate::money::currency(raw)
        .map(|c| c.code.to_owned())
        .ok_or_else(|| ApiError::validation("currency", "must be a supported ISO 4217 code"))
}

/// Checks a unit count: 0 to 1e9.
pub fn check_units(units: i64) -> Result<i64, ApiError> {
    if !(0..=MAX_UNITS).contains(&units) {
        return Err(ApiError::validation(
            "available_units",
            format!("must be 0 to {MAX_UNITS}"),
        ));
    }
    Ok(units)
}

/// Checks an API key: 1 to 4096 printable ASCII characters (so characters = bytes).
pub fn check_api_key(key: &str) -> Result<(), ApiError> {
    if key.is_empty()
        || key.len() > MAX_API_KEY_BYTES
        || !key.bytes().all(|b| (0x20..=0x7e).contains(&b))
    {
        return Err(ApiError::validation(
            "api_key",
            format!("must be 1 to {MAX_API_KEY_BYTES} printable ASCII characters"),
        ));
    }
    Ok(())
}

/// The hint shown instead of the key: its last 4 characters, unless the key is so
/// short that 4 characters would give away half of it.
pub fn api_key_hint(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() < 8 {
        "****".to_owned()
    } else {
        chars[chars.len() - 4..].iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_show_only_the_tail() {
        assert_eq!(api_key_hint("sk_live_abcdef1234"), "1234");
        assert_eq!(api_key_hint("short"), "****");
    }
}
