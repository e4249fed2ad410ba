//! Group commit for instant purchases on PostgreSQL.
//!
//! A listing row can change hands only as fast as one transaction holding its
//! lock commits, so buying one unit at a time from a popular listing is bounded by
//! the commit latency, whatever the hardware. Here concurrent purchases of the same
//! listing in one process are combined: one transaction takes all their units with
//! one conditional update and inserts all their orders and grants set-based, so
//! one commit serves the whole batch.
//!
//! The combiner only batches; correctness still comes from the database. The
//! take is the same conditional `UPDATE … WHERE available_units >= n` as the
//! one-at-a-time path, every buyer's balance goes through the same conditional
//! upsert against the unpaid cap, and other processes (with their own
//! combiners) race for the row exactly as single purchases do. When a batch cannot
//! be served whole, the requests concerned go down the one-at-a-time path, which
//! gives each its exact answer: buyers at their cap or with an order above the
//! instant limit are left out of the batch; when the listing has fewer units than
//! the batch wants, the batch serves the purchases that fit, in arrival order, and
//! the rest fall back; a price change or a paused listing rolls the batch back.
//!
//! Batches form by themselves: while one batch of a listing is in the database,
//! the purchases arriving meanwhile queue up and become the next batch. A lone
//! purchase waits for nobody. A purchase whose request is gone (the client hung up,
//! or the request timed out) is dropped before a batch forms (`db::batcher`).
//!
//! Money and keys: the batch posts every served order's `instant_sale` in the same
//! transaction, with one statement ([`ledger::post_new_batch`]), and each order
//! carries its request's Idempotency-Key. A key that names an order already fails
//! the batch on the unique index; the batch rolls back and its purchases run one at a
//! time, where the duplicate is answered with the existing order. A buyer's own
//! listing is left out of the batch (the one-at-a-time path refuses it).

use std::collections::HashSet;
use std::sync::Arc;

use sqlx::Row;
use sqlx::postgres::PgPool;

use crate::db::batcher::{Batcher, Pending};

use crate::clock::now_ms;
use crate::db::PURCHASE_BEGIN;
use crate::ids::new_id;
use crate::ledger::{self, FeeRate};
use crate::orders::model::Order;
use crate::vocab::{GrantStatus, ListingStatus, OrderStatus, PaymentStatus};

/// Most purchases one statement serves; more wait for the next batch.
const MAX_BATCH: usize = 256;

/// How a batched purchase ended.
#[derive(Debug)]
pub enum Batched {
    /// Fulfilled: the order as stored.
    Placed(Box<Order>),
    /// Not served by a batch: buy one at a time instead (nothing was changed).
    Fallback,
    /// The database failed while committing; whether the batch committed is
    /// unknown, so the purchase must not be retried blindly.
    Failed,
}

/// The limits a batch enforces, from the server's settings.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest total fulfilled at once (the instant limit, at most the unpaid cap).
    pub instant_max_cents: i64,
    /// Most a buyer may owe.
    pub unpaid_cap_cents: i64,
    /// The platform's fee on each sale.
    pub fee: FeeRate,
}

/// One purchase waiting for its batch.
pub struct Waiter {
    buyer_id: String,
    units: i64,
    idempotency_key: Option<String>,
    limits: Limits,
}

/// The per-database combiner: one queue per listing with purchases in flight,
/// one batch of a listing in the database at a time.
pub type Combiner = Batcher<String, Waiter, Batched>;

/// A combiner with this path's limits.
pub fn new_combiner() -> Combiner {
    Combiner::new(1, MAX_BATCH)
}

/// Buys as part of a batch.
pub async fn buy(
    combiner: &Arc<Combiner>,
    pg: &PgPool,
    limits: Limits,
    req: super::Request<'_>,
) -> Batched {
    let pg = pg.clone();
    let waiter = Waiter {
        buyer_id: req.buyer_id.to_owned(),
        units: req.units,
        idempotency_key: req.idempotency_key.map(str::to_owned),
        limits,
    };
    let serve = move |listing: String, batch| serve(pg.clone(), listing, batch);
    combiner
        .submit(req.listing_id.to_owned(), waiter, serve)
        .await
        // No answer only if the serving task panicked: whether it committed is unknown.
        .unwrap_or(Batched::Failed)
}

