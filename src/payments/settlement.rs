//! Settling the unpaid balance: one checkout for a definite set of the deferred
//! orders a buyer owes in a currency. The set is claimed and recorded when the
//! settlement is created; its payment marks exactly that set paid and lowers the
//! balance by exactly its sum (issue 12, defects 1 and 2; docs/PAYMENTS.md).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::CheckoutRequest;
use super::confirm::{Applied, Mismatch, PaidCheckout};
use crate::accounts::{AuthUser, User};
use crate::clock::{now_ms, rfc3339};
use crate::db::Tx;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::extract::ApiJson;
use crate::ids::new_id;
use crate::state::AppState;
use crate::vocab::{EventOutcome, PaymentStatus, SettlementStatus};

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

/// Most orders one settlement pays: its payment reads each order's sale, so a set
/// of any size would make the webhook that pays it slower than Stripe waits for.
/// A buyer who owes for more settles again once this one is paid.
pub const MAX_SETTLEMENT_ORDERS: i64 = 1_000;

/// Starts (or returns the open) settlement of what `user` owes in `currency`.
///
/// The settlement claims its orders in the transaction that creates it: the oldest
/// [`MAX_SETTLEMENT_ORDERS`] deferred orders of the buyer in that currency that no
/// other settlement holds. Free orders owe nothing and are never claimed. The
/// set is recorded (`settlement_orders`) and the amount is exactly its sum. At most
/// one settlement per buyer and currency is open (a unique index): a second request,
/// even a concurrent one, gets the open one back.
pub async fn settle(
    state: &AppState,
    user: &User,
    currency: &str,
) -> Result<SettlementView, ApiError> {
    let currency = crate::listings::model::check_currency(currency)?;
    if let Some(open) = open_settlement(state, &user.id, &currency).await? {
        return with_checkout(state, open).await;
    }
    let id = new_id("stl");
    let now = now_ms();
    let mut tx = state.db.begin_write().await?;
    let opened = sqlx::query(
        "INSERT INTO settlements (id, user_id, currency, amount_cents, status, created_at, updated_at) \
         VALUES ($1, $2, $3, 0, $5, $4, $4) ON CONFLICT DO NOTHING",
    )
    .bind(&id)
    .bind(&user.id)
    .bind(&currency)
    .bind(now)
    .bind(SettlementStatus::Pending)
    .execute(&mut *tx)
    .await?;
    if opened.rows_affected() == 0 {
        // Another request opened one meanwhile: that one is the answer.
        tx.rollback().await?;
        return match open_settlement(state, &user.id, &currency).await? {
            Some(open) => with_checkout(state, open).await,
            None => Err(nothing_owed()),
        };
    }
    // The oldest owed orders, at most MAX_SETTLEMENT_ORDERS. The conditions are
    // repeated outside the subquery: PostgreSQL re-checks only those on a row that
    // changed meanwhile.
    let claimed = sqlx::query(
        "UPDATE orders SET settlement_id = $1 \
         WHERE buyer_id = $2 AND currency = $3 AND payment_status = $4 \
           AND settlement_id IS NULL AND total_cents > 0 \
           AND id IN (SELECT id FROM orders \
                      WHERE buyer_id = $2 AND currency = $3 AND payment_status = $4 \
                        AND settlement_id IS NULL AND total_cents > 0 \
                      ORDER BY created_at, id LIMIT $5) \
         RETURNING id, total_cents",
    )
    .bind(&id)
    .bind(&user.id)
    .bind(&currency)
    .bind(PaymentStatus::Deferred)
    .bind(MAX_SETTLEMENT_ORDERS)
    .fetch_all(&mut *tx)
    .await?;
    let mut amount: i64 = 0;
    let mut order_ids = Vec::with_capacity(claimed.len());
    for row in &claimed {
        amount = amount.saturating_add(row.try_get::<i64, _>("total_cents")?);
        order_ids.push(row.try_get::<String, _>("id")?);
    }
    if amount <= 0 {
        tx.rollback().await?;
        return Err(nothing_owed());
    }
    record_set(&mut tx, &id, &order_ids).await?;
    sqlx::query("UPDATE settlements SET amount_cents = $2 WHERE id = $1")
        .bind(&id)
        .bind(amount)
        .execute(&mut *tx)
        .await?;
    crate::crash_point!("payments::settle_before_commit");
    tx.commit().await?;
    crate::crash_point!("payments::settle_after_commit");
    with_checkout(
        state,
        Open {
            id,
            currency,
            amount_cents: amount,
            checkout_url: None,
            created_at: now,
        },
    )
    .await
}

