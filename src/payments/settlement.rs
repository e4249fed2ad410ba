//! Settling the unpaid balance: one checkout for everything a buyer owes in a
//! currency for instantly fulfilled orders. Its confirmation marks those orders
//! `paid` and lowers the balance by exactly their total.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::CheckoutRequest;
use crate::accounts::{AuthUser, User};
use crate::clock::{now_ms, rfc3339};
use crate::db::Tx;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::extract::ApiJson;
use crate::ids::new_id;
use crate::state::AppState;
use crate::vocab::{PaymentStatus, SettlementStatus};

/// The settlement route, relative to `/api/v1`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(settle_balance))
}

/// Body of `POST /balance/settle`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettleRequest {
    /// The currency to settle.
    #[schema(example = "usd")]
    pub currency: String,
}

/// A settlement awaiting (or past) payment.
#[derive(Debug, Serialize, ToSchema)]
pub struct SettlementView {
    /// `stl_…`
    pub id: String,
    /// Currency.
    pub currency: String,
    /// Amount to pay, minor units.
    pub amount_cents: i64,
    /// Where the settlement stands.
    pub status: SettlementStatus,
    /// Where to pay.
    pub checkout_url: Option<String>,
    /// RFC 3339 UTC.
    pub created_at: String,
}

/// Starts (or returns the open) settlement of what `user` owes in `currency`.
pub async fn settle(
    state: &AppState,
    user: &User,
    currency: &str,
) -> Result<SettlementView, ApiError> {
    let currency = crate::listings::model::check_currency(currency)?;
    if let Some(open) = open_settlement(state, &user.id, &currency).await? {
        return Ok(open);
    }
    let id = new_id("stl");
    let now = now_ms();
    let ttl = i64::try_from(state.config.reservation_ttl.0.as_millis()).unwrap_or(i64::MAX);
    let expires_at = crate::clock::ceil_to_second(now.saturating_add(ttl));
    let mut tx = state.db.begin_write().await?;
    // Claim every deferred order not yet in a settlement; their sum is the amount.
    let claimed = sqlx::query(
        "UPDATE orders SET settlement_id = $1 \
         WHERE buyer_id = $2 AND currency = $3 AND payment_status = $4 \
           AND settlement_id IS NULL \
         RETURNING total_cents",
    )
    .bind(&id)
    .bind(&user.id)
    .bind(&currency)
    .bind(PaymentStatus::Deferred)
    .fetch_all(&mut *tx)
    .await?;
    let amount: i64 = claimed
        .iter()
        .map(|r| r.try_get::<i64, _>(0))
        .sum::<Result<i64, _>>()?;
    if amount <= 0 {
        tx.rollback().await?;
        return Err(ApiError::conflict(
            ErrorCode::NothingOwed,
            "there is nothing to settle in this currency",
        ));
    }
    sqlx::query(
        "INSERT INTO settlements (id, user_id, currency, amount_cents, status, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $6, $5, $5)",
    )
    .bind(&id)
    .bind(&user.id)
    .bind(&currency)
    .bind(amount)
    .bind(now)
    .bind(SettlementStatus::Pending)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;

    let base = state.public_url();
    let request = CheckoutRequest {
        reference: id.clone(),
        kind: crate::vocab::CheckoutKind::Settlement,
        product_name: "Settlement of your UDAM balance".to_owned(),
        currency: currency.clone(),
        unit_amount: amount,
        quantity: 1,
        expires_at_ms: expires_at,
        success_url: format!("{base}/balance?settled={id}"),
        cancel_url: format!("{base}/balance"),
    };
    match state.payments.create_checkout(&request).await {
        Ok(checkout) => {
            sqlx::query(
                "UPDATE settlements SET provider_session_id = $2, checkout_url = $3 WHERE id = $1",
            )
            .bind(&id)
            .bind(&checkout.session_id)
            .bind(&checkout.url)
            .execute(state.db.pool())
            .await?;
            Ok(SettlementView {
                id,
                currency,
                amount_cents: amount,
                status: SettlementStatus::Pending,
                checkout_url: Some(checkout.url),
                created_at: rfc3339(now),
            })
        }
        Err(err) => {
            tracing::warn!(settlement = %id, error = %err, "payment provider failed; settlement abandoned");
            let mut tx = state.db.begin_write().await?;
            mark_lapsed(&mut tx, &id, SettlementStatus::Failed).await?;
            tx.commit().await?;
            Err(ApiError::new(
                StatusCode::BAD_GATEWAY,
                ErrorCode::PaymentProviderUnavailable,
                "the payment provider is unavailable; nothing was charged",
            ))
        }
    }
}

