//! Purchases of any listings combined into one statement, with no explicit
//! transaction: one round trip and one commit for balances, units, orders, grants
//! and the journal of the whole batch, whichever listings it buys.
//!
//! The journal is computed before the statement from each listing's price, currency,
//! seller and name as the process remembers them ([`FactsCache`]); the listings it
//! does not know are read first, all in one statement, and remembered.
//!
//! The purchases wait in one queue per process (`queue`), which lets a few
//! statements run at once but never one listing in two of them, so a hot listing's
//! purchases gather into one batch while its previous one commits.
//!
//! The statement takes each listing's units with the same conditional update as a
//! purchase alone (active, at the price the facts say, with the units), and ends with
//! `purchase_combined_check` (migration 0023), which refuses the whole statement
//! unless it placed every purchase it charged. A refusal names the listings that
//! could not serve theirs: their facts are forgotten and their purchases go the long
//! way (`transaction`, per listing, which serves a partial batch exactly), and the
//! rest of the batch is written again at once.
//!
//! Locks: the statement locks its buyers' balance rows in buyer order, then its
//! listing rows in id order, then any ledger account it creates, as every other
//! purchase does (balance, then listing), so no two purchases wait in a cycle,
//! however many listings each holds and however many processes write.
//!
//! The statement runs under the native pool's session timeouts
//! ([`crate::db::PURCHASE_TIMEOUTS`]), as a transaction's would under
//! [`crate::db::PURCHASE_BEGIN`].

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use sqlx::Row;
use sqlx::postgres::{PgDatabaseError, PgPool};

use super::{Batched, Facts, FactsCache, Stage, Waiter, count, facts_of, failed, order};
use crate::clock::now_ms;
use crate::db::batcher::Pending;
use crate::ids::new_id;
use crate::ledger::{self, AccountKind, PLATFORM_OWNER, TransactionKind};
use crate::telemetry::labels::BatchWay;
use crate::vocab::{GrantStatus, ListingStatus, OrderStatus, PaymentStatus};

/// How a combined purchase ended.
pub(super) enum Answer {
    /// Written (or failed) here.
    Done(Batched),
    /// Its listing could not serve it at the known facts (or they were forgotten):
    /// buy it the long way, in its listing's own batch.
    Alone,
}

