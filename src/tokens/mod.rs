//! Tokens: the access grants a buyer receives, carrying the seller's key (`key`
//! listings) or drawing on the buyer's gateway key (`gateway` listings, see
//! [`gateway`]).
//!
//! The seller's key is opened in the application, only for the grant's buyer, only
//! while the grant is active, and never for a gateway listing. Every request that opens keys, and every
//! revocation, writes one audit record (who, which grants, when; never the secret).

pub mod gateway;
pub mod handlers;

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use serde::Serialize;
use sqlx::Row;
use utoipa::ToSchema;

use crate::accounts::User;
use crate::audit::AuditAction;
use crate::clock::{now_ms, rfc3339};
use crate::crypto::{Purpose, SecretString};
use crate::db::Db;
use crate::error::ApiError;
use crate::pagination::Page;
use crate::state::AppState;
use crate::vocab::{Delivery, GrantStatus};

/// A grant as the buyer sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenView {
    /// Grant id, `tok_…`.
    pub id: String,
    /// The order that bought it.
    pub order_id: String,
    /// The listing.
    pub listing_id: String,
    /// The listing's name.
    pub service_name: String,
    /// Units bought.
    pub units: i64,
    /// `key` listings: the seller's API key; null once revoked, and always null for
    /// `gateway` listings (their buyers hold `gateway_key`).
    pub access_token: Option<String>,
    /// Whether the token works.
    pub status: GrantStatus,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// How the listing is delivered.
    pub delivery: Delivery,
    /// Gateway listings: the buyer's key, in full only in the answer that issued it
    /// (the first read after the first order, or a roll); null afterwards.
    pub gateway_key: Option<String>,
    /// Gateway listings: the key's prefix and last four characters.
    pub gateway_key_hint: Option<String>,
    /// Gateway listings: the base URL to call, `{gateway}/{listing_id}/`.
    pub gateway_url: Option<String>,
    /// Gateway listings: requests taken so far by the key (all its grants together).
    pub requests_used: Option<i64>,
    /// Gateway listings: requests bought (active grants' units × requests per unit).
    pub requests_allowed: Option<i64>,
}

/// A row of the buyer's grants, decoded by name.
#[derive(sqlx::FromRow)]
struct GrantRow {
    id: String,
    order_id: String,
    listing_id: String,
    service_name: String,
    units: i64,
    status: GrantStatus,
    created_at: i64,
    delivery: Delivery,
    api_key_key_id: String,
    api_key_sealed: Vec<u8>,
}

/// A page of the buyer's grants, newest first, with their listings' delivery and
/// sealed key (`limit + 1` rows, for the next cursor).
const GRANT_PAGE_SQL: &str = "SELECT g.id, g.order_id, g.listing_id, l.service_name, g.units, \
       g.status, g.created_at, l.delivery, l.api_key_key_id, l.api_key_sealed \
     FROM grants g JOIN listings l ON l.id = g.listing_id \
     WHERE g.buyer_id = $1 AND (g.created_at < $2 OR (g.created_at = $2 AND g.id < $3)) \
     ORDER BY g.created_at DESC, g.id DESC LIMIT $4";

/// Reads [`GRANT_PAGE_SQL`]. On PostgreSQL through the native pool, whose rows decode
/// in place: the `Any` driver first copies every row with its own list of columns,
/// which was about a quarter of the server's CPU on `GET /tokens` (50 rows a page).
async fn grant_rows(db: &Db, buyer_id: &str, page: &Page) -> Result<Vec<GrantRow>, sqlx::Error> {
    macro_rules! fetch {
        ($pool:expr) => {
            sqlx::query_as::<_, GrantRow>(GRANT_PAGE_SQL)
                .bind(buyer_id)
                .bind(page.before.0)
                .bind(&page.before.1)
                .bind(page.limit + 1)
                .fetch_all($pool)
                .await
        };
    }
    match db.pg() {
        Some(pg) => fetch!(pg),
        None => fetch!(db.pool()),
    }
}

/// The gateway URL of a listing, when the gateway has a public address.
pub fn gateway_url(state: &AppState, listing_id: &str) -> Option<String> {
    state
        .config
        .gateway
        .gateway_public_url
        .as_deref()
        .map(|base| format!("{}/{listing_id}/", base.trim_end_matches('/')))
}

