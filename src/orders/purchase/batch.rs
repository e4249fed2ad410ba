//! Group commit for instant purchases on PostgreSQL.
//!
//! A listing row can change hands only as fast as one transaction holding its
//! lock commits, so buying one unit at a time from a popular listing is bounded by
//! the commit latency, whatever the hardware; and a purchase of one of many
//! listings pays a statement's fixed costs (start-up, statement triggers, commit)
//! alone. Here concurrent purchases in one process are combined, of one listing or
//! of many: one statement takes all their units with conditional updates and
//! inserts all their orders, grants and journal set-based, so one commit serves the
//! whole batch.
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
//! Batches form by themselves: while batches are in the database, the purchases
//! arriving meanwhile queue up and become the next ones (`queue`). A lone purchase
//! waits for nobody. A purchase whose request is gone (the client hung up, or the
//! request timed out) is dropped before a batch forms.
//!
//! Two ways to write a batch, with the same effects:
//! - `combined`: every purchase first queues with those of other listings. The
//!   batch's sales are priced from each listing's price, currency, seller and name
//!   as the process remembers them (`facts`; those it does not know are read, all in
//!   one statement), and everything, the journal included, goes in one statement
//!   outside an explicit transaction: one round trip and one commit for purchases of
//!   any listings. The statement refuses itself, writing nothing, unless it placed
//!   every purchase it charged; the listings it names go the other way.
//! - `transaction`: those listings' purchases queue per listing, and `BEGIN`, the
//!   batch statement, the journal statement and `COMMIT` write them. It serves a
//!   partial batch in arrival order and learns the listing's new facts.
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
use crate::telemetry::labels::{BatchFailure, BatchWay};
use crate::vocab::{GrantStatus, ListingStatus, OrderStatus, PaymentStatus};

/// The common table expressions of a listing's batch written the transaction way,
/// binding `$1`–`$13` ([`Args::bind`]): balances, units, orders and grants.
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
/// transaction takes their charge back before committing.
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
  UPDATE listings SET available_units = available_units - (SELECT SUM(units) FROM fit) \
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

mod combined;
mod queue;
mod transaction;

use super::facts::{Facts, FactsCache};

/// Most purchases one statement serves; more wait for the next batch.
const MAX_BATCH: usize = 256;

/// Most combined statements of a process in the database at once (a quarter of the
/// native pool, which is half the default pool of 32); purchases arriving while all
/// are busy wait and share the next ones. 2 and 4 measured alike on 2 cores, 8 and
/// 16 slower (docs/BENCHMARKS.md, "Purchases of many listings combined").
const MAX_COMBINED_IN_FLIGHT: usize = 4;

/// How a batched purchase ended.
#[derive(Clone, Debug)]
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
    listing_id: String,
    buyer_id: String,
    units: i64,
    idempotency_key: Option<String>,
    limits: Limits,
}

/// The per-database combiner: purchases combined whatever their listing, a few
/// statements in the database at once, never one listing in two of them
/// (`queue`); those a combined statement could not serve queued per listing, one
/// batch of a listing at a time.
pub struct Combiner {
    combined: Arc<queue::Queue<combined::Answer>>,
    by_listing: Arc<Batcher<String, Waiter, Batched>>,
    facts: Arc<FactsCache>,
}

/// A combiner with this path's limits, sharing the process's listing facts.
pub fn new_combiner(facts: Arc<FactsCache>) -> Combiner {
    Combiner {
        combined: Arc::new(queue::Queue::new(MAX_COMBINED_IN_FLIGHT, MAX_BATCH)),
        by_listing: Arc::new(Batcher::new(1, MAX_BATCH)),
        facts,
    }
}

/// Buys as part of a batch: combined with other listings' purchases, or, when the
/// combined statement could not serve it, in its listing's own batch.
pub async fn buy(
    combiner: &Arc<Combiner>,
    pg: &PgPool,
    limits: Limits,
    req: super::Request<'_>,
) -> Batched {
    let waiter = || Waiter {
        listing_id: req.listing_id.to_owned(),
        buyer_id: req.buyer_id.to_owned(),
        units: req.units,
        idempotency_key: req.idempotency_key.map(str::to_owned),
        limits,
    };
    let (pool, facts) = (pg.clone(), Arc::clone(&combiner.facts));
    let combine = move |batch| combined::serve(pool.clone(), facts.clone(), batch);
    match combiner.combined.submit(waiter(), combine).await {
        Some(combined::Answer::Done(answer)) => return answer,
        Some(combined::Answer::Alone) => {}
        // No answer only if the serving task panicked: whether it committed is unknown.
        None => return Batched::Failed,
    }
    let (pg, facts) = (pg.clone(), Arc::clone(&combiner.facts));
    let serve = move |listing: String, batch| serve(pg.clone(), facts.clone(), listing, batch);
    combiner
        .by_listing
        .submit(req.listing_id.to_owned(), waiter(), serve)
        .await
        .unwrap_or(Batched::Failed)
}

