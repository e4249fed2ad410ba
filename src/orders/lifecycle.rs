//! What happens to an order after it is placed: payment confirmed (from any
//! provider), reservation released (cancel, expiry, provider failure), late payment.
//!
//! Every transition is a conditional update on the order row, so it happens exactly
//! once however many processes, webhooks or sweepers race for it.

use sqlx::Row;

use super::model::Order;
use crate::clock::now_ms;
use crate::db::{Db, Tx};
use crate::ids::new_id;
use crate::vocab::{GrantStatus, ListingStatus, OrderStatus, PaymentStatus};

/// Inserts the access grant of an order, unless it has one already.
pub async fn insert_grant(
    tx: &mut Tx,
    grant_id: &str,
    order_id: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO grants (id, order_id, buyer_id, listing_id, seller_id, units, status, created_at) \
         SELECT $1, o.id, o.buyer_id, o.listing_id, o.seller_id, o.units, $4, $3 \
         FROM orders o WHERE o.id = $2 \
         ON CONFLICT (order_id) DO NOTHING",
    )
    .bind(grant_id)
    .bind(order_id)
    .bind(now_ms())
    .bind(GrantStatus::Active)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Returns a pending order's units to its listing and moves it to `new_status`
/// (`cancelled`, `expired` or `failed`). False when the order was not pending
/// (already released, paid, or never reserved): nothing changes then.
pub async fn release_in(
    tx: &mut Tx,
    order_id: &str,
    new_status: OrderStatus,
) -> Result<bool, sqlx::Error> {
    let now = now_ms();
    let released = sqlx::query(
        "UPDATE orders SET status = $2, holds_units = 0, updated_at = $3 \
         WHERE id = $1 AND status = $4 AND holds_units = 1 \
         RETURNING listing_id, units",
    )
    .bind(order_id)
    .bind(new_status)
    .bind(now)
    .bind(OrderStatus::PendingPayment)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(row) = released else {
        return Ok(false);
    };
    let listing_id: String = row.try_get("listing_id")?;
    let units: i64 = row.try_get("units")?;
    return_units(tx, &listing_id, units, now).await?;
    Ok(true)
}

/// Gives units back to a listing (moving `updated_at` forward for cache
/// invalidation: a release is rare, and unlike a sale it may leave no new order to
/// find it by).
async fn return_units(
    tx: &mut Tx,
    listing_id: &str,
    units: i64,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE listings SET available_units = available_units + $2, \
           updated_at = CASE WHEN updated_at >= $3 THEN updated_at + 1 ELSE $3 END \
         WHERE id = $1",
    )
    .bind(listing_id)
    .bind(units)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// [`release_in`] in its own transaction.
pub async fn release(
    db: &Db,
    order_id: &str,
    new_status: OrderStatus,
) -> Result<bool, sqlx::Error> {
    let mut tx = db.begin_write().await?;
    let done = release_in(&mut tx, order_id, new_status).await?;
    tx.commit().await?;
    Ok(done)
}

/// What a payment confirmation did.
#[derive(Debug, PartialEq, Eq)]
pub enum Confirmation {
    /// The order is now fulfilled and has its grant.
    Fulfilled,
    /// It was fulfilled before (a duplicate confirmation); nothing changed.
    AlreadyFulfilled,
    /// The units had been released and could not be taken again: the payment must
    /// be refunded (the order is marked `refunded`).
    MustRefund,
    /// It was refunded before (a duplicate of a late payment); nothing changed.
    AlreadyRefunded,
    /// No such order, or one that was never awaiting payment.
    Unknown,
}

/// Confirms payment of an order: the single path used by the dev checkout's Pay
/// button and by verified Stripe webhooks. Runs inside the caller's transaction so
/// that a webhook's inbox row commits or rolls back with its effect.
pub async fn confirm_payment(
    tx: &mut Tx,
    order_id: &str,
    payment_ref: Option<&str>,
) -> Result<Confirmation, sqlx::Error> {
    let now = now_ms();
    let paid = sqlx::query(
        "UPDATE orders SET status = $4, payment_status = $5, \
           payment_intent_id = COALESCE($2, payment_intent_id), updated_at = $3 \
         WHERE id = $1 AND status = $6 AND holds_units = 1",
    )
    .bind(order_id)
    .bind(payment_ref)
    .bind(now)
    .bind(OrderStatus::Fulfilled)
    .bind(PaymentStatus::Paid)
    .bind(OrderStatus::PendingPayment)
    .execute(&mut **tx)
    .await?;
    if paid.rows_affected() == 1 {
        insert_grant(tx, &new_id("tok"), order_id).await?;
        return Ok(Confirmation::Fulfilled);
    }
    // Locked: two confirmations of one released order (a double-submitted Pay, a
    // webhook racing the sweeper) must not both take its units again; the second
    // reads the order as the first left it.
    let Some(order) = order_locked(tx, order_id).await? else {
        return Ok(Confirmation::Unknown);
    };
    match order.status {
        OrderStatus::Fulfilled => Ok(Confirmation::AlreadyFulfilled),
        OrderStatus::Refunded => Ok(Confirmation::AlreadyRefunded),
        OrderStatus::Expired | OrderStatus::Cancelled | OrderStatus::Failed => {
            late_payment(tx, &order, payment_ref, now).await
        }
        _ => Ok(Confirmation::Unknown),
    }
}

