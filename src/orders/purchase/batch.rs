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
//! Two ways to write a batch, with the same effects:
//! - `one_statement`: when the process knows the listing's price, currency,
//!   seller and name from its previous batch (`facts`), everything, the journal
//!   included, goes in one statement outside an explicit transaction: one round trip
//!   and one commit. The statement refuses itself, writing nothing, unless it placed
//!   every purchase it charged with the facts its journal was computed from.
//! - `transaction`: otherwise, and after such a refusal, `BEGIN`, the batch
//!   statement, the journal statement and `COMMIT`. It serves a partial batch in
//!   arrival order and learns the listing's facts for the next batch.
//!
//! Money and keys: the batch posts every served order's `instant_sale` in the same
//! database transaction, and each order carries its request's Idempotency-Key. A key
//! that names an order already fails the batch on the unique index; the batch rolls
//! back and its purchases run one at a time, where the duplicate is answered with the
//! existing order. A buyer's own listing is left out of the batch (the one-at-a-time
//! path refuses it).

use std::collections::HashSet;
use std::sync::Arc;

use sqlx::postgres::{PgArguments, PgPool, Postgres};
use sqlx::query::Query;

use crate::db::batcher::{Batcher, Pending};

use crate::clock::now_ms;
use crate::ids::new_id;
use crate::ledger::{self, FeeRate};
use crate::orders::model::Order;
use crate::telemetry::labels::BatchWay;
use crate::vocab::{GrantStatus, ListingStatus, OrderStatus, PaymentStatus};

/// The common table expressions both ways of writing a batch start with, binding
/// `$1`–`$13` ([`Args::bind`]): balances, units, orders and grants.
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
/// Buyers in `acc` but not in `fit` were charged without being served: the
/// transaction way takes their charge back before committing, the one statement
/// refuses itself.
macro_rules! batch_ctes {
    () => {
        "\
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
)"
    };
}

mod one_statement;
mod transaction;

use super::facts::{Facts, FactsCache};

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
/// one batch of a listing in the database at a time, and the facts of the listings
/// it served.
pub struct Combiner {
    batcher: Arc<Batcher<String, Waiter, Batched>>,
    facts: Arc<FactsCache>,
}

/// A combiner with this path's limits, sharing the process's listing facts.
pub fn new_combiner(facts: Arc<FactsCache>) -> Combiner {
    Combiner {
        batcher: Arc::new(Batcher::new(1, MAX_BATCH)),
        facts,
    }
}

/// Buys as part of a batch.
pub async fn buy(
    combiner: &Arc<Combiner>,
    pg: &PgPool,
    limits: Limits,
    req: super::Request<'_>,
) -> Batched {
    let pg = pg.clone();
    let facts = Arc::clone(&combiner.facts);
    let waiter = Waiter {
        buyer_id: req.buyer_id.to_owned(),
        units: req.units,
        idempotency_key: req.idempotency_key.map(str::to_owned),
        limits,
    };
    let serve = move |listing: String, batch| serve(pg.clone(), facts.clone(), listing, batch);
    combiner
        .batcher
        .submit(req.listing_id.to_owned(), waiter, serve)
        .await
        // No answer only if the serving task panicked: whether it committed is unknown.
        .unwrap_or(Batched::Failed)
}