/// The statement, binding `$1`–`$25` ([`Args::bind`]).
///
/// - `req`: the purchases that are instant at their listing's known price, of
///   buyers other than its seller (checked before too: [`is_instant`]), each with
///   the fee its total is split with (computed here, in Rust, by the rate of this
///   process).
/// - `owed`: each buyer's balance goes up through the conditional upsert against
///   the cap, in buyer order; `acc` keeps the purchases it accepted.
/// - `want`: the units each listing must give, at the price expected of it.
/// - `lk` locks those listings in id order, once every balance is written (the
///   `COUNT(*)` gate is evaluated before the listings are scanned; without it a
///   generic plan may lock a listing first and wait in a cycle with a purchase
///   alone). `taken` waits for `lk` whole the same way, then takes each listing's
///   units only if it is active, at that price, and has them.
/// - `sold` keeps the accepted purchases of the listings that gave their units;
///   `placed` and `granted` insert their orders and grants, each order naming the
///   statement's journal transaction and its own fee.
/// - `jt` posts that one transaction (`instant_sales:{batch}`) when anything was
///   placed, and `lines` its entries: what each buyer owes, each seller's pending
///   share and the platform's fee, per currency, without the lines of zero. They
///   balance by construction (Σ total = Σ (total − fee) + Σ fee).
/// - The check refuses everything unless every accepted purchase was placed.
const COMBINED_SQL: &str = "\
WITH req AS ( \
  SELECT r.*, r.units * r.price_cents AS total \
  FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], \
    $7::bigint[], $8::text[], $9::text[], $10::text[], $18::bigint[]) \
    AS r(listing_id, order_id, buyer_id, units, grant_id, idem_key, price_cents, currency, \
      seller_id, service_name, fee) \
  WHERE r.units * r.price_cents <= $11 AND r.buyer_id <> r.seller_id \
), owed AS ( \
  INSERT INTO balances AS b (user_id, currency, owed_cents) \
  SELECT buyer_id, currency, total FROM req ORDER BY buyer_id \
  ON CONFLICT (user_id, currency) DO UPDATE SET owed_cents = b.owed_cents + excluded.owed_cents \
  WHERE b.owed_cents + excluded.owed_cents <= $12 \
  RETURNING user_id \
), acc AS ( \
  SELECT req.* FROM req JOIN owed ON owed.user_id = req.buyer_id \
), want AS ( \
  SELECT listing_id, price_cents, CAST(SUM(units) AS BIGINT) AS units FROM acc \
  GROUP BY listing_id, price_cents \
), lk AS ( \
  SELECT id FROM listings \
  WHERE (SELECT COUNT(*) FROM owed) > 0 AND id IN (SELECT listing_id FROM want) \
  ORDER BY id FOR UPDATE \
), taken AS ( \
  UPDATE listings AS l SET available_units = l.available_units - w.units \
  FROM want w \
  WHERE (SELECT COUNT(*) FROM lk) > 0 AND l.id = w.listing_id AND l.status = $14 \
    AND l.price_cents = w.price_cents AND l.available_units >= w.units \
  RETURNING l.id \
), sold AS ( \
  SELECT a.* FROM acc a WHERE a.listing_id IN (SELECT id FROM taken) \
), placed AS ( \
  INSERT INTO orders (id, buyer_id, listing_id, seller_id, service_name, units, \
    unit_price_cents, total_cents, currency, status, payment_status, holds_units, \
    provider, expires_at, created_at, updated_at, idempotency_key, sale_reference, \
    sale_fee_cents) \
  SELECT s.order_id, s.buyer_id, s.listing_id, s.seller_id, s.service_name, s.units, \
    s.price_cents, s.total, s.currency, $15, $16, 1, NULL, NULL, $13, $13, s.idem_key, $19, \
    s.fee \
  FROM sold s \
  RETURNING id \
), granted AS ( \
  INSERT INTO grants (id, order_id, buyer_id, listing_id, seller_id, units, status, created_at) \
  SELECT s.grant_id, s.order_id, s.buyer_id, s.listing_id, s.seller_id, s.units, $17, $13 \
  FROM sold s \
), jt AS ( \
  INSERT INTO journal_transactions (reference, kind, subject_id, created_at) \
  SELECT $19, $21, $20, $13 WHERE EXISTS (SELECT 1 FROM placed) \
  RETURNING reference \
), lines AS ( \
  SELECT s.buyer_id AS owner_id, $22::text AS account_kind, s.currency, \
    CAST(SUM(s.total) AS BIGINT) AS amount_cents \
  FROM sold s GROUP BY s.buyer_id, s.currency \
  UNION ALL \
  SELECT s.seller_id, $23, s.currency, -CAST(SUM(s.total - s.fee) AS BIGINT) \
  FROM sold s GROUP BY s.seller_id, s.currency \
  UNION ALL \
  SELECT $24, $25, s.currency, -CAST(SUM(s.fee) AS BIGINT) FROM sold s GROUP BY s.currency \
), e AS ( \
  SELECT jt.reference, \
    row_number() OVER (ORDER BY l.account_kind, l.owner_id, l.currency) - 1 AS line, \
    l.owner_id, l.account_kind, l.currency, l.amount_cents \
  FROM lines l CROSS JOIN jt WHERE l.amount_cents <> 0 \
), a AS ( \
  INSERT INTO ledger_accounts (owner_id, kind, currency, created_at) \
  SELECT DISTINCT e.owner_id, e.account_kind, e.currency, $13::bigint FROM e \
  ORDER BY e.owner_id, e.account_kind, e.currency \
  ON CONFLICT (owner_id, kind, currency) DO NOTHING \
), je AS ( \
  INSERT INTO journal_entries (reference, line, owner_id, account_kind, currency, amount_cents) \
  SELECT * FROM e \
) \
SELECT ARRAY(SELECT id FROM placed) AS placed, \
  purchase_combined_check((SELECT COUNT(*) FROM acc), (SELECT COUNT(*) FROM placed), \
    ARRAY(SELECT listing_id FROM want WHERE listing_id NOT IN (SELECT id FROM taken))) \
    AS checked";

