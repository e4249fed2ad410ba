//! Instant purchases on SQLite: they share the one writer's transactions.
//!
//! SQLite has one writer at a time. Before, each purchase opened its own
//! `BEGIN IMMEDIATE` on a pool connection and the losers slept in SQLite's busy
//! handler; at 64 clients on one listing, p99 was a second (issue 16, item 6).
//! Now a purchase is a job for [`crate::db::Db::write`]: the purchases queued while
//! one batch is in the database become the next batch, each in a savepoint, one
//! commit for all. Each job does exactly what a lone instant purchase does (the
//! conditional balance upsert against the cap, the conditional take, the order
//! with its Idempotency-Key and grant, the sale's journal transaction), so each is
//! answered exactly as alone: a refused take or a duplicate key rolls back its own
//! savepoint and goes back to the caller's loop (which re-reads and says why), and
//! a job that fails answers its own error while its batch-mates commit. A job sends
//! all its statements in one call (see [`buy`]): with its savepoint, two hand-offs
//! to SQLite's thread per purchase instead of five (docs/BENCHMARKS.md, "One call
//! per purchase").
//!
//! Crash points are those of the lone path (`purchase::instant_before_commit` in the
//! job, `purchase::instant_after_commit` once its batch committed), since this *is*
//! SQLite's instant path. A batch that could not begin or whose savepoint failed
//! wrote nothing: its purchases run alone. A batch whose commit failed answers
//! `outcome_unknown`, as PostgreSQL's combiner does.

use super::{Attempt, Facts, NewOrder, OrderDraft, Take, instant_sale_of, try_instant_alone};
use crate::db::{AnyQuery, Tx, WriteError};
use crate::error::{ApiError, ErrorCode};
use crate::ledger::{self, FeeRate};
use crate::orders::model::Order;
use crate::state::AppState;
use crate::vocab::{GrantStatus, ListingStatus};

/// A purchase as a job owns it (the job outlives the caller's borrows).
struct Job {
    buyer_id: String,
    listing_id: String,
    facts: Facts,
    units: i64,
    total: i64,
    idempotency_key: Option<String>,
    unpaid_cap_cents: i64,
    fee: FeeRate,
}

/// Why a job rolled its savepoint back.
enum Undone {
    /// The take refused, or the key already names an order: the caller's loop says why.
    Take(Take),
    /// The database (or the ledger) failed this purchase alone.
    Failed(ApiError),
}

impl From<ApiError> for Undone {
    fn from(err: ApiError) -> Self {
        Self::Failed(err)
    }
}

impl From<sqlx::Error> for Undone {
    fn from(err: sqlx::Error) -> Self {
        Self::Failed(err.into())
    }
}

/// [`super::try_instant`] on SQLite: the purchase as a job of the shared writer.
pub(super) async fn try_instant(
    state: &AppState,
    draft: &OrderDraft<'_>,
) -> Result<Option<Attempt>, ApiError> {
    let job = Job {
        buyer_id: draft.buyer_id.to_owned(),
        listing_id: draft.listing_id.to_owned(),
        facts: draft.facts.clone(),
        units: draft.units,
        total: draft.total,
        idempotency_key: draft.idempotency_key.map(str::to_owned),
        unpaid_cap_cents: state.config.unpaid_cap_cents,
        fee: state.config.platform_fee_bps,
    };
    let outcome = state
        .db
        .write(move |tx| Box::pin(async move { buy(tx, &job).await }))
        .await;
    match outcome {
        // The buyer's unpaid balance would pass the cap: nothing was written.
        Ok(None) => Ok(None),
        Ok(Some(order)) => {
            crate::crash_point!("purchase::instant_after_commit");
            // Tests: a commit that succeeded but whose answer was lost (`FAILPOINTS=
            // purchase::instant_commit_unconfirmed=return`).
            #[cfg(feature = "failpoints")]
            ::fail::fail_point!("purchase::instant_commit_unconfirmed", |_| Err(
                ApiError::internal(anyhow::anyhow!("the commit went unconfirmed"))
            ));
            Ok(Some((Take::Taken, Some(order))))
        }
        Err(WriteError::Job(Undone::Take(take))) => Ok(Some((take, None))),
        Err(WriteError::Job(Undone::Failed(err))) => Err(err),
        // The batch's transaction never got going: nothing was written, so this
        // purchase may run alone.
        Err(WriteError::NotWritten) => try_instant_alone(state, draft).await,
        Err(WriteError::Unknown) => Err(ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::OutcomeUnknown,
            "the database did not confirm the purchase; retry with the same \
             Idempotency-Key to learn its outcome",
        )),
    }
}