/// Serves one batch taken by the batcher: a buyer's balance row is updated once
/// per statement, so a buyer's second purchase in it runs in a following batch.
async fn serve(pg: PgPool, listing: String, mut waiting: Vec<Pending<Waiter, Batched>>) {
    while !waiting.is_empty() {
        let batch = distinct_buyers(&mut waiting);
        run_batch(&pg, &listing, batch).await;
    }
}

/// Takes the waiters with distinct buyers, oldest first; the others stay.
fn distinct_buyers(waiting: &mut Vec<Pending<Waiter, Batched>>) -> Vec<Pending<Waiter, Batched>> {
    let mut buyers = HashSet::new();
    let (batch, rest) = waiting
        .drain(..)
        .partition(|p| buyers.insert(p.req.buyer_id.clone()));
    *waiting = rest;
    batch
}

/// Balances, units, orders and grants of a whole batch in one statement.
///
/// - `req`: the purchases that are instant at the listing's current price, of
///   buyers other than its seller.
/// - `owed`: each of their buyers' balances goes up through the conditional
///   upsert against the cap; `acc` keeps those it accepted, in arrival order.
/// - `lk` locks the listing row and reads its latest units (a locking read sees
///   the newest committed version, not the statement's snapshot); `fit` is the
///   longest arrival-order prefix of `acc` those units cover.
/// - `taken` is the conditional update, the same as a single purchase's: units
///   are taken only if the listing is active, at the price read, and has them.
/// - `placed` and `granted` insert the orders and grants of `fit`.
///
/// Balance rows are locked in buyer order, then the listing row (the order the
/// one-at-a-time path uses too), so concurrent transactions never wait in a cycle.
/// The planner is free to read `lk` before `acc`, so `lk` is gated on `owed`
/// having run to completion (`COUNT(*)`, a one-time filter evaluated before the
/// listing is scanned): without it a generic plan locks the listing first and
/// deadlocks against single purchases of the same buyers.
/// Buyers in `acc` but not in `fit` were charged without being served; the caller
/// takes their charge back ([`UNCHARGE_SQL`]) before committing.
const BATCH_SQL: &str = "\
WITH l AS ( \
  SELECT price_cents, currency, seller_id FROM listings WHERE id = $1 AND status = $9 \
), req AS ( \
  SELECT r.idx, r.order_id, r.buyer_id, r.units, r.grant_id, r.idem_key, \
    r.units * l.price_cents AS total, l.currency \
  FROM UNNEST($2::text[], $3::text[], $4::bigint[], $5::text[], $13::text[]) \
    WITH ORDINALITY AS r(order_id, buyer_id, units, grant_id, idem_key, idx) \
  CROSS JOIN l \
  WHERE r.units * l.price_cents <= $6 AND r.buyer_id <> l.seller_id \
), owed AS ( \
  INSERT INTO balances AS b (user_id, currency, owed_cents) \
  SELECT buyer_id, currency, total FROM req ORDER BY buyer_id \
  ON CONFLICT (user_id, currency) DO UPDATE SET owed_cents = b.owed_cents + excluded.owed_cents \
  WHERE b.owed_cents + excluded.owed_cents <= $7 \
  RETURNING user_id \
), acc AS ( \
  SELECT req.*, SUM(req.units) OVER (ORDER BY req.idx) AS running \
  FROM req JOIN owed ON owed.user_id = req.buyer_id \
), lk AS ( \
  SELECT available_units FROM listings \
  WHERE (SELECT COUNT(*) FROM owed) > 0 \
    AND id = $1 AND status = $9 AND price_cents = (SELECT price_cents FROM l) \
  FOR UPDATE \
), fit AS ( \
  SELECT acc.* FROM acc CROSS JOIN lk WHERE acc.running <= lk.available_units \
), taken AS ( \
  UPDATE listings SET available_units = available_units - (SELECT SUM(units) FROM fit), \
    updated_at = CASE WHEN updated_at >= $8 THEN updated_at + 1 ELSE $8 END \
  WHERE id = $1 AND status = $9 AND price_cents = (SELECT price_cents FROM l) \
    AND available_units >= (SELECT SUM(units) FROM fit) \
  RETURNING id, seller_id, service_name, currency, price_cents \
), placed AS ( \
  INSERT INTO orders (id, buyer_id, listing_id, seller_id, service_name, units, \
    unit_price_cents, total_cents, currency, status, payment_status, holds_units, \
    provider, expires_at, created_at, updated_at, idempotency_key) \
  SELECT f.order_id, f.buyer_id, t.id, t.seller_id, t.service_name, f.units, t.price_cents, \
    f.total, t.currency, $10, $11, 1, NULL, NULL, $8, $8, f.idem_key \
  FROM fit f CROSS JOIN taken t \
  RETURNING id \
), granted AS ( \
  INSERT INTO grants (id, order_id, buyer_id, listing_id, seller_id, units, status, created_at) \
  SELECT f.grant_id, f.order_id, f.buyer_id, t.id, t.seller_id, f.units, $12, $8 \
  FROM fit f CROSS JOIN taken t \
) \
SELECT t.seller_id, t.service_name, t.currency, t.price_cents, \
  ARRAY(SELECT buyer_id FROM fit) AS served, \
  ARRAY(SELECT buyer_id FROM acc WHERE idx NOT IN (SELECT idx FROM fit)) AS unserved, \
  ARRAY(SELECT total FROM acc WHERE idx NOT IN (SELECT idx FROM fit)) AS charges \
FROM taken t";

