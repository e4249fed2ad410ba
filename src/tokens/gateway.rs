//! Buyers' gateway keys: issued with the first fulfilled order (or on first read),
//! rolled on request, and the usage they report.
//!
//! A buyer holds one key per gateway listing, whatever the number of orders: every
//! order adds a grant, and the key's allowance is the sum of the active grants, so
//! the purchase path never touches keys. The key is shown in full once, in the
//! answer that issued it: the `POST /orders` answer of the first order fulfilled at
//! once, else the first `GET /tokens` after the first order (orders paid through a
//! checkout), or a roll's answer; afterwards only its hint.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use sqlx::Row;
use utoipa::{IntoParams, ToSchema};

use super::TokenView;
use crate::accounts::User;
use crate::audit::AuditAction;
use crate::clock::rfc3339;
use crate::error::{ApiError, ErrorCode};
use crate::gateway::report::{UsageReport, buckets};
use crate::gateway::store::{self, KeyRow, UsageScope};
use crate::gateway::vocab::UsageGranularity;
use crate::state::AppState;
use crate::vocab::Delivery;

/// Longest grace period a roll may give the old key: 7 days.
pub const MAX_GRACE_SECONDS: i64 = 7 * 24 * 3600;

/// Keys met while building one page, so each listing's key is read (or issued) once.
#[derive(Default)]
pub struct Keys {
    seen: HashMap<String, (KeyRow, Option<String>)>,
}

impl Keys {
    /// Fills the gateway fields of a view; issues the key when the buyer has none and
    /// the grant is active (the one answer that shows it in full).
    pub async fn fill(
        &mut self,
        state: &AppState,
        buyer_id: &str,
        active: bool,
        view: &mut TokenView,
    ) -> Result<(), ApiError> {
        view.gateway_url = super::gateway_url(state, &view.listing_id);
        if !self.seen.contains_key(&view.listing_id) {
            let issued = if active {
                store::issue_if_missing(&state.db, buyer_id, &view.listing_id).await?
            } else {
                None
            };
            let Some(row) = store::key_of(&state.db, buyer_id, &view.listing_id).await? else {
                return Ok(());
            };
            if issued.is_some() {
                super::audit(state, buyer_id, AuditAction::IssueGatewayKey, &row.id).await?;
            }
            let plaintext = issued.map(|k| k.plaintext.expose().to_owned());
            self.seen.insert(view.listing_id.clone(), (row, plaintext));
        }
        if let Some((row, plaintext)) = self.seen.get(&view.listing_id) {
            view.gateway_key.clone_from(plaintext);
            view.gateway_key_hint = Some(row.key_hint.clone());
            view.requests_used = Some(row.used_requests);
            view.requests_allowed = Some(row.allowed_requests);
        }
        Ok(())
    }
}

/// A gateway key issued with an order, shown in that answer only.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderKey {
    /// The buyer's key for the listing, in full; shown this once.
    pub gateway_key: String,
    /// Its prefix and last four characters.
    pub gateway_key_hint: String,
    /// The base URL to call, `{gateway}/{listing_id}/`.
    pub gateway_url: Option<String>,
}

/// Issues the buyer's key for a gateway listing they just bought, unless they hold
/// one (a further order tops that one up: `None`). `None` too for `key` listings and
/// for orders not fulfilled yet (their key comes with `GET /tokens` once paid).
pub async fn issue_for_order(
    state: &AppState,
    buyer_id: &str,
    listing_id: &str,
) -> Result<Option<OrderKey>, ApiError> {
    if state
        .deliveries()
        .get(listing_id)
        .await
        .is_some_and(|d| d != Delivery::Gateway)
    {
        return Ok(None);
    }
    let row = sqlx::query(
        // Only a gateway listing looks at grants, and then for one (a buyer's grants
        // of a listing grow with every order; counting them all made every purchase
        // slower than the last).
        "SELECT l.delivery, \
           CASE WHEN l.delivery = $4 THEN (SELECT COUNT(*) FROM (SELECT 1 FROM grants g \
              WHERE g.buyer_id = $1 AND g.listing_id = l.id AND g.status = $3 LIMIT 1) one) \
           ELSE 0 END AS active_grants \
         FROM listings l WHERE l.id = $2",
    )
    .bind(buyer_id)
    .bind(listing_id)
    .bind(crate::vocab::GrantStatus::Active)
    .bind(Delivery::Gateway)
    .fetch_optional(state.db.pool())
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let delivery: Delivery = row.try_get("delivery")?;
    state.deliveries().remember(listing_id, delivery).await;
    let active_grants: i64 = row.try_get("active_grants")?;
    if delivery != Delivery::Gateway || active_grants == 0 {
        return Ok(None);
    }
    let Some(issued) = store::issue_if_missing(&state.db, buyer_id, listing_id).await? else {
        return Ok(None);
    };
    if let Some(row) = store::key_of(&state.db, buyer_id, listing_id).await? {
        super::audit(state, buyer_id, AuditAction::IssueGatewayKey, &row.id).await?;
    }
    Ok(Some(OrderKey {
        gateway_key: issued.plaintext.expose().to_owned(),
        gateway_key_hint: issued.hint,
        gateway_url: super::gateway_url(state, listing_id),
    }))
}

