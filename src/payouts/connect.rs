//! Stripe Connect onboarding: one Express connected account per seller, the link
//! to Stripe's onboarding form, and `account.updated` events keeping what Stripe
//! says of the account (charges, payouts, requirements) current.
//!
//! The account is created with an idempotency key derived from the seller id, so two
//! clicks (or two replicas) create one account; the row is inserted with `ON
//! CONFLICT DO NOTHING` and read back, so the first stored account wins. Events are
//! applied only to the account on record, and only when newer than the state held
//! (`state_at`): Stripe does not promise to deliver events in order.

use serde::Serialize;
use sqlx::{AnyConnection, Row};
use utoipa::ToSchema;

use crate::accounts::User;
use crate::db::{Db, Tx};
use crate::error::{ApiError, ErrorCode};
use crate::payments::confirm::{Applied, Mismatch};
use crate::payments::stripe::{Account, Event, StripeClient, StripeError};
use crate::state::AppState;
use crate::vocab::EventOutcome;

/// A seller's connected account, as Stripe last described it.
#[derive(Clone, Debug, Serialize, ToSchema, PartialEq, Eq)]
pub struct ConnectedAccount {
    /// Stripe's account id, `acct_…`.
    pub id: String,
    /// Stripe lets the account take charges.
    pub charges_enabled: bool,
    /// Stripe pays out to the seller's bank; payouts are made only when true.
    pub payouts_enabled: bool,
    /// The seller finished Stripe's onboarding form.
    pub details_submitted: bool,
    /// What Stripe still needs from the seller now (`requirements.currently_due`).
    pub requirements_due: Vec<String>,
    /// When UDAM last heard of it (RFC 3339).
    pub updated_at: String,
}

/// The Stripe client for Connect calls, or `None` when Stripe is not configured
/// (payouts are then simulated).
pub fn stripe_client(state: &AppState) -> Option<StripeClient> {
    state
        .config
        .stripe_secret_key
        .as_ref()
        .map(|key| StripeClient::new(&state.config.stripe_api_base, key.expose()))
}

fn from_row(row: &sqlx::any::AnyRow) -> Result<ConnectedAccount, sqlx::Error> {
    let due: String = row.try_get("requirements_due")?;
    Ok(ConnectedAccount {
        id: row.try_get("stripe_account_id")?,
        charges_enabled: row.try_get::<i64, _>("charges_enabled")? == 1,
        payouts_enabled: row.try_get::<i64, _>("payouts_enabled")? == 1,
        details_submitted: row.try_get::<i64, _>("details_submitted")? == 1,
        requirements_due: due
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        updated_at: crate::clock::rfc3339(row.try_get("updated_at")?),
    })
}

const COLUMNS: &str = "stripe_account_id, charges_enabled, payouts_enabled, details_submitted, \
                       requirements_due, updated_at";

/// `seller`'s connected account, if they started onboarding.
pub async fn account_of(db: &Db, seller: &str) -> Result<Option<ConnectedAccount>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM connected_accounts WHERE seller_id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(seller)
        .fetch_optional(db.pool())
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// The account a payout to `seller` goes to: only one Stripe pays out from. Read
/// inside the payout's transaction.
pub async fn payout_destination(
    conn: &mut AnyConnection,
    seller: &str,
) -> Result<Option<String>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT stripe_account_id FROM connected_accounts \
         WHERE seller_id = $1 AND payouts_enabled = 1",
    )
    .bind(seller)
    .fetch_optional(conn)
    .await?;
    row.map(|r| r.try_get("stripe_account_id")).transpose()
}

async fn insert(db: &Db, seller: &str, account: &Account, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO connected_accounts (seller_id, stripe_account_id, charges_enabled, \
         payouts_enabled, details_submitted, requirements_due, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7) ON CONFLICT (seller_id) DO NOTHING",
    )
    .bind(seller)
    .bind(&account.id)
    .bind(i64::from(account.charges_enabled))
    .bind(i64::from(account.payouts_enabled))
    .bind(i64::from(account.details_submitted))
    .bind(account.requirements.currently_due.join(","))
    .bind(now)
    .execute(db.writes())
    .await?;
    Ok(())
}

/// An onboarding link for a seller's connected account.
#[derive(Debug, Serialize, ToSchema)]
pub struct Onboarding {
    /// The account (created now, or the one on record).
    pub account: ConnectedAccount,
    /// Stripe's onboarding form; single use, valid for minutes.
    pub onboarding_url: String,
    /// When the link stops working (RFC 3339), if Stripe said.
    pub expires_at: Option<String>,
}