/// One instant purchase inside the batch's transaction; `Ok(None)` when the buyer's
/// unpaid balance would pass the cap (nothing written), `Err` rolls the purchase back.
///
/// It is one call ([`CHAIN_SQL`] and the sale's [`ledger::ChainedPosting`]): each
/// statement runs only when the one before changed exactly one row, and the
/// charge, the order and the journal each return a row when they run, so the rows
/// say how far the chain got: none when the cap refused the charge, one when the
/// listing refused the take (the charge is undone with the job's savepoint), three
/// when the purchase was made.
async fn buy(tx: &mut Tx, job: &Job) -> Result<Option<Order>, Undone> {
    let draft = OrderDraft {
        buyer_id: &job.buyer_id,
        listing_id: &job.listing_id,
        facts: &job.facts,
        units: job.units,
        total: job.total,
        idempotency_key: job.idempotency_key.as_deref(),
    };
    let order = NewOrder::instant(&draft);
    let sale = instant_sale_of(&order, job.fee)?;
    let posting = ledger::ChainedPosting::new(&sale).map_err(ApiError::internal)?;
    let sql = format!("{CHAIN_SQL} {}", posting.sql(CHAIN_PARAMS + 1));
    let query = bind_take_and_insert(sqlx::query(sqlx::AssertSqlSafe(sql)), &order)
        .bind(job.unpaid_cap_cents);
    let steps = match posting.bind(query).fetch_all(&mut **tx).await {
        Ok(rows) => rows.len(),
        Err(err) if job.idempotency_key.is_some() && crate::db::is_unique_violation(&err) => {
            return Err(Undone::Take(Take::Duplicate));
        }
        Err(err) => return Err(err.into()),
    };
    match steps {
        0 => return Ok(None),
        1 => return Err(Undone::Take(Take::Refused)),
        3 => {}
        n => {
            return Err(Undone::Failed(ApiError::internal(anyhow::anyhow!(
                "an instant purchase's statements stopped part way ({n} of 3 steps)"
            ))));
        }
    }
    crate::crash_point!("purchase::instant_before_commit");
    Ok(Some(order.stored()))
}

/// The take and the order's insert, as one string of statements: one hand-off to
/// SQLite's thread instead of one per statement (on the writer's path each hand-off
/// costs two thread switches, the larger part of a purchase's time under load). The
/// order is inserted only when the take changed the listing (`changes()` is the row
/// count of the statement before; rows written by triggers do not count), so the
/// statements' total row count is 0 exactly when the listing refused. The arguments
/// are SQL appended to the take's condition and to the order's insert.
macro_rules! take_and_insert_sql {
    ($take_also:literal, $order_also:literal) => {
        concat!(
            "\
UPDATE listings SET available_units = available_units - $2 \
WHERE id = $1 AND status = $5 AND available_units >= $2 AND price_cents = $3",
            $take_also,
            "; \
INSERT INTO orders (id, buyer_id, listing_id, seller_id, service_name, units, \
  unit_price_cents, total_cents, currency, status, payment_status, holds_units, \
  provider, expires_at, created_at, updated_at, idempotency_key) \
SELECT $6, $7, $1, $8, $9, $2, $3, $10, $11, $12, $13, 1, $14, $15, $4, $4, $16 \
WHERE changes() = 1",
            $order_also,
            ";"
        )
    };
}

/// The grant of an order fulfilled at once: inserted only when the order was.
macro_rules! grant_sql {
    () => {
        " INSERT INTO grants (id, order_id, buyer_id, listing_id, seller_id, units, status, \
           created_at) \
         SELECT $17, $6, $7, $1, $8, $2, $18, $4 WHERE changes() = 1;"
    };
}

/// [`take_and_insert_sql`] for an order that waits for its payment.
const TAKE_AND_INSERT_SQL: &str = take_and_insert_sql!("", "");

/// [`take_and_insert_sql`] for an order fulfilled at once, then its grant.
const TAKE_AND_INSERT_GRANT_SQL: &str = concat!(take_and_insert_sql!("", ""), grant_sql!());

/// An instant purchase's statements before its journal: the charge against the
/// buyer's unpaid cap (`$19`), then the take, which runs only when the charge was
/// made, the order and its grant. The charge and the order return a row each when
/// they run.
const CHAIN_SQL: &str = concat!(
    charge_sql!("$7", "$11", "$10", "$19", "1"),
    "; ",
    take_and_insert_sql!(" AND changes() = 1", " RETURNING 1"),
    grant_sql!()
);

/// The parameters of [`CHAIN_SQL`].
const CHAIN_PARAMS: usize = 19;

/// Takes the units (conditionally) and inserts the order, plus its grant when
/// fulfilled at once: SQLite's half of [`super::take_and_insert`], in the caller's
/// transaction, with one call ([`take_and_insert_sql`]).
pub(super) async fn take_and_insert(tx: &mut Tx, o: &NewOrder<'_>) -> Result<Take, sqlx::Error> {
    let sql = match o.grant_id {
        Some(_) => TAKE_AND_INSERT_GRANT_SQL,
        None => TAKE_AND_INSERT_SQL,
    };
    let written = bind_take_and_insert(sqlx::query(sql), o)
        .execute(&mut **tx)
        .await?;
    Ok(match written.rows_affected() {
        0 => Take::Refused,
        _ => Take::Taken,
    })
}

/// Binds `$1` to `$16` of [`take_and_insert_sql`], and `$17` and `$18` of
/// [`grant_sql`] when the order is fulfilled at once.
fn bind_take_and_insert<'q>(query: AnyQuery<'q>, o: &'q NewOrder<'_>) -> AnyQuery<'q> {
    let (draft, facts, now) = (o.draft, o.draft.facts, o.now);
    let query = query
        .bind(draft.listing_id)
        .bind(draft.units)
        .bind(facts.price_cents)
        .bind(now)
        .bind(ListingStatus::Active)
        .bind(&o.id)
        .bind(draft.buyer_id)
        .bind(&facts.seller_id)
        .bind(&facts.service_name)
        .bind(draft.total)
        .bind(&facts.currency)
        .bind(o.status)
        .bind(o.payment_status)
        .bind(o.provider)
        .bind(o.expires_at)
        .bind(draft.idempotency_key);
    match &o.grant_id {
        Some(grant_id) => query.bind(grant_id).bind(GrantStatus::Active),
        None => query,
    }
}