/// Takes back the charge of buyers a batch accepted but could not serve (the
/// listing ran out before their turn), inside the batch's transaction, so nobody
/// ever sees it.
const UNCHARGE_SQL: &str = "\
UPDATE balances AS b SET owed_cents = b.owed_cents - u.total \
FROM UNNEST($1::text[], $2::bigint[]) AS u(user_id, total) \
WHERE b.user_id = u.user_id AND b.currency = $3";

/// What the batch statement reported when it took the units.
struct Taken {
    seller_id: String,
    service_name: String,
    currency: String,
    price_cents: i64,
    /// Buyers whose orders were placed.
    served: HashSet<String>,
}

async fn run_batch(pg: &PgPool, listing: &str, batch: Vec<Pending<Waiter, Batched>>) {
    let Some(limits) = batch.first().map(|p| p.req.limits) else {
        return;
    };
    let order_ids: Vec<String> = batch.iter().map(|_| new_id("ord")).collect();
    let now = now_ms();
    let outcome = execute(pg, limits, listing, &batch, &order_ids, now).await;
    metrics::histogram!("udam_purchase_batch_size").record(batch.len() as f64);
    match outcome {
        Ok(Some(taken)) => {
            for (p, id) in batch.into_iter().zip(order_ids) {
                let answer = if taken.served.contains(&p.req.buyer_id) {
                    Batched::Placed(Box::new(order(&taken, id, listing, &p.req, now)))
                } else {
                    Batched::Fallback
                };
                p.reply(answer);
            }
        }
        Ok(None) => {
            for p in batch {
                p.reply(Batched::Fallback);
            }
        }
        Err(Stage::BeforeCommit(err)) => {
            // Rolled back: nothing happened, so each purchase may simply run alone.
            tracing::warn!(listing, error = %err, "a purchase batch failed; buying one at a time");
            for p in batch {
                p.reply(Batched::Fallback);
            }
        }
        Err(Stage::Commit(err)) => {
            tracing::error!(listing, error = %err, "committing a purchase batch failed");
            for p in batch {
                p.reply(Batched::Failed);
            }
        }
    }
}

enum Stage {
    BeforeCommit(sqlx::Error),
    Commit(sqlx::Error),
}

