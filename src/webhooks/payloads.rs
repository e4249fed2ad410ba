//! The `data` of the events added with migration `0012_webhook_allowance_payouts`:
//! `allowance.low` (a buyer's gateway key) and the `payout.*` events (a seller's
//! payout), rendered from the rows the triggers copied through the REST API's views
//! (`TokenView`, `Payout`), as [`events`](super::events) does for the others.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::clock::rfc3339;
use crate::payouts::model::{Payout, PayoutProviderKind, PayoutStatus};
use crate::state::AppState;
use crate::tokens::TokenView;
use crate::vocab::{Delivery, GrantStatus};

/// The `data` of an `allowance.low` event: the buyer's token as `GET /tokens` shows
/// it (through the key's newest active grant; never the key itself), plus the counts.
///
/// `used`, `requests_used` and `requests_allowed` are the counts when the threshold was
/// reached. `used` counts the requests the gateway has taken from the allowance, which
/// includes a block held by a gateway process and not yet served (at most an eighth of
/// what remained); `GET /tokens` shows served requests, so it may read a little lower.
#[derive(Debug, Serialize, ToSchema)]
pub struct AllowanceEvent {
    /// The token view.
    #[serde(flatten)]
    pub token: TokenView,
    /// The gateway key, `gwk_…` (one per buyer and listing, shared by its grants).
    pub key_id: String,
    /// Requests taken from the allowance.
    pub used: i64,
    /// Requests bought: active grants' units × the listing's requests per unit.
    pub allowance: i64,
    /// The threshold reached: 80, 90 or 100 (% of `allowance` used).
    pub threshold_percent: i64,
}

/// The row the allowance trigger copies.
#[derive(Deserialize)]
struct AllowanceRow {
    grant_id: String,
    order_id: String,
    listing_id: String,
    service_name: String,
    units: i64,
    status: GrantStatus,
    created_at: i64,
    delivery: Delivery,
    key_id: String,
    key_hint: String,
    used: i64,
    allowance: i64,
    threshold_percent: i64,
}

/// Renders an `allowance.low` object.
pub fn allowance(state: &AppState, object: &str) -> anyhow::Result<serde_json::Value> {
    let row: AllowanceRow = serde_json::from_str(object)?;
    let token = TokenView {
        gateway_url: crate::tokens::gateway_url(state, &row.listing_id),
        id: row.grant_id,
        order_id: row.order_id,
        listing_id: row.listing_id,
        service_name: row.service_name,
        units: row.units,
        access_token: None,
        status: row.status,
        created_at: rfc3339(row.created_at),
        delivery: row.delivery,
        gateway_key: None,
        gateway_key_hint: Some(row.key_hint),
        requests_used: Some(row.used),
        requests_allowed: Some(row.allowance),
    };
    Ok(serde_json::to_value(AllowanceEvent {
        token,
        key_id: row.key_id,
        used: row.used,
        allowance: row.allowance,
        threshold_percent: row.threshold_percent,
    })?)
}

/// The row the payout triggers copy.
#[derive(Deserialize)]
struct PayoutRow {
    id: String,
    seller_id: String,
    currency: String,
    amount_cents: i64,
    status: PayoutStatus,
    provider: PayoutProviderKind,
    provider_transfer_id: Option<String>,
    /// Stripe's connected account (migration 0011); absent in events written before.
    #[serde(default)]
    destination: Option<String>,
    attempts: i64,
    created_at: i64,
    updated_at: i64,
}

/// Renders a `payout.*` object as `GET /payouts` shows it.
pub fn payout(object: &str) -> anyhow::Result<serde_json::Value> {
    let row: PayoutRow = serde_json::from_str(object)?;
    Ok(serde_json::to_value(Payout {
        id: row.id,
        seller_id: row.seller_id,
        currency: row.currency,
        amount_cents: row.amount_cents,
        status: row.status,
        provider: row.provider,
        simulated: row.provider == PayoutProviderKind::Dev,
        transfer_id: row.provider_transfer_id,
        destination: row.destination,
        attempts: row.attempts,
        created_at: rfc3339(row.created_at),
        updated_at: rfc3339(row.updated_at),
    })?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payout_reads_as_the_api_shows_it() {
        let data = payout(
            r#"{"id":"po_1","seller_id":"usr_1","currency":"usd","amount_cents":1800,
                "status":"paid","provider":"dev","provider_transfer_id":"tr_1",
                "attempts":1,"created_at":0,"updated_at":1500}"#,
        )
        .expect("renders");
        assert_eq!(data["simulated"], true);
        assert_eq!(data["transfer_id"], "tr_1");
        assert_eq!(data["updated_at"], "1970-01-01T00:00:01.5Z");
    }
}