/// The SQLSTATE of `purchase_combined_check`'s refusal.
const REFUSED: &str = "UD001";

/// Writes one batch the queue took (one purchase per buyer); after a refusal,
/// writes what the refused listings leave once more.
pub(super) async fn serve(pg: PgPool, cache: Arc<FactsCache>, batch: Vec<Pending<Waiter, Answer>>) {
    let (pg, cache) = (&pg, &*cache);
    let known = listing_facts(pg, cache, &batch).await;
    let mut batch = with_facts(&known, batch);
    for attempt in 0..2 {
        if batch.is_empty() {
            return;
        }
        let args = Args::new(&batch);
        let outcome = write(pg, &args).await;
        metrics::histogram!("udam_purchase_batch_size").record(batch.len() as f64);
        let Args { order_ids, now, .. } = args;
        match outcome {
            Ok(Written::Placed(placed)) => {
                count(BatchWay::OneStatement);
                record_listings(&batch);
                for ((p, facts), id) in batch.into_iter().zip(order_ids) {
                    let answer = if placed.contains(&id) {
                        Batched::Placed(Box::new(order(&facts, id, &p.req, now)))
                    } else {
                        // Refused by the unpaid cap: one at a time reserves it.
                        Batched::Fallback
                    };
                    p.reply(Answer::Done(answer));
                }
                return;
            }
            Ok(Written::Refused(listings)) => {
                count(BatchWay::Refused);
                for listing in &listings {
                    cache.forget(listing);
                }
                let (refused, rest): (Vec<_>, Vec<_>) = batch
                    .into_iter()
                    .partition(|(p, _)| listings.contains(&p.req.listing_id));
                reply_alone(refused.into_iter().map(|(p, _)| p));
                batch = rest;
                if attempt == 1 || listings.is_empty() {
                    // Refused twice (the listings changed again meanwhile) or for no
                    // listing named: the long way serves each exactly.
                    reply_alone(batch.into_iter().map(|(p, _)| p));
                    return;
                }
            }
            Err(stage) => {
                let answer = failed(stage);
                for (p, _) in batch {
                    p.reply(Answer::Done(answer.clone()));
                }
                return;
            }
        }
    }
}

/// What is known of a batch's listings: each one's facts, remembered by the process
/// or read now for all of those it does not know (one statement). `None` for a
/// listing that is not active (or not there), and for every unknown one when the
/// read failed.
async fn listing_facts(
    pg: &PgPool,
    cache: &FactsCache,
    batch: &[Pending<Waiter, Answer>],
) -> HashMap<String, Option<Facts>> {
    let mut known: HashMap<String, Option<Facts>> = HashMap::new();
    for p in batch {
        let listing = &p.req.listing_id;
        if !known.contains_key(listing) {
            known.insert(listing.clone(), cache.get(listing));
        }
    }
    let unknown: Vec<&str> = known
        .iter()
        .filter(|(_, facts)| facts.is_none())
        .map(|(id, _)| id.as_str())
        .collect();
    if unknown.is_empty() {
        return known;
    }
    let rows = sqlx::query(LISTINGS_SQL).bind(&unknown).fetch_all(pg).await;
    let rows = match rows {
        Ok(rows) => rows,
        Err(err) => {
            // Those purchases run one at a time, which reads the listing again.
            tracing::warn!(error = %err, "reading a combined batch's listings failed");
            return known;
        }
    };
    for row in rows {
        let (Ok(id), Ok(status), Ok(facts)) = (
            row.try_get::<String, _>("id"),
            row.try_get::<String, _>("status"),
            facts_of(&row),
        ) else {
            continue;
        };
        if status != ListingStatus::Active.as_str() {
            continue;
        }
        cache.remember(&id, &facts);
        known.insert(id, Some(facts));
    }
    known
}