async fn execute(
    pg: &PgPool,
    limits: Limits,
    listing: &str,
    batch: &[Pending<Waiter, Batched>],
    order_ids: &[String],
    now: i64,
) -> Result<Option<Taken>, Stage> {
    let buyers: Vec<&str> = batch.iter().map(|p| p.req.buyer_id.as_str()).collect();
    let units: Vec<i64> = batch.iter().map(|p| p.req.units).collect();
    let grant_ids: Vec<String> = batch.iter().map(|_| new_id("tok")).collect();
    let keys: Vec<Option<&str>> = batch
        .iter()
        .map(|p| p.req.idempotency_key.as_deref())
        .collect();
    let mut tx = pg
        .begin_with(PURCHASE_BEGIN)
        .await
        .map_err(Stage::BeforeCommit)?;
    let row = sqlx::query(BATCH_SQL)
        .bind(listing)
        .bind(order_ids)
        .bind(&buyers)
        .bind(&units)
        .bind(&grant_ids)
        .bind(limits.instant_max_cents)
        .bind(limits.unpaid_cap_cents)
        .bind(now)
        // A native PostgreSQL connection: the words go as their text.
        .bind(ListingStatus::Active.as_str())
        .bind(OrderStatus::Fulfilled.as_str())
        .bind(PaymentStatus::Deferred.as_str())
        .bind(GrantStatus::Active.as_str())
        .bind(&keys)
        .fetch_optional(&mut *tx)
        .await
        .map_err(Stage::BeforeCommit)?;
    let Some(row) = row else {
        // Dropping the transaction rolls it back (the balances too).
        tx.rollback().await.map_err(Stage::BeforeCommit)?;
        return Ok(None);
    };
    let decode =
        |row: &sqlx::postgres::PgRow| -> Result<(Taken, Vec<String>, Vec<i64>), sqlx::Error> {
            let taken = Taken {
                seller_id: row.try_get("seller_id")?,
                service_name: row.try_get("service_name")?,
                currency: row.try_get("currency")?,
                price_cents: row.try_get("price_cents")?,
                served: row
                    .try_get::<Vec<String>, _>("served")?
                    .into_iter()
                    .collect(),
            };
            Ok((taken, row.try_get("unserved")?, row.try_get("charges")?))
        };
    let (taken, unserved, charges) = decode(&row).map_err(Stage::BeforeCommit)?;
    if !unserved.is_empty() {
        sqlx::query(UNCHARGE_SQL)
            .bind(&unserved)
            .bind(&charges)
            .bind(&taken.currency)
            .execute(&mut *tx)
            .await
            .map_err(Stage::BeforeCommit)?;
    }
    let sales = sales(&taken, batch, order_ids, limits.fee).map_err(|err| {
        Stage::BeforeCommit(sqlx::Error::Protocol(format!(
            "instant sale refused: {err}"
        )))
    })?;
    ledger::post_new_batch(&mut tx, &sales)
        .await
        .map_err(|err| match err {
            ledger::LedgerError::Database(err) => Stage::BeforeCommit(err),
            other => Stage::BeforeCommit(sqlx::Error::Protocol(other.to_string())),
        })?;
    crate::crash_point!("purchase::batch_before_commit");
    tx.commit().await.map_err(Stage::Commit)?;
    crate::crash_point!("purchase::batch_after_commit");
    // Tests: a commit that succeeded but whose answer was lost (`FAILPOINTS=
    // purchase::batch_commit_unconfirmed=return`).
    #[cfg(feature = "failpoints")]
    ::fail::fail_point!("purchase::batch_commit_unconfirmed", |_| Err(
        Stage::Commit(sqlx::Error::PoolClosed)
    ));
    Ok(Some(taken))
}

/// The `instant_sale` of every order the batch placed.
fn sales(
    taken: &Taken,
    batch: &[Pending<Waiter, Batched>],
    order_ids: &[String],
    fee: FeeRate,
) -> Result<Vec<ledger::JournalTransaction>, ledger::LedgerError> {
    batch
        .iter()
        .zip(order_ids)
        .filter(|(p, _)| taken.served.contains(&p.req.buyer_id))
        .map(|(p, id)| {
            let sale = ledger::Sale {
                order_id: id,
                buyer_id: &p.req.buyer_id,
                seller_id: &taken.seller_id,
                currency: &taken.currency,
                total_cents: p.req.units * taken.price_cents,
            };
            ledger::instant_sale(&sale, fee)
        })
        .collect()
}

/// The order exactly as the batch statement stored it.
fn order(taken: &Taken, id: String, listing: &str, w: &Waiter, now: i64) -> Order {
    Order {
        id,
        buyer_id: w.buyer_id.clone(),
        listing_id: listing.to_owned(),
        seller_id: taken.seller_id.clone(),
        service_name: taken.service_name.clone(),
        units: w.units,
        unit_price_cents: taken.price_cents,
        total_cents: w.units * taken.price_cents,
        currency: taken.currency.clone(),
        status: OrderStatus::Fulfilled,
        payment_status: PaymentStatus::Deferred,
        holds_units: true,
        provider: None,
        provider_session_id: None,
        checkout_url: None,
        payment_intent_id: None,
        settlement_id: None,
        expires_at: None,
        created_at: now,
        updated_at: now,
    }
}