/// Serves one batch taken by the batcher: a buyer's balance row is updated once
/// per statement, so a buyer's second purchase in it runs in a following batch.
async fn serve(
    pg: PgPool,
    facts: Arc<FactsCache>,
    listing: String,
    mut waiting: Vec<Pending<Waiter, Batched>>,
) {
    while !waiting.is_empty() {
        let batch = distinct_buyers(&mut waiting);
        run_batch(&pg, &facts, &listing, batch).await;
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

/// What a batch placed, with the listing's facts it was placed at.
struct Taken {
    facts: Facts,
    /// Buyers whose orders were placed.
    served: HashSet<String>,
}

/// Where a batch failed.
enum Stage {
    /// Before anything committed: nothing happened, each purchase may run alone.
    BeforeCommit(sqlx::Error),
    /// While committing: whether the batch committed is unknown.
    Commit(sqlx::Error),
}

async fn run_batch(
    pg: &PgPool,
    facts: &FactsCache,
    listing: &str,
    batch: Vec<Pending<Waiter, Batched>>,
) {
    let Some(limits) = batch.first().map(|p| p.req.limits) else {
        return;
    };
    let args = Args::new(listing, &batch, limits);
    let outcome = write(pg, facts, &args, &batch).await;
    let Args { order_ids, now, .. } = args;
    metrics::histogram!("udam_purchase_batch_size").record(batch.len() as f64);
    match outcome {
        Ok(Some(taken)) => {
            for (p, id) in batch.into_iter().zip(order_ids) {
                let answer = if taken.served.contains(&p.req.buyer_id) {
                    let order = order(&taken.facts, id, listing, &p.req, now);
                    Batched::Placed(Box::new(order))
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

/// Writes the batch in one statement when the listing's facts are known, else (or
/// when that statement refused itself) in a transaction, and keeps the facts the
/// transaction found for the next batch.
async fn write(
    pg: &PgPool,
    cache: &FactsCache,
    args: &Args<'_>,
    batch: &[Pending<Waiter, Batched>],
) -> Result<Option<Taken>, Stage> {
    if let Some(facts) = cache.get(args.listing) {
        match one_statement::write(pg, args, batch, facts).await? {
            one_statement::Written::Placed(taken) => {
                count(BatchWay::OneStatement);
                return Ok(Some(taken));
            }
            one_statement::Written::Refused => count(BatchWay::Refused),
        }
    }
    count(BatchWay::Transaction);
    let taken = transaction::write(pg, args, batch).await?;
    match &taken {
        Some(taken) => cache.remember(args.listing, &taken.facts),
        None => cache.forget(args.listing),
    }
    Ok(taken)
}

fn count(way: BatchWay) {
    metrics::counter!("udam_purchase_batch_writes_total", "way" => way.as_str()).increment(1);
}

/// A batch's `$1`–`$13`: what [`batch_ctes`] binds, in both ways of writing it.
struct Args<'a> {
    listing: &'a str,
    order_ids: Vec<String>,
    grant_ids: Vec<String>,
    buyers: Vec<&'a str>,
    units: Vec<i64>,
    keys: Vec<Option<&'a str>>,
    limits: Limits,
    now: i64,
}

impl<'a> Args<'a> {
    fn new(listing: &'a str, batch: &'a [Pending<Waiter, Batched>], limits: Limits) -> Self {
        Self {
            listing,
            order_ids: batch.iter().map(|_| new_id("ord")).collect(),
            grant_ids: batch.iter().map(|_| new_id("tok")).collect(),
            buyers: batch.iter().map(|p| p.req.buyer_id.as_str()).collect(),
            units: batch.iter().map(|p| p.req.units).collect(),
            keys: batch
                .iter()
                .map(|p| p.req.idempotency_key.as_deref())
                .collect(),
            limits,
            now: now_ms(),
        }
    }

    /// Binds `$1`–`$13` to `query`, whose text starts with [`batch_ctes`].
    fn bind<'q>(
        &'q self,
        query: Query<'q, Postgres, PgArguments>,
    ) -> Query<'q, Postgres, PgArguments> {
        query
            .bind(self.listing)
            .bind(&self.order_ids)
            .bind(&self.buyers)
            .bind(&self.units)
            .bind(&self.grant_ids)
            .bind(self.limits.instant_max_cents)
            .bind(self.limits.unpaid_cap_cents)
            .bind(self.now)
            // A native PostgreSQL connection: the words go as their text.
            .bind(ListingStatus::Active.as_str())
            .bind(OrderStatus::Fulfilled.as_str())
            .bind(PaymentStatus::Deferred.as_str())
            .bind(GrantStatus::Active.as_str())
            .bind(&self.keys)
    }
}

/// The `instant_sale` of each order of `batch` whose buyer `served` admits, at the
/// listing's `facts`.
fn sales(
    facts: &Facts,
    batch: &[Pending<Waiter, Batched>],
    order_ids: &[String],
    fee: FeeRate,
    served: impl Fn(&str) -> bool,
) -> Result<Vec<ledger::JournalTransaction>, ledger::LedgerError> {
    batch
        .iter()
        .zip(order_ids)
        .filter(|(p, _)| served(&p.req.buyer_id))
        .map(|(p, id)| {
            let sale = ledger::Sale {
                order_id: id,
                buyer_id: &p.req.buyer_id,
                seller_id: &facts.seller_id,
                currency: &facts.currency,
                total_cents: p.req.units * facts.price_cents,
            };
            ledger::instant_sale(&sale, fee)
        })
        .collect()
}

/// A sale the ledger refused to build, as the failure of the batch's write.
fn refused_sale(err: ledger::LedgerError) -> Stage {
    Stage::BeforeCommit(sqlx::Error::Protocol(format!(
        "instant sale refused: {err}"
    )))
}

/// The order exactly as the batch statement stored it.
fn order(facts: &Facts, id: String, listing: &str, w: &Waiter, now: i64) -> Order {
    Order {
        id,
        buyer_id: w.buyer_id.clone(),
        listing_id: listing.to_owned(),
        seller_id: facts.seller_id.clone(),
        service_name: facts.service_name.clone(),
        units: w.units,
        unit_price_cents: facts.price_cents,
        total_cents: w.units * facts.price_cents,
        currency: facts.currency.clone(),
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