/// A payment for an order whose units were released: take them again if the
/// listing still has them, otherwise mark the order for a refund.
async fn late_payment(
    tx: &mut Tx,
    order: &Order,
    payment_ref: Option<&str>,
    now: i64,
) -> Result<Confirmation, sqlx::Error> {
    let retaken = sqlx::query(
        "UPDATE listings SET available_units = available_units - $2, \
           updated_at = CASE WHEN updated_at >= $3 THEN updated_at + 1 ELSE $3 END \
         WHERE id = $1 AND status <> $4 AND available_units >= $2",
    )
    .bind(&order.listing_id)
    .bind(order.units)
    .bind(now)
    .bind(ListingStatus::Archived)
    .execute(&mut **tx)
    .await?;
    let (status, payment_status, holds) = if retaken.rows_affected() == 1 {
        (OrderStatus::Fulfilled, PaymentStatus::Paid, 1)
    } else {
        (OrderStatus::Refunded, PaymentStatus::Refunded, 0)
    };
    sqlx::query(
        "UPDATE orders SET status = $2, payment_status = $3, holds_units = $4, \
           payment_intent_id = COALESCE($5, payment_intent_id), updated_at = $6 \
         WHERE id = $1",
    )
    .bind(&order.id)
    .bind(status)
    .bind(payment_status)
    .bind(holds)
    .bind(payment_ref)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    if holds == 1 {
        insert_grant(tx, &new_id("tok"), &order.id).await?;
        Ok(Confirmation::Fulfilled)
    } else {
        Ok(Confirmation::MustRefund)
    }
}

/// Reads an order through a no-op update, which holds its row lock (PostgreSQL; on
/// SQLite the writer lock) until the transaction ends. Waiting on a concurrent
/// change, it returns the row as that change committed it.
async fn order_locked(tx: &mut Tx, order_id: &str) -> Result<Option<Order>, sqlx::Error> {
    const SQL: &str = concat!(
        "UPDATE orders SET updated_at = updated_at WHERE id = $1 RETURNING ",
        crate::order_columns!()
    );
    let row = sqlx::query(SQL)
        .bind(order_id)
        .fetch_optional(&mut **tx)
        .await?;
    row.as_ref().map(Order::from_row).transpose()
}

/// Reads an order inside a transaction.
pub async fn order_in(tx: &mut Tx, order_id: &str) -> Result<Option<Order>, sqlx::Error> {
    const SQL: &str = concat!(
        "SELECT ",
        crate::order_columns!(),
        " FROM orders WHERE id = $1"
    );
    let row = sqlx::query(SQL)
        .bind(order_id)
        .fetch_optional(&mut **tx)
        .await?;
    row.as_ref().map(Order::from_row).transpose()
}

/// Revokes the grants of an order (a refund), returning how many changed.
pub async fn revoke_order_grants(tx: &mut Tx, order_id: &str) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE grants SET status = $3, revoked_at = $2 WHERE order_id = $1 AND status = $4",
    )
    .bind(order_id)
    .bind(now_ms())
    .bind(GrantStatus::Revoked)
    .bind(GrantStatus::Active)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected())
}

/// Marks the fulfilled order paid by `payment_ref` as refunded: revokes its grants
/// and returns its units. False when no fulfilled order matches (already done).
pub async fn refund_fulfilled(tx: &mut Tx, payment_ref: &str) -> Result<bool, sqlx::Error> {
    let now = now_ms();
    let refunded = sqlx::query(
        "UPDATE orders SET status = $3, payment_status = $4, holds_units = 0, \
           updated_at = $2 \
         WHERE payment_intent_id = $1 AND status = $5 \
         RETURNING id, listing_id, units",
    )
    .bind(payment_ref)
    .bind(now)
    .bind(OrderStatus::Refunded)
    .bind(PaymentStatus::Refunded)
    .bind(OrderStatus::Fulfilled)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(row) = refunded else {
        return Ok(false);
    };
    let order_id: String = row.try_get("id")?;
    let listing_id: String = row.try_get("listing_id")?;
    let units: i64 = row.try_get("units")?;
    revoke_order_grants(tx, &order_id).await?;
    return_units(tx, &listing_id, units, now).await?;
    Ok(true)
}