/// What settling `currency` would charge `user_id` now: the open settlement's amount
/// when one is pending (settling again returns it), else the sum of the orders a new
/// one would claim. Less than the balance when a settlement is open or more than
/// [`MAX_SETTLEMENT_ORDERS`] orders are owed; `0` when nothing can be settled.
pub async fn next_charge(state: &AppState, user_id: &str, currency: &str) -> Result<i64, ApiError> {
    if let Some(open) = open_settlement(state, user_id, currency).await? {
        return Ok(open.amount_cents);
    }
    let sum: Option<i64> = sqlx::query_scalar(
        "SELECT CAST(SUM(total_cents) AS BIGINT) FROM \
           (SELECT total_cents FROM orders \
            WHERE buyer_id = $1 AND currency = $2 AND payment_status = $3 \
              AND settlement_id IS NULL AND total_cents > 0 \
            ORDER BY created_at, id LIMIT $4) AS claimable",
    )
    .bind(user_id)
    .bind(currency)
    .bind(PaymentStatus::Deferred)
    .bind(MAX_SETTLEMENT_ORDERS)
    .fetch_one(state.db.pool())
    .await?;
    Ok(sum.unwrap_or(0))
}

fn nothing_owed() -> ApiError {
    ApiError::conflict(
        ErrorCode::NothingOwed,
        "there is nothing to settle in this currency",
    )
}