/// Serves one listing's batch taken by the batcher: a buyer's balance row is updated
/// once per statement, so a buyer's second purchase in it runs in a following batch.
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

/// A listing's facts from a row with its `seller_id`, `service_name`, `currency`
/// and `price_cents`.
fn facts_of(row: &sqlx::postgres::PgRow) -> Result<Facts, sqlx::Error> {
    use sqlx::Row;
    Ok(Facts {
        seller_id: row.try_get("seller_id")?,
        service_name: row.try_get("service_name")?,
        currency: row.try_get("currency")?,
        price_cents: row.try_get("price_cents")?,
    })
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
    count(BatchWay::Transaction);
    let outcome = transaction::write(pg, &args, &batch).await;
    let Args { order_ids, now, .. } = args;
    metrics::histogram!("udam_purchase_batch_size").record(batch.len() as f64);
    match outcome {
        Ok(Some(taken)) => {
            facts.remember(listing, &taken.facts);
            for (p, id) in batch.into_iter().zip(order_ids) {
                let answer = if taken.served.contains(&p.req.buyer_id) {
                    Batched::Placed(Box::new(order(&taken.facts, id, &p.req, now)))
                } else {
                    Batched::Fallback
                };
                p.reply(answer);
            }
        }
        Ok(None) => {
            facts.forget(listing);
            for p in batch {
                p.reply(Batched::Fallback);
            }
        }
        Err(stage) => {
            let answer = failed(stage);
            for p in batch {
                p.reply(answer.clone());
            }
        }
    }
}

/// The answer to every purchase of a batch that failed, logged and counted
/// (`udam_purchase_batch_failures_total`).
fn failed(stage: Stage) -> Batched {
    match stage {
        Stage::BeforeCommit(err) => {
            // Rolled back: nothing happened, so each purchase may simply run alone.
            tracing::warn!(error = %err, "a purchase batch failed; buying one at a time");
            count_failure(BatchFailure::BeforeCommit);
            Batched::Fallback
        }
        Stage::Commit(err) => {
            tracing::error!(error = %err, "committing a purchase batch failed");
            count_failure(BatchFailure::Commit);
            Batched::Failed
        }
    }
}

fn count_failure(stage: BatchFailure) {
    metrics::counter!("udam_purchase_batch_failures_total", "stage" => stage.as_str()).increment(1);
}

fn count(way: BatchWay) {
    metrics::counter!("udam_purchase_batch_writes_total", "way" => way.as_str()).increment(1);
}

/// A listing's batch's `$1`–`$13`: what [`batch_ctes`] binds.
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
    served: impl Fn(&str) -> bool,
) -> Result<Vec<ledger::JournalTransaction>, ledger::LedgerError> {
    batch
        .iter()
        .zip(order_ids)
        .filter(|(p, _)| served(&p.req.buyer_id))
        .map(|(p, id)| sale(facts, &p.req, id))
        .collect()
}

/// The `instant_sale` of the order `order_id` of purchase `w` at its listing's `facts`.
fn sale(
    facts: &Facts,
    w: &Waiter,
    order_id: &str,
) -> Result<ledger::JournalTransaction, ledger::LedgerError> {
    let sale = ledger::Sale {
        order_id,
        buyer_id: &w.buyer_id,
        seller_id: &facts.seller_id,
        currency: &facts.currency,
        total_cents: w.units * facts.price_cents,
    };
    ledger::instant_sale(&sale, w.limits.fee)
}

/// A sale the ledger refused to build, as the failure of the batch's write.
fn refused_sale(err: ledger::LedgerError) -> Stage {
    Stage::BeforeCommit(sqlx::Error::Protocol(format!(
        "instant sale refused: {err}"
    )))
}

/// The order exactly as the batch statement stored it.
fn order(facts: &Facts, id: String, w: &Waiter, now: i64) -> Order {
    Order {
        id,
        buyer_id: w.buyer_id.clone(),
        listing_id: w.listing_id.clone(),
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
