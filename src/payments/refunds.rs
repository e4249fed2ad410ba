//! Refunds made at the provider (Stripe's `charge.refunded`), reconciled with the
//! order or settlement the payment paid (docs/PAYMENTS.md, "Refunds").
//!
//! Stripe reports the charge's cumulative `amount_refunded`. Each report posts the
//! part not yet in the journal, under a reference named by that cumulative amount
//! (`refund:{order}:upto_{n}`), so a report repeated under another event id, or
//! arriving after a later one, posts nothing twice.
//!
//! * An order refunded in part keeps its grant; the refund is posted with the fee
//!   returned in proportion (`ledger::refund`).
//! * An order refunded in full is also marked refunded, its grant revoked and its
//!   units returned.
//! * A settlement's payment refunded in full posts `settlement_refund` and marks the
//!   settlement `refunded`: the debt returns, and its orders are owed (deferred)
//!   again, free for a next settlement.
//!   A partial refund of a settlement's payment cannot be mapped onto its orders; it
//!   is refused as a mismatch for an operator to reconcile.
//! * A report about a payment no order or settlement records yet is **held**
//!   (`refunds_held`, migration 0026): Stripe does not promise the order of its
//!   events, so a `charge.refunded` can come before the `checkout.session.completed`
//!   of the same payment. Recording that payment applies the held report in the same
//!   transaction (`held::apply_held`). A refund of a charge that was never ours stays held
//!   and changes nothing.

mod held;

use sqlx::Row;

pub use held::{HELD_FOR_MS, purge_stale};
pub(crate) use held::{apply_held, held_in_full};

use super::confirm::{Applied, Mismatch, ledger_failed};
use super::stripe::Charge;
use crate::db::{Backend, Tx};
use crate::error::ApiError;
use crate::ledger::{self, Posted, TransactionKind};
use crate::orders::lifecycle;
use crate::state::AppState;
use crate::vocab::{EventOutcome, PaymentStatus, SettlementStatus};

/// A charge was refunded, fully or in part, at the provider. `event_id` names the
/// report, so that a held one that turns out not to match can be marked for an
/// operator when its payment is recorded.
pub async fn charge_refunded(
    state: &AppState,
    tx: &mut Tx,
    event_id: &str,
    charge: &Charge,
) -> Result<Applied, ApiError> {
    let Some(payment_ref) = charge.payment_intent.as_deref() else {
        return Ok(Ok(EventOutcome::Ignored));
    };
    lock_payment(state, tx, payment_ref).await?;
    if let Some(applied) = reconcile(state, tx, payment_ref, charge).await? {
        return Ok(applied);
    }
    held::hold(tx, event_id, payment_ref, charge).await?;
    tracing::warn!(event = %event_id, payment = %payment_ref,
        "refund of a payment not recorded yet; held until its payment is");
    Ok(Ok(EventOutcome::UnknownOrder))
}

