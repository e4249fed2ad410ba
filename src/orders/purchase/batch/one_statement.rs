//! A batch written with one statement and no explicit transaction: one round trip
//! and one commit for balances, units, orders, grants and the journal.
//!
//! The journal is computed before the statement, from the listing's facts as the
//! previous batch found them, for every purchase of the batch; the statement posts
//! the transactions of the orders it placed. It ends with `purchase_batch_check`
//! (migration 0021), which refuses the whole statement unless it placed every
//! purchase it charged and the listing row it locked still had those facts. A
//! refused statement wrote nothing; the caller then writes the batch in a
//! transaction, which serves a partial batch exactly and reads the facts afresh.
//!
//! The statement runs under the native pool's session timeouts
//! ([`crate::db::PURCHASE_TIMEOUTS`]), as a transaction's would under
//! [`crate::db::PURCHASE_BEGIN`].

use std::collections::HashSet;

use sqlx::Row;
use sqlx::postgres::PgPool;

use super::{Args, Batched, Facts, Stage, Taken, Waiter, refused_sale, sales};
use crate::db::batcher::Pending;
use crate::ledger::JournalColumns;

/// [`batch_ctes`], then the journal of the orders placed (`$14`–`$22`, as
/// [`JournalColumns`]), then the check against the expected facts (`$23`–`$26`).
/// The journal's three parts are those of `ledger::post_new_batch`; their
/// references are checked at the end of the statement (migration 0018).
const ONE_STATEMENT_SQL: &str = concat!(
    batch_ctes!(),
    ", \
jt AS ( \
  INSERT INTO journal_transactions (reference, kind, subject_id, created_at) \
  SELECT u.reference, u.kind, u.subject_id, $8 \
  FROM UNNEST($14::text[], $15::text[], $16::text[]) AS u(reference, kind, subject_id) \
  WHERE u.subject_id IN (SELECT id FROM placed) \
  RETURNING reference \
), e AS ( \
  SELECT * FROM UNNEST($17::text[], $18::bigint[], $19::text[], $20::text[], $21::text[], $22::bigint[]) \
    AS e(reference, line, owner_id, account_kind, currency, amount_cents) \
  WHERE e.reference IN (SELECT reference FROM jt) \
), a AS ( \
  INSERT INTO ledger_accounts (owner_id, kind, currency, created_at) \
  SELECT DISTINCT e.owner_id, e.account_kind, e.currency, $8::bigint FROM e \
  ORDER BY e.owner_id, e.account_kind, e.currency \
  ON CONFLICT (owner_id, kind, currency) DO NOTHING \
), je AS ( \
  INSERT INTO journal_entries (reference, line, owner_id, account_kind, currency, amount_cents) \
  SELECT * FROM e \
) \
SELECT ARRAY(SELECT buyer_id FROM fit) AS served, \
  purchase_batch_check((SELECT COUNT(*) FROM acc), (SELECT COUNT(*) FROM placed), \
    NOT EXISTS (SELECT 1 FROM taken t \
      WHERE (t.seller_id, t.service_name, t.currency, t.price_cents) \
        IS DISTINCT FROM ($23::text, $24::text, $25::text, $26::bigint))) AS checked"
);

/// The SQLSTATE of `purchase_batch_check`'s refusal.
const REFUSED: &str = "UD001";

/// How the one statement ended, when it did not fail.
pub(super) enum Written {
    /// Committed: every purchase it charged was placed.
    Placed(Taken),
    /// Refused by its check: nothing was written; write the batch in a transaction.
    Refused,
}

/// Writes the batch with one statement at `facts`.
pub(super) async fn write(
    pg: &PgPool,
    args: &Args<'_>,
    batch: &[Pending<Waiter, Batched>],
    facts: Facts,
) -> Result<Written, Stage> {
    let sales =
        sales(&facts, batch, &args.order_ids, args.limits.fee, |_| true).map_err(refused_sale)?;
    let journal = JournalColumns::of(&sales).map_err(refused_sale)?;
    // Nothing is sent before the connection is ours: failing here changes nothing.
    let mut conn = pg.acquire().await.map_err(Stage::BeforeCommit)?;
    crate::crash_point!("purchase::one_statement_before");
    // `fetch_one` reads every response up to ReadyForQuery (sqlx does, for deferred
    // constraints), so an `Ok` means the implicit transaction committed.
    let result = journal
        .bind(args.bind(sqlx::query(ONE_STATEMENT_SQL)))
        .bind(&facts.seller_id)
        .bind(&facts.service_name)
        .bind(&facts.currency)
        .bind(facts.price_cents)
        .fetch_one(&mut *conn)
        .await;
    let row = match result {
        Ok(row) => row,
        // The server answered with an error: the statement, and with it its implicit
        // transaction, rolled back.
        Err(sqlx::Error::Database(err)) if err.code().as_deref() == Some(REFUSED) => {
            tracing::debug!(listing = args.listing, reason = %err, "one-statement batch refused");
            return Ok(Written::Refused);
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
    let served: Vec<String> = row.try_get("served").map_err(Stage::Commit)?;
    Ok(Written::Placed(Taken {
        facts,
        served: served.into_iter().collect::<HashSet<_>>(),
    }))
}