/// Records the orders a settlement claimed (one statement per chunk of orders).
async fn record_set(tx: &mut Tx, id: &str, order_ids: &[String]) -> Result<(), sqlx::Error> {
    for chunk in order_ids.chunks(200) {
        let values: Vec<String> = (0..chunk.len())
            .map(|i| format!("($1, ${})", i + 2))
            .collect();
        let sql = format!(
            "INSERT INTO settlement_orders (settlement_id, order_id) VALUES {}",
            values.join(", ")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id.to_owned());
        for order_id in chunk {
            query = query.bind(order_id.clone());
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// An open settlement as stored.
struct Open {
    id: String,
    currency: String,
    amount_cents: i64,
    checkout_url: Option<String>,
    created_at: i64,
}

/// The open settlement with its checkout, opening the checkout if it has none yet
/// (a first request that failed or crashed before reaching the provider). The
/// provider's idempotency key makes a repeated creation return the same checkout.
async fn with_checkout(state: &AppState, open: Open) -> Result<SettlementView, ApiError> {
    let view = |url: String| SettlementView {
        id: open.id.clone(),
        currency: open.currency.clone(),
        amount_cents: open.amount_cents,
        status: SettlementStatus::Pending,
        checkout_url: Some(url),
        created_at: rfc3339(open.created_at),
    };
    if let Some(url) = &open.checkout_url {
        return Ok(view(url.clone()));
    }
    let ttl = i64::try_from(state.config.reservation_ttl.0.as_millis()).unwrap_or(i64::MAX);
    let expires_at = crate::clock::ceil_to_second(now_ms().saturating_add(ttl));
    let base = state.public_url();
    let id = &open.id;
    let request = CheckoutRequest {
        reference: id.clone(),
        kind: crate::vocab::CheckoutKind::Settlement,
        product_name: "Settlement of your UDAM balance".to_owned(),
        currency: open.currency.clone(),
        unit_amount: open.amount_cents,
        quantity: 1,
        expires_at_ms: expires_at,
        success_url: format!("{base}/balance?settled={id}"),
        cancel_url: format!("{base}/balance"),
    };
    match state.payments.create_checkout(&request).await {
        Ok(checkout) => {
            let stored = sqlx::query(
                "UPDATE settlements SET provider_session_id = $2, checkout_url = $3 \
                 WHERE id = $1 AND checkout_url IS NULL",
            )
            .bind(id)
            .bind(&checkout.session_id)
            .bind(&checkout.url)
            .execute(state.db.writes())
            .await?;
            if stored.rows_affected() == 0 {
                // A concurrent request stored its checkout first: show that one.
                let url: Option<String> =
                    sqlx::query("SELECT checkout_url FROM settlements WHERE id = $1")
                        .bind(id)
                        .fetch_one(state.db.pool())
                        .await?
                        .try_get("checkout_url")?;
                if let Some(url) = url {
                    return Ok(view(url));
                }
            }
            Ok(view(checkout.url))
        }
        Err(err) => {
            tracing::warn!(settlement = %id, error = %err, "payment provider failed; settlement abandoned");
            let mut tx = state.db.begin_write().await?;
            // No session to compare: it never reached the provider.
            let _released = lapse(&mut tx, id, None, SettlementStatus::Failed).await?;
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
) -> Result<Option<Open>, ApiError> {
    let row = sqlx::query(
        "SELECT id, amount_cents, checkout_url, created_at FROM settlements \
         WHERE user_id = $1 AND currency = $2 AND status = $3",
    )
    .bind(user_id)
    .bind(currency)
    .bind(SettlementStatus::Pending)
    .fetch_optional(state.db.pool())
    .await?;
    row.map(|r| {
        Ok(Open {
            id: r.try_get("id")?,
            currency: currency.to_owned(),
            amount_cents: r.try_get("amount_cents")?,
            checkout_url: r.try_get("checkout_url")?,
            created_at: r.try_get("created_at")?,
        })
    })
    .transpose()
    .map_err(|e: sqlx::Error| e.into())
}

/// A settlement as its payment events need it.
#[derive(sqlx::FromRow)]
struct SettlementRow {
    user_id: String,
    currency: String,
    amount_cents: i64,
    status: String,
    provider_session_id: Option<String>,
}

async fn settlement_in(tx: &mut Tx, id: &str) -> Result<Option<SettlementRow>, sqlx::Error> {
    sqlx::query_as::<_, SettlementRow>(
        "SELECT user_id, currency, amount_cents, status, provider_session_id \
         FROM settlements WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut **tx)
    .await
}

/// A settlement's checkout was paid. When the session, amount and currency are the
/// ones on record, the payment pays exactly the set the settlement claimed: all of it,
/// if every order is still deferred and held by no other settlement (a payment after
/// the lapse included), posting `settlement_paid`. Otherwise the payment pays for
/// nothing and is refunded (`unapplied_payment`, `payment_returned`).
pub async fn pay(
    state: &AppState,
    tx: &mut Tx,
    id: &str,
    paid: &PaidCheckout<'_>,
) -> Result<Applied, ApiError> {
    let Some(row) = settlement_in(tx, id).await? else {
        return Ok(Ok(EventOutcome::UnknownOrder));
    };
    if let Some(mismatch) = super::confirm::binding_mismatch(
        paid,
        row.provider_session_id.as_deref(),
        row.amount_cents,
        &row.currency,
    ) {
        return Ok(Err(mismatch));
    }
    if row.status == SettlementStatus::Paid.as_str() {
        return Ok(Ok(EventOutcome::Duplicate));
    }
    let now = now_ms();
    // Conditional on the status read and on no payment recorded yet: of two
    // concurrent confirmations of one payment, one applies.
    let took = sqlx::query(
        "UPDATE settlements SET payment_intent_id = COALESCE($3, payment_intent_id), updated_at = $4 \
         WHERE id = $1 AND status = $2 AND payment_intent_id IS NULL",
    )
    .bind(id)
    .bind(&row.status)
    .bind(paid.payment_ref)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    if took.rows_affected() == 0 {
        return Ok(Ok(EventOutcome::Duplicate));
    }
    let provider = state.payments.name().as_str();
    if claim_whole_set(tx, id).await? {
        let paid_orders = sqlx::query(
            "UPDATE orders SET payment_status = $3, updated_at = $2 \
             WHERE settlement_id = $1 AND payment_status = $4 RETURNING id",
        )
        .bind(id)
        .bind(now)
        .bind(PaymentStatus::Paid)
        .bind(PaymentStatus::Deferred)
        .fetch_all(&mut **tx)
        .await?;
        let mut sales = Vec::with_capacity(paid_orders.len());
        for order in &paid_orders {
            let order_id: String = order.try_get("id")?;
            let sale = crate::ledger::recorded_sale(tx, &order_id)
                .await
                .map_err(super::confirm::ledger_failed)?
                .ok_or_else(|| {
                    ApiError::internal(anyhow::anyhow!(
                        "order {order_id} of settlement {id} has no sale in the journal"
                    ))
                })?;
            sales.push(sale);
        }
        let txn = crate::ledger::settlement_paid(id, provider, row.amount_cents, &sales)
            .map_err(super::confirm::ledger_failed)?;
        crate::ledger::post(tx, &txn)
            .await
            .map_err(super::confirm::ledger_failed)?;
        sqlx::query("UPDATE settlements SET status = $2 WHERE id = $1")
            .bind(id)
            .bind(SettlementStatus::Paid)
            .execute(&mut **tx)
            .await?;
        sqlx::query(
            "UPDATE balances SET owed_cents = owed_cents - $3 WHERE user_id = $1 AND currency = $2",
        )
        .bind(&row.user_id)
        .bind(&row.currency)
        .bind(row.amount_cents)
        .execute(&mut **tx)
        .await?;
        return Ok(Ok(EventOutcome::Settled));
    }
    super::confirm::return_unapplied(
        state,
        tx,
        super::confirm::Unapplied {
            subject_id: id,
            buyer_id: &row.user_id,
            provider,
            currency: &row.currency,
            amount_cents: row.amount_cents,
            payment_ref: paid.payment_ref,
        },
    )
    .await?;
    Ok(Ok(EventOutcome::Refunded))
}

/// Makes the settlement hold every order of its set, if every one is still deferred
/// and held by no other settlement; true when it does. Otherwise it holds none of
/// them (a payment that cannot pay its whole set pays nothing). The conditional
/// update locks the rows, so a concurrent settlement cannot claim them meanwhile.
async fn claim_whole_set(tx: &mut Tx, id: &str) -> Result<bool, sqlx::Error> {
    let set_size: i64 =
        sqlx::query("SELECT COUNT(*) AS n FROM settlement_orders WHERE settlement_id = $1")
            .bind(id)
            .fetch_one(&mut **tx)
            .await?
            .try_get("n")?;
    let held = sqlx::query(
        "UPDATE orders SET settlement_id = $1 \
         WHERE id IN (SELECT order_id FROM settlement_orders WHERE settlement_id = $1) \
           AND payment_status = $2 AND (settlement_id IS NULL OR settlement_id = $1)",
    )
    .bind(id)
    .bind(PaymentStatus::Deferred)
    .execute(&mut **tx)
    .await?;
    if i64::try_from(held.rows_affected()).unwrap_or(i64::MAX) == set_size && set_size > 0 {
        return Ok(true);
    }
    release_set(tx, id).await?;
    Ok(false)
}

/// Frees the still-deferred orders a settlement holds for the next settlement.
async fn release_set(tx: &mut Tx, id: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE orders SET settlement_id = NULL WHERE settlement_id = $1 AND payment_status = $2",
    )
    .bind(id)
    .bind(PaymentStatus::Deferred)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Marks a pending settlement `expired`, `failed` or `cancelled` and frees its orders
/// for the next settlement (its recorded set stays, for a payment after the lapse).
/// Releases post nothing: no money moved. A report about another session than the
/// one on record is a [`Mismatch`].
pub async fn lapse(
    tx: &mut Tx,
    id: &str,
    session_id: Option<&str>,
    status: SettlementStatus,
) -> Result<Applied, ApiError> {
    let Some(row) = settlement_in(tx, id).await? else {
        return Ok(Ok(EventOutcome::UnknownOrder));
    };
    if session_id.is_some() && row.provider_session_id.as_deref() != session_id {
        return Ok(Err(Mismatch(format!(
            "session {} is not the checkout on record ({})",
            session_id.unwrap_or_default(),
            row.provider_session_id.as_deref().unwrap_or("none")
        ))));
    }
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
        return Ok(Ok(EventOutcome::Duplicate));
    }
    release_set(tx, id).await?;
    Ok(Ok(EventOutcome::Released))
}

/// Pays what the caller owes in one currency through a checkout.
#[utoipa::path(post, path = "/balance/settle", tag = "orders",
    security(("bearer" = [])),
    request_body = SettleRequest,
    responses(
        (status = 201, description = "A checkout for the oldest owed orders, at most 1,000 of them", body = SettlementView),
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