/// Serializes everything done about one payment reference: recording the payment
/// ([`super::confirm::payment_succeeded`]) and reconciling or holding a refund of it.
/// Without it, on PostgreSQL, a refund could miss a payment committed meanwhile and
/// be held after the payment's own look at the held reports: held for ever. Taken
/// before any row lock on both paths, so the two cannot deadlock. SQLite's single
/// writer already serializes them.
pub(crate) async fn lock_payment(
    state: &AppState,
    tx: &mut Tx,
    payment_ref: &str,
) -> Result<(), ApiError> {
    if state.db.backend() == Backend::Postgres {
        // The function returns void, which the Any driver cannot decode: select a 1.
        sqlx::query("SELECT 1 FROM pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(payment_ref)
            .fetch_one(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Applies a refund report to the order or settlement its payment paid; `None` when
/// no order or settlement records that payment.
async fn reconcile(
    state: &AppState,
    tx: &mut Tx,
    payment_ref: &str,
    charge: &Charge,
) -> Result<Option<Applied>, ApiError> {
    // Found through a no-op update, which locks the order: two reports of one charge
    // (30 refunded, then 100) handled at once by two processes each read what the
    // journal holds only after the other's commit, so the part posted is never counted
    // twice. (SQLite's writer lock already orders them.)
    let order = sqlx::query(
        "UPDATE orders SET updated_at = updated_at WHERE payment_intent_id = $1 RETURNING id",
    )
    .bind(payment_ref)
    .fetch_optional(&mut **tx)
    .await?;
    if let Some(order) = order {
        let order_id: String = order.try_get("id")?;
        return Ok(Some(
            order_refunded(state, tx, &order_id, payment_ref, charge).await?,
        ));
    }
    let settlement = sqlx::query("SELECT id FROM settlements WHERE payment_intent_id = $1")
        .bind(payment_ref)
        .fetch_optional(&mut **tx)
        .await?;
    if let Some(settlement) = settlement {
        let id: String = settlement.try_get("id")?;
        return Ok(Some(settlement_refunded(tx, &id, charge).await?));
    }
    Ok(None)
}

/// True when the journal holds `kind:subject`.
async fn posted(tx: &mut Tx, kind: TransactionKind, subject: &str) -> Result<bool, ApiError> {
    Ok(ledger::recorded(tx, &format!("{kind}:{subject}"))
        .await
        .map_err(ledger_failed)?
        .is_some())
}

async fn order_refunded(
    state: &AppState,
    tx: &mut Tx,
    order_id: &str,
    payment_ref: &str,
    charge: &Charge,
) -> Result<Applied, ApiError> {
    let Some(sale) = ledger::recorded_sale(tx, order_id)
        .await
        .map_err(ledger_failed)?
    else {
        // A late payment for units already gone was refunded by us at once.
        if posted(tx, TransactionKind::PaymentReturned, order_id).await? {
            return Ok(Ok(EventOutcome::Duplicate));
        }
        return Ok(Err(Mismatch(format!(
            "refund of {payment_ref}: order {order_id} has no paid sale"
        ))));
    };
    if charge.currency != sale.currency || charge.amount != sale.total_cents {
        return Ok(Err(Mismatch(format!(
            "refund of {payment_ref}: charge of {} {} differs from order {order_id} ({} {})",
            charge.amount, charge.currency, sale.total_cents, sale.currency
        ))));
    }
    let refunded_now = charge.amount_refunded.min(sale.total_cents);
    let part = refunded_now - sale.refunded_cents;
    if part <= 0 {
        return Ok(Ok(EventOutcome::Duplicate));
    }
    let provider = sale
        .provider
        .clone()
        .unwrap_or_else(|| state.payments.name().as_str().to_owned());
    let txn = ledger::refund(&sale, &provider, part, &format!("upto_{refunded_now}"))
        .map_err(ledger_failed)?;
    if ledger::post(tx, &txn).await.map_err(ledger_failed)? == Posted::AlreadyPosted {
        return Ok(Ok(EventOutcome::Duplicate));
    }
    if refunded_now < sale.total_cents {
        return Ok(Ok(EventOutcome::PartiallyRefunded));
    }
    lifecycle::refund_fulfilled(tx, payment_ref).await?;
    Ok(Ok(EventOutcome::Revoked))
}

async fn settlement_refunded(tx: &mut Tx, id: &str, charge: &Charge) -> Result<Applied, ApiError> {
    let row = sqlx::query(
        "SELECT user_id, currency, amount_cents, status FROM settlements WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&mut **tx)
    .await?;
    let status: String = row.try_get("status")?;
    let amount: i64 = row.try_get("amount_cents")?;
    if status == SettlementStatus::Refunded.as_str() {
        return Ok(Ok(EventOutcome::Duplicate));
    }
    if status != SettlementStatus::Paid.as_str() {
        // Its payment paid for nothing and was given back already.
        if posted(tx, TransactionKind::PaymentReturned, id).await? {
            return Ok(Ok(EventOutcome::Duplicate));
        }
        return Ok(Err(Mismatch(format!(
            "refund of settlement {id}, which is {status}"
        ))));
    }
    if charge.amount_refunded < amount {
        return Ok(Err(Mismatch(format!(
            "partial refund ({} of {amount}) of settlement {id}: reconcile by hand",
            charge.amount_refunded
        ))));
    }
    let Some(paid) = ledger::recorded(tx, &format!("settlement_paid:{id}"))
        .await
        .map_err(ledger_failed)?
    else {
        return Ok(Err(Mismatch(format!(
            "settlement {id} is paid but its payment is not in the journal"
        ))));
    };
    let txn = ledger::settlement_refund(&paid, "full").map_err(ledger_failed)?;
    if ledger::post(tx, &txn).await.map_err(ledger_failed)? == Posted::AlreadyPosted {
        return Ok(Ok(EventOutcome::Duplicate));
    }
    // The debt returns: the orders are owed again, and free for the next settlement.
    let now = crate::clock::now_ms();
    sqlx::query(
        "UPDATE settlements SET status = $2, updated_at = $3 WHERE id = $1 AND status = $4",
    )
    .bind(id)
    .bind(SettlementStatus::Refunded)
    .bind(now)
    .bind(SettlementStatus::Paid)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "UPDATE orders SET payment_status = $2, settlement_id = NULL, updated_at = $3 \
         WHERE id IN (SELECT order_id FROM settlement_orders WHERE settlement_id = $1) \
           AND payment_status = $4",
    )
    .bind(id)
    .bind(PaymentStatus::Deferred)
    .bind(now)
    .bind(PaymentStatus::Paid)
    .execute(&mut **tx)
    .await?;
    let user_id: String = row.try_get("user_id")?;
    let currency: String = row.try_get("currency")?;
    sqlx::query(
        "INSERT INTO balances (user_id, currency, owed_cents) VALUES ($1, $2, $3) \
         ON CONFLICT (user_id, currency) DO UPDATE SET owed_cents = balances.owed_cents + $3",
    )
    .bind(&user_id)
    .bind(&currency)
    .bind(amount)
    .execute(&mut **tx)
    .await?;
    Ok(Ok(EventOutcome::SettlementRefunded))
}