/// The listings among `$1`, with what a purchase needs of them. By the primary key
/// alone: with `status` in the condition too, the generic plan walked the whole
/// `(status, price_cents, id)` index (6.6 ms at 10,000 listings, against 0.03 ms).
const LISTINGS_SQL: &str = "SELECT id, status, seller_id, service_name, currency, price_cents \
     FROM listings WHERE id = ANY($1)";

/// The batch's purchases that are instant at their listing's facts, with those
/// facts. The others are answered at once, to run one at a time, which says why or
/// reserves: a listing not active (or not read), the buyer's own listing, a total
/// above the instant limit.
fn with_facts(
    known: &HashMap<String, Option<Facts>>,
    batch: Vec<Pending<Waiter, Answer>>,
) -> Vec<(Pending<Waiter, Answer>, Facts)> {
    let mut with = Vec::with_capacity(batch.len());
    for p in batch {
        let facts = known.get(&p.req.listing_id).cloned().flatten();
        match facts.filter(|facts| is_instant(&p.req, facts)) {
            Some(facts) => with.push((p, facts)),
            None => p.reply(Answer::Done(Batched::Fallback)),
        }
    }
    with
}

/// Whether `w` is an instant purchase of another seller's listing at `facts`.
fn is_instant(w: &Waiter, facts: &Facts) -> bool {
    let total = w.units.checked_mul(facts.price_cents);
    facts.seller_id != w.buyer_id && total.is_some_and(|t| t <= w.limits.instant_max_cents)
}

fn reply_alone(purchases: impl IntoIterator<Item = Pending<Waiter, Answer>>) {
    for p in purchases {
        p.reply(Answer::Alone);
    }
}

/// How many listings one combined statement bought from.
fn record_listings(batch: &[(Pending<Waiter, Answer>, Facts)]) {
    let listings: HashSet<&str> = batch
        .iter()
        .map(|(p, _)| p.req.listing_id.as_str())
        .collect();
    metrics::histogram!("udam_purchase_batch_listings").record(listings.len() as f64);
}

/// How the statement ended, when it did not fail.
enum Written {
    /// Committed: the orders placed (every purchase it charged).
    Placed(HashSet<String>),
    /// Refused by its check, naming the listings that could not serve their
    /// purchases: nothing was written.
    Refused(HashSet<String>),
}

/// Writes the batch with one statement.
async fn write(pg: &PgPool, args: &Args<'_>) -> Result<Written, Stage> {
    // Tests: the database refusing every listing of the batch, so that its purchases
    // go the transaction way (`FAILPOINTS=purchase::combined_refuses=return`).
    #[cfg(feature = "failpoints")]
    ::fail::fail_point!("purchase::combined_refuses", |_| {
        let listings = args.listings.iter().map(|id| (*id).to_owned());
        Ok(Written::Refused(listings.collect()))
    });
    // Nothing is sent before the connection is ours: failing here changes nothing.
    let mut conn = pg.acquire().await.map_err(Stage::BeforeCommit)?;
    crate::crash_point!("purchase::one_statement_before");
    // `fetch_one` reads every response up to ReadyForQuery (sqlx does, for deferred
    // constraints), so an `Ok` means the implicit transaction committed.
    let result = args
        .bind(sqlx::query(COMBINED_SQL))
        .fetch_one(&mut *conn)
        .await;
    let row = match result {
        Ok(row) => row,
        // The server answered with an error: the statement, and with it its implicit
        // transaction, rolled back.
        Err(sqlx::Error::Database(err)) if err.code().as_deref() == Some(REFUSED) => {
            let named = err
                .try_downcast_ref::<PgDatabaseError>()
                .and_then(PgDatabaseError::detail)
                .unwrap_or_default();
            tracing::debug!(reason = %err, listings = named, "combined purchase refused");
            let listings = named
                .split(',')
                .filter(|id| !id.is_empty())
                .map(str::to_owned)
                .collect();
            return Ok(Written::Refused(listings));
        }
        Err(err @ sqlx::Error::Database(_)) => return Err(Stage::BeforeCommit(err)),
        // Anything else (the connection failed, the answer could not be read) may have
        // come after the commit.
        Err(err) => return Err(Stage::Commit(err)),
    };
    crate::crash_point!("purchase::one_statement_after");
    #[cfg(feature = "failpoints")]
    ::fail::fail_point!("purchase::batch_commit_unconfirmed", |_| Err(
        Stage::Commit(sqlx::Error::PoolClosed)
    ));
    // Committed: a row that cannot be read leaves the answer unknown, not undone.
    let placed: Vec<String> = row.try_get("placed").map_err(Stage::Commit)?;
    Ok(Written::Placed(placed.into_iter().collect()))
}

