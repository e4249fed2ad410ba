//! Refund reports held until their payment is recorded (migration 0026; the parent
//! module says why): keeping one, applying it with its payment, and letting go of
//! those that never meet one.

use sqlx::Row;

use super::reconcile;
use crate::db::{Db, Tx};
use crate::error::ApiError;
use crate::payments::stripe::Charge;
use crate::state::AppState;
use crate::telemetry::labels::StripeEventLabel;

/// How long a held report waits for its payment: 90 days. A checkout is paid within
/// a day of its creation, a delayed method (a bank debit) within about three weeks,
/// and Stripe retries an event for three days; a report held longer than that is
/// about a charge that was never ours.
pub const HELD_FOR_MS: i64 = 90 * 24 * 60 * 60 * 1000;

/// Deletes the reports held for longer than [`HELD_FOR_MS`] before `now` (unix ms),
/// for the periodic purge (`maintenance`).
pub async fn purge_stale(db: &Db, now: i64) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM refunds_held WHERE received_at < $1")
        .bind(now - HELD_FOR_MS)
        .execute(db.writes())
        .await?;
    Ok(done.rows_affected())
}

/// Keeps a report about a payment not recorded yet. Reports are cumulative, so only
/// the one that refunds the most is kept.
pub(super) async fn hold(
    tx: &mut Tx,
    event_id: &str,
    payment_ref: &str,
    charge: &Charge,
) -> Result<(), ApiError> {
    sqlx::query(
        "INSERT INTO refunds_held (payment_intent_id, event_id, charge_id, amount_cents, \
             refunded_cents, currency, received_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (payment_intent_id) DO UPDATE SET event_id = excluded.event_id, \
             charge_id = excluded.charge_id, amount_cents = excluded.amount_cents, \
             refunded_cents = excluded.refunded_cents, currency = excluded.currency, \
             received_at = excluded.received_at \
         WHERE excluded.refunded_cents > refunds_held.refunded_cents",
    )
    .bind(payment_ref)
    .bind(event_id)
    .bind(&charge.id)
    .bind(charge.amount)
    .bind(charge.amount_refunded)
    .bind(&charge.currency)
    .bind(crate::clock::now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// True when a report held for `payment_ref` says at least `amount` of it was
/// refunded: the payer has the money back already.
pub(crate) async fn held_in_full(
    tx: &mut Tx,
    payment_ref: &str,
    amount: i64,
) -> Result<bool, ApiError> {
    let refunded: Option<i64> =
        sqlx::query_scalar("SELECT refunded_cents FROM refunds_held WHERE payment_intent_id = $1")
            .bind(payment_ref)
            .fetch_optional(&mut **tx)
            .await?;
    Ok(refunded.is_some_and(|r| r >= amount))
}

/// Applies the refund report held for `payment_ref`, if any, now that its payment
/// is recorded: in the payment's own transaction, after [`super::lock_payment`]. A report
/// that does not match what was paid is marked on its event (`webhook_events.mismatch`)
/// for an operator, as it would have been on arrival, and changes nothing.
pub(crate) async fn apply_held(
    state: &AppState,
    tx: &mut Tx,
    payment_ref: &str,
) -> Result<(), ApiError> {
    let held = sqlx::query(
        "SELECT event_id, charge_id, amount_cents, refunded_cents, currency \
         FROM refunds_held WHERE payment_intent_id = $1",
    )
    .bind(payment_ref)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(held) = held else {
        return Ok(());
    };
    let event_id: String = held.try_get("event_id")?;
    let charge = Charge {
        id: held.try_get("charge_id")?,
        payment_intent: Some(payment_ref.to_owned()),
        amount: held.try_get("amount_cents")?,
        amount_refunded: held.try_get("refunded_cents")?,
        currency: held.try_get("currency")?,
    };
    let Some(applied) = reconcile(state, tx, payment_ref, &charge).await? else {
        // The payment was not recorded under this reference after all (an unknown
        // order, or one recorded before under another): keep the report.
        return Ok(());
    };
    sqlx::query("DELETE FROM refunds_held WHERE payment_intent_id = $1")
        .bind(payment_ref)
        .execute(&mut **tx)
        .await?;
    match applied {
        Ok(outcome) => {
            tracing::info!(event = %event_id, payment = %payment_ref, outcome = outcome.as_str(),
                "held refund applied with its payment");
        }
        Err(mismatch) => {
            sqlx::query("UPDATE webhook_events SET mismatch = $2 WHERE id = $1")
                .bind(&event_id)
                .bind(&mismatch.0)
                .execute(&mut **tx)
                .await?;
            tracing::error!(event = %event_id, reason = %mismatch.0,
                "held refund does not match its payment; stored, nothing changed");
            metrics::counter!("udam_webhook_mismatches_total",
                "type" => StripeEventLabel::ChargeRefunded.as_str())
            .increment(1);
        }
    }
    Ok(())
}