/// A Stripe failure as the API shows it: 503 when a retry may work, 502 otherwise;
/// the message never carries the key.
fn stripe_failed(err: &StripeError) -> ApiError {
    tracing::warn!(error = %err, "a Stripe Connect call failed");
    let status = if err.is_retryable() {
        axum::http::StatusCode::SERVICE_UNAVAILABLE
    } else {
        axum::http::StatusCode::BAD_GATEWAY
    };
    ApiError::new(
        status,
        ErrorCode::PaymentProviderUnavailable,
        "Stripe did not answer as expected; try again later",
    )
}

/// Creates the seller's Express account if they have none, and a fresh onboarding
/// link that brings them back to `/dashboard/payouts`. 404 when Stripe is not
/// configured (payouts are simulated, nothing to onboard).
pub async fn start_onboarding(state: &AppState, seller: &User) -> Result<Onboarding, ApiError> {
    let Some(client) = stripe_client(state) else {
        return Err(ApiError::not_found(
            "payout account (Stripe is not configured: payouts are simulated)",
        ));
    };
    let account = match account_of(&state.db, &seller.id).await? {
        Some(account) => account,
        None => {
            // The key makes a repeated click (or a racing request) get the same
            // account back from Stripe instead of a second one.
            let key = format!("udam-connect-account-{}", seller.id);
            let created = client
                .create_express_account(&seller.email, &seller.id, &key)
                .await
                .map_err(|e| stripe_failed(&e))?;
            insert(&state.db, &seller.id, &created, crate::clock::now_ms()).await?;
            tracing::info!(seller = %seller.id, account = %created.id, "connected account created");
            account_of(&state.db, &seller.id)
                .await?
                .ok_or_else(|| ApiError::internal(anyhow::anyhow!("connected account vanished")))?
        }
    };
    let back = format!("{}/dashboard/payouts", state.public_url());
    // Links are single use: each request gets a new one.
    let key = crate::ids::new_id("udam-account-link");
    let link = client
        .create_account_link(
            &account.id,
            &format!("{back}?onboarding=refresh"),
            &format!("{back}?onboarding=return"),
            &key,
        )
        .await
        .map_err(|e| stripe_failed(&e))?;
    Ok(Onboarding {
        account,
        onboarding_url: link.url,
        expires_at: link.expires_at.map(|s| crate::clock::rfc3339(s * 1000)),
    })
}

/// `account.updated`: stores what Stripe now says of an account on record, unless a
/// newer event already did. An account not on record is a mismatch (stored with its
/// reason, nothing changed).
pub async fn account_updated(tx: &mut Tx, event: &Event) -> Result<Applied, ApiError> {
    let Some(account) = event.connected_account() else {
        return Ok(Ok(EventOutcome::Ignored));
    };
    // A Connect event names the account it happened on; it must be the one carried.
    if let Some(on) = event.account.as_deref().filter(|on| *on != account.id) {
        return Ok(Err(Mismatch(format!(
            "event on account {on} carries account {}",
            account.id
        ))));
    }
    let done = sqlx::query(
        "UPDATE connected_accounts SET charges_enabled = $1, payouts_enabled = $2, \
         details_submitted = $3, requirements_due = $4, state_at = $5, updated_at = $6 \
         WHERE stripe_account_id = $7 AND state_at <= $5",
    )
    .bind(i64::from(account.charges_enabled))
    .bind(i64::from(account.payouts_enabled))
    .bind(i64::from(account.details_submitted))
    .bind(account.requirements.currently_due.join(","))
    .bind(event.created)
    .bind(crate::clock::now_ms())
    .bind(&account.id)
    .execute(&mut **tx)
    .await?;
    if done.rows_affected() == 1 {
        return Ok(Ok(EventOutcome::AccountUpdated));
    }
    let known =
        sqlx::query("SELECT seller_id FROM connected_accounts WHERE stripe_account_id = $1")
            .bind(&account.id)
            .fetch_optional(&mut **tx)
            .await?
            .is_some();
    if known {
        // A newer event was applied already: this older state changes nothing.
        Ok(Ok(EventOutcome::Ignored))
    } else {
        Ok(Err(Mismatch(format!(
            "no connected account {} on record",
            account.id
        ))))
    }
}
