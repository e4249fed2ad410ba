//! Tokens: the access grants a buyer receives, carrying the seller's key.
//!
//! The seller's key is opened in the application, only for the grant's buyer, and
//! only while the grant is active. Every request that opens keys, and every
//! revocation, writes one audit record (who, which grants, when; never the secret).

pub mod handlers;

use serde::Serialize;
use sqlx::Row;
use utoipa::ToSchema;

use crate::accounts::User;
use crate::clock::{now_ms, rfc3339};
use crate::crypto::Purpose;
use crate::error::ApiError;
use crate::pagination::Page;
use crate::state::AppState;
use crate::vocab::GrantStatus;

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
    /// The seller's API key; null once revoked.
    pub access_token: Option<String>,
    /// Whether the token works.
    pub status: GrantStatus,
    /// RFC 3339 UTC.
    pub created_at: String,
}

/// A page of the buyer's tokens with their keys opened.
pub async fn list_for_buyer(
    state: &AppState,
    buyer: &User,
    page: &Page,
) -> Result<(Vec<TokenView>, Option<String>), ApiError> {
    let rows = sqlx::query(
        "SELECT g.id, g.order_id, g.listing_id, l.service_name, g.units, g.status, g.created_at, \
           l.api_key_key_id, l.api_key_sealed \
         FROM grants g JOIN listings l ON l.id = g.listing_id \
         WHERE g.buyer_id = $1 AND (g.created_at < $2 OR (g.created_at = $2 AND g.id < $3)) \
         ORDER BY g.created_at DESC, g.id DESC LIMIT $4",
    )
    .bind(&buyer.id)
    .bind(page.before.0)
    .bind(&page.before.1)
    .bind(page.limit + 1)
    .fetch_all(state.db.pool())
    .await?;
    let (rows, next) = crate::pagination::finish(rows, page.limit, |r| {
        (
            r.try_get(6).unwrap_or_default(),
            r.try_get(0).unwrap_or_default(),
        )
    });
    let mut opened = Vec::new();
    let mut items = Vec::with_capacity(rows.len());
    for row in &rows {
        let id: String = row.try_get(0)?;
        let listing_id: String = row.try_get(2)?;
        let status: GrantStatus = row.try_get(5)?;
        let access_token = if status == GrantStatus::Active {
            let key_id: String = row.try_get(7)?;
            let blob: Vec<u8> = row.try_get(8)?;
            match state
                .keyring
                .open(Purpose::ListingApiKey, &listing_id, &key_id, &blob)
            {
                Ok(secret) => {
                    opened.push(id.clone());
                    Some(secret.expose().to_owned())
                }
                Err(err) => {
                    tracing::error!(grant = %id, listing = %listing_id, error = %err, "cannot open a listing key");
                    None
                }
            }
        } else {
            None
        };
        items.push(TokenView {
            id,
            order_id: row.try_get(1)?,
            listing_id,
            service_name: row.try_get(3)?,
            units: row.try_get(4)?,
            access_token,
            status,
            created_at: rfc3339(row.try_get(6)?),
        });
    }
    if !opened.is_empty() {
        audit(state, &buyer.id, "open_grants", &opened.join(",")).await?;
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
    let buyer_id: String = row.try_get(0)?;
    let seller_id: String = row.try_get(1)?;
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
        .execute(state.db.pool())
        .await?;
    audit(state, &user.id, "revoke_grant", grant_id).await?;
    Ok(())
}

/// Writes one audit record.
pub async fn audit(
    state: &AppState,
    actor_id: &str,
    action: &str,
    subject: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO audit_log (actor_id, action, subject, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(actor_id)
    .bind(action)
    .bind(subject)
    .bind(now_ms())
    .execute(state.db.pool())
    .await?;
    Ok(())
}