async fn open_settlement(
    state: &AppState,
    user_id: &str,
    currency: &str,
) -> Result<Option<SettlementView>, ApiError> {
    let row = sqlx::query(
        "SELECT id, amount_cents, checkout_url, created_at FROM settlements \
         WHERE user_id = $1 AND currency = $2 AND status = $3 AND checkout_url IS NOT NULL \
         ORDER BY created_at DESC LIMIT 1",
    )
    .bind(user_id)
    .bind(currency)
    .bind(SettlementStatus::Pending)
    .fetch_optional(state.db.pool())
    .await?;
    row.map(|r| {
        Ok(SettlementView {
            id: r.try_get(0)?,
            currency: currency.to_owned(),
            amount_cents: r.try_get(1)?,
            status: SettlementStatus::Pending,
            checkout_url: r.try_get(2)?,
            created_at: rfc3339(r.try_get(3)?),
        })
    })
    .transpose()
    .map_err(|e: sqlx::Error| e.into())
}

/// Marks a pending settlement paid: its orders become `paid` and the balance drops
/// by their total. False when it was not pending (a duplicate confirmation).
pub async fn mark_paid(tx: &mut Tx, id: &str) -> Result<bool, sqlx::Error> {
    let now = now_ms();
    let Some(row) = sqlx::query(
        "UPDATE settlements SET status = $3, updated_at = $2 \
         WHERE id = $1 AND status IN ($4, $5, $6) \
         RETURNING user_id, currency, created_at",
    )
    .bind(id)
    .bind(now)
    .bind(SettlementStatus::Paid)
    .bind(SettlementStatus::Pending)
    .bind(SettlementStatus::Expired)
    .bind(SettlementStatus::Failed)
    .fetch_optional(&mut **tx)
    .await?
    else {
        return Ok(false);
    };
    let user_id: String = row.try_get(0)?;
    let currency: String = row.try_get(1)?;
    let created_at: i64 = row.try_get(2)?;
    // A settlement paid after it lapsed still pays for the orders it claimed and that
    // no other settlement has paid since.
    let paid = sqlx::query(
        "UPDATE orders SET payment_status = $6, settlement_id = $1, updated_at = $2 \
         WHERE payment_status = $7 AND (settlement_id = $1 OR settlement_id IS NULL) \
           AND buyer_id = $3 AND currency = $4 AND created_at <= $5 \
         RETURNING total_cents",
    )
    .bind(id)
    .bind(now)
    .bind(&user_id)
    .bind(&currency)
    .bind(created_at)
    .bind(PaymentStatus::Paid)
    .bind(PaymentStatus::Deferred)
    .fetch_all(&mut **tx)
    .await?;
    let total: i64 = paid
        .iter()
        .map(|r| r.try_get::<i64, _>(0))
        .sum::<Result<i64, _>>()?;
    sqlx::query(
        "UPDATE balances SET owed_cents = owed_cents - $3 WHERE user_id = $1 AND currency = $2",
    )
    .bind(&user_id)
    .bind(&currency)
    .bind(total)
    .execute(&mut **tx)
    .await?;
    Ok(true)
}

/// Marks a pending settlement `expired` or `failed` and frees its orders for the
/// next settlement. False when it was not pending.
pub async fn mark_lapsed(
    tx: &mut Tx,
    id: &str,
    status: SettlementStatus,
) -> Result<bool, sqlx::Error> {
    let lapsed = sqlx::query(
        "UPDATE settlements SET status = $2, updated_at = $3 WHERE id = $1 AND status = $4",
    )
    .bind(id)
    .bind(status)
    .bind(now_ms())
    .bind(SettlementStatus::Pending)
    .execute(&mut **tx)
    .await?;
    if lapsed.rows_affected() == 0 {
        return Ok(false);
    }
    sqlx::query(
        "UPDATE orders SET settlement_id = NULL WHERE settlement_id = $1 AND payment_status = $2",
    )
    .bind(id)
    .bind(PaymentStatus::Deferred)
    .execute(&mut **tx)
    .await?;
    Ok(true)
}

/// Pays what the caller owes in one currency through a checkout.
#[utoipa::path(post, path = "/balance/settle", tag = "orders",
    security(("bearer" = [])),
    request_body = SettleRequest,
    responses(
        (status = 201, description = "A checkout for the amount owed", body = SettlementView),
        (status = 409, description = "`nothing_owed`", body = crate::error::ErrorBody),
        (status = 502, description = "`payment_provider_unavailable`", body = crate::error::ErrorBody),
    ))]
async fn settle_balance(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(req): ApiJson<SettleRequest>,
) -> ApiResult<(StatusCode, Json<SettlementView>)> {
    let view = settle(&state, &auth.user, &req.currency).await?;
    Ok((StatusCode::CREATED, Json(view)))
}