/// A page of the buyer's tokens with their keys opened (`key` listings) or their
/// gateway keys issued on first read (`gateway` listings).
pub async fn list_for_buyer(
    state: &AppState,
    buyer: &User,
    page: &Page,
) -> Result<(Vec<TokenView>, Option<String>), ApiError> {
    let rows = grant_rows(&state.db, &buyer.id, page).await?;
    let (rows, next) =
        crate::pagination::finish(rows, page.limit, |r| (r.created_at, r.id.clone()));
    let mut opened = Vec::new();
    let mut open_keys: HashMap<String, SecretString> = HashMap::new();
    let mut keys = gateway::Keys::default();
    let mut items = Vec::with_capacity(rows.len());
    for row in rows {
        let active = row.status == GrantStatus::Active;
        let mut view = TokenView {
            id: row.id.clone(),
            order_id: row.order_id,
            listing_id: row.listing_id.clone(),
            service_name: row.service_name,
            units: row.units,
            access_token: None,
            status: row.status,
            created_at: rfc3339(row.created_at),
            delivery: row.delivery,
            gateway_key: None,
            gateway_key_hint: None,
            gateway_url: None,
            requests_used: None,
            requests_allowed: None,
        };
        match row.delivery {
            Delivery::Key if active => {
                // A buyer's grants often share a listing (every top-up is a grant):
                // its key is opened once per request, from the same sealed blob.
                let secret = match open_keys.entry(row.listing_id) {
                    Entry::Occupied(known) => Some(known.into_mut()),
                    Entry::Vacant(slot) => match state.keyring.open(
                        Purpose::ListingApiKey,
                        slot.key(),
                        &row.api_key_key_id,
                        &row.api_key_sealed,
                    ) {
                        Ok(secret) => Some(slot.insert(secret)),
                        Err(err) => {
                            tracing::error!(grant = %row.id, listing = %slot.key(), error = %err, "cannot open a listing key");
                            None
                        }
                    },
                };
                if let Some(secret) = secret {
                    view.access_token = Some(secret.expose().to_owned());
                    opened.push(row.id);
                }
            }
            Delivery::Key => {}
            Delivery::Gateway => keys.fill(state, &buyer.id, active, &mut view).await?,
        }
        items.push(view);
    }
    if !opened.is_empty() {
        audit(state, &buyer.id, AuditAction::OpenGrants, &opened.join(",")).await?;
    }
    Ok((items, next))
}

/// Revokes a grant: its listing's seller or an administrator may; the buyer gets
/// 403; anyone else 404 (grant ids cannot be probed).
pub async fn revoke(state: &AppState, user: &User, grant_id: &str) -> Result<(), ApiError> {
    if !crate::ids::is_well_formed(grant_id) {
        return Err(ApiError::not_found("token"));
    }
    let row = sqlx::query("SELECT buyer_id, seller_id FROM grants WHERE id = $1")
        .bind(grant_id)
        .fetch_optional(state.db.pool())
        .await?
        .ok_or_else(|| ApiError::not_found("token"))?;
    let buyer_id: String = row.try_get("buyer_id")?;
    let seller_id: String = row.try_get("seller_id")?;
    if seller_id != user.id && !user.is_admin {
        return Err(if buyer_id == user.id {
            ApiError::forbidden("only the listing's seller or an administrator may revoke a token")
        } else {
            ApiError::not_found("token")
        });
    }
    sqlx::query("UPDATE grants SET status = $3, revoked_at = $2 WHERE id = $1 AND status = $4")
        .bind(grant_id)
        .bind(now_ms())
        .bind(GrantStatus::Revoked)
        .bind(GrantStatus::Active)
        .execute(state.db.writes())
        .await?;
    audit(state, &user.id, AuditAction::RevokeGrant, grant_id).await?;
    Ok(())
}

/// Writes one audit record; it is committed when this returns.
pub async fn audit(
    state: &AppState,
    actor_id: &str,
    action: AuditAction,
    subject: &str,
) -> Result<(), ApiError> {
    state
        .audit()
        .write(&state.db, actor_id, action, subject)
        .await
        .map_err(ApiError::internal)
}
