//! A batch written the long way: `BEGIN`, the batch statement, the journal
//! statement, `COMMIT`. It serves the purchases that fit in arrival order, takes
//! back the charge of those it could not serve, and reads the listing's facts.

use std::collections::HashSet;

use sqlx::Row;
use sqlx::postgres::{PgPool, PgRow};

use super::{Args, Batched, Stage, Taken, Waiter, facts_of, refused_sale, sales};
use crate::db::PURCHASE_BEGIN;
use crate::db::batcher::Pending;
use crate::ledger;

/// [`batch_ctes`], then what they did: the listing's facts from `taken`, the
/// buyers served, and those charged but not served with their charges.
const BATCH_SQL: &str = concat!(
    batch_ctes!(),
    " \
SELECT t.seller_id, t.service_name, t.currency, t.price_cents, \
  ARRAY(SELECT buyer_id FROM fit) AS served, \
  ARRAY(SELECT buyer_id FROM acc WHERE idx NOT IN (SELECT idx FROM fit)) AS unserved, \
  ARRAY(SELECT total FROM acc WHERE idx NOT IN (SELECT idx FROM fit)) AS charges \
FROM taken t"
);

/// Takes back the charge of buyers a batch accepted but could not serve (the
/// listing ran out before their turn), inside the batch's transaction, so nobody
/// ever sees it.
const UNCHARGE_SQL: &str = "\
UPDATE balances AS b SET owed_cents = b.owed_cents - u.total \
FROM UNNEST($1::text[], $2::bigint[]) AS u(user_id, total) \
WHERE b.user_id = u.user_id AND b.currency = $3";

/// Writes the batch in one transaction; `None` when the listing took no units
/// (paused, repriced or sold out: everything rolled back).
pub(super) async fn write(
    pg: &PgPool,
    args: &Args<'_>,
    batch: &[Pending<Waiter, Batched>],
) -> Result<Option<Taken>, Stage> {
    let mut tx = pg
        .begin_with(PURCHASE_BEGIN)
        .await
        .map_err(Stage::BeforeCommit)?;
    let row = args
        .bind(sqlx::query(BATCH_SQL))
        .fetch_optional(&mut *tx)
        .await
        .map_err(Stage::BeforeCommit)?;
    let Some(row) = row else {
        tx.rollback().await.map_err(Stage::BeforeCommit)?;
        return Ok(None);
    };
    let (taken, unserved, charges) = decode(&row).map_err(Stage::BeforeCommit)?;
    if !unserved.is_empty() {
        sqlx::query(UNCHARGE_SQL)
            .bind(&unserved)
            .bind(&charges)
            .bind(&taken.facts.currency)
            .execute(&mut *tx)
            .await
            .map_err(Stage::BeforeCommit)?;
    }
    let sales = sales(&taken.facts, batch, &args.order_ids, |buyer| {
        taken.served.contains(buyer)
    })
    .map_err(refused_sale)?;
    ledger::post_new_batch(&mut tx, &sales)
        .await
        .map_err(|err| match err {
            ledger::LedgerError::Database(err) => Stage::BeforeCommit(err),
            other => refused_sale(other),
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

/// What the batch statement reported: the facts and buyers served, and the buyers
/// charged but not served with their charges.
fn decode(row: &PgRow) -> Result<(Taken, Vec<String>, Vec<i64>), sqlx::Error> {
    let taken = Taken {
        facts: facts_of(row)?,
        served: row
            .try_get::<Vec<String>, _>("served")?
            .into_iter()
            .collect::<HashSet<_>>(),
    };
    Ok((taken, row.try_get("unserved")?, row.try_get("charges")?))
}