/// The statement's `$1`–`$25`, one element per purchase where an array.
struct Args<'a> {
    listings: Vec<&'a str>,
    order_ids: Vec<String>,
    buyers: Vec<&'a str>,
    units: Vec<i64>,
    grant_ids: Vec<String>,
    keys: Vec<Option<&'a str>>,
    prices: Vec<i64>,
    currencies: Vec<&'a str>,
    sellers: Vec<&'a str>,
    names: Vec<&'a str>,
    /// The platform's fee on each purchase's total, by this process's rate.
    fees: Vec<i64>,
    /// The statement's journal transaction (`instant_sales:{batch}`) and its subject.
    sale_reference: String,
    batch_id: String,
    instant_max_cents: i64,
    unpaid_cap_cents: i64,
    now: i64,
}

impl<'a> Args<'a> {
    fn new(batch: &'a [(Pending<Waiter, Answer>, Facts)]) -> Self {
        let batch_id = new_id("bat");
        let limits = batch.first().map(|(p, _)| p.req.limits);
        let column = |f: fn(&'a Waiter, &'a Facts) -> &'a str| -> Vec<&'a str> {
            batch.iter().map(|(p, facts)| f(&p.req, facts)).collect()
        };
        Self {
            listings: column(|w, _| &w.listing_id),
            order_ids: batch.iter().map(|_| new_id("ord")).collect(),
            buyers: column(|w, _| &w.buyer_id),
            units: batch.iter().map(|(p, _)| p.req.units).collect(),
            grant_ids: batch.iter().map(|_| new_id("tok")).collect(),
            keys: batch
                .iter()
                .map(|(p, _)| p.req.idempotency_key.as_deref())
                .collect(),
            prices: batch.iter().map(|(_, facts)| facts.price_cents).collect(),
            currencies: column(|_, facts| &facts.currency),
            sellers: column(|_, facts| &facts.seller_id),
            names: column(|_, facts| &facts.service_name),
            // `is_instant` let only totals that fit through.
            fees: batch
                .iter()
                .map(|(p, facts)| {
                    let total = p.req.units.saturating_mul(facts.price_cents);
                    p.req.limits.fee.split(total).fee_cents
                })
                .collect(),
            sale_reference: ledger::instant_sales_reference(&batch_id),
            batch_id,
            instant_max_cents: limits.map_or(0, |l| l.instant_max_cents),
            unpaid_cap_cents: limits.map_or(0, |l| l.unpaid_cap_cents),
            now: now_ms(),
        }
    }

    /// Binds `$1`–`$25` to `query`.
    fn bind<'q>(
        &'q self,
        query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    ) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
        query
            .bind(&self.listings)
            .bind(&self.order_ids)
            .bind(&self.buyers)
            .bind(&self.units)
            .bind(&self.grant_ids)
            .bind(&self.keys)
            .bind(&self.prices)
            .bind(&self.currencies)
            .bind(&self.sellers)
            .bind(&self.names)
            .bind(self.instant_max_cents)
            .bind(self.unpaid_cap_cents)
            .bind(self.now)
            // A native PostgreSQL connection: the words go as their text.
            .bind(ListingStatus::Active.as_str())
            .bind(OrderStatus::Fulfilled.as_str())
            .bind(PaymentStatus::Deferred.as_str())
            .bind(GrantStatus::Active.as_str())
            .bind(&self.fees)
            .bind(&self.sale_reference)
            .bind(&self.batch_id)
            .bind(TransactionKind::InstantSales.as_str())
            .bind(AccountKind::BuyerReceivable.as_str())
            .bind(AccountKind::SellerPending.as_str())
            .bind(PLATFORM_OWNER)
            .bind(AccountKind::PlatformFees.as_str())
    }
}