/// Query of `POST /tokens/{id}/roll`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RollQuery {
    /// Seconds the old key keeps working (0 to 604800; default 0: it stops at once).
    #[param(minimum = 0, maximum = 604800)]
    pub grace_seconds: Option<i64>,
}

/// A rolled (or first issued) key.
#[derive(Debug, Serialize, ToSchema)]
pub struct RolledKey {
    /// The grant the roll was asked through.
    pub id: String,
    /// The listing the key is for.
    pub listing_id: String,
    /// The new key, in full; shown this once.
    pub gateway_key: String,
    /// Its prefix and last four characters.
    pub gateway_key_hint: String,
    /// Until when the old key still works (RFC 3339), or null when it stopped at once.
    pub previous_key_expires_at: Option<String>,
    /// The base URL to call.
    pub gateway_url: Option<String>,
}

/// The grant's buyer and listing, if the caller is its buyer. The listing's seller
/// or an administrator gets 403; anyone else 404 (grant ids cannot be probed).
async fn own_gateway_grant(
    state: &AppState,
    user: &User,
    grant_id: &str,
) -> Result<String, ApiError> {
    if !crate::ids::is_well_formed(grant_id) {
        return Err(ApiError::not_found("token"));
    }
    let row = sqlx::query(
        "SELECT g.buyer_id, g.seller_id, g.listing_id, l.delivery \
         FROM grants g JOIN listings l ON l.id = g.listing_id WHERE g.id = $1",
    )
    .bind(grant_id)
    .fetch_optional(state.db.pool())
    .await?
    .ok_or_else(|| ApiError::not_found("token"))?;
    let buyer_id: String = row.try_get("buyer_id")?;
    let seller_id: String = row.try_get("seller_id")?;
    if buyer_id != user.id {
        return Err(if seller_id == user.id || user.is_admin {
            ApiError::forbidden("only the token's buyer may do this")
        } else {
            ApiError::not_found("token")
        });
    }
    let delivery: Delivery = row.try_get("delivery")?;
    if delivery != Delivery::Gateway {
        return Err(ApiError::conflict(
            ErrorCode::NotGatewayDelivery,
            "this token's listing hands out the seller's key; it has no gateway key",
        ));
    }
    Ok(row.try_get("listing_id")?)
}

/// Issues a new key for the grant's listing; the old one keeps working for
/// `grace_seconds` (none by default).
pub async fn roll(
    state: &AppState,
    user: &User,
    grant_id: &str,
    grace_seconds: Option<i64>,
) -> Result<RolledKey, ApiError> {
    let grace = grace_seconds.unwrap_or(0);
    if !(0..=MAX_GRACE_SECONDS).contains(&grace) {
        return Err(ApiError::validation(
            "grace_seconds",
            format!("must be 0 to {MAX_GRACE_SECONDS}"),
        ));
    }
    let listing_id = own_gateway_grant(state, user, grant_id).await?;
    let (issued, previous_key_expires_at) =
        match store::issue_if_missing(&state.db, &user.id, &listing_id).await? {
            Some(issued) => (issued, None),
            None => {
                let row = store::key_of(&state.db, &user.id, &listing_id)
                    .await?
                    .ok_or_else(|| ApiError::not_found("token"))?;
                let issued = store::roll(&state.db, &row.id, grace * 1000).await?;
                let until = (grace > 0).then(|| rfc3339(crate::clock::now_ms() + grace * 1000));
                (issued, until)
            }
        };
    super::audit(state, &user.id, AuditAction::RollGatewayKey, grant_id).await?;
    Ok(RolledKey {
        id: grant_id.to_owned(),
        gateway_url: super::gateway_url(state, &listing_id),
        listing_id,
        gateway_key: issued.plaintext.expose().to_owned(),
        gateway_key_hint: issued.hint,
        previous_key_expires_at,
    })
}

/// The usage of the buyer's key for the grant's listing.
pub async fn usage(
    state: &AppState,
    user: &User,
    grant_id: &str,
    granularity: Option<UsageGranularity>,
) -> Result<UsageReport, ApiError> {
    let granularity = granularity.unwrap_or(UsageGranularity::Hour);
    let listing_id = own_gateway_grant(state, user, grant_id).await?;
    let Some(key) = store::key_of(&state.db, &user.id, &listing_id).await? else {
        return Ok(UsageReport {
            granularity,
            items: Vec::new(),
            requests_used: 0,
            requests_allowed: 0,
        });
    };
    Ok(UsageReport {
        granularity,
        items: buckets(&state.db, UsageScope::Key(&key.id), granularity).await?,
        requests_used: key.used_requests,
        requests_allowed: key.allowed_requests,
    })
}
