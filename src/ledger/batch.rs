//! Posting many new journal transactions with one statement, for the PostgreSQL
//! group-commit purchase path (`orders::purchase::batch`), where one database
//! transaction serves a whole batch of purchases and a statement per sale would give
//! back what the batching won.
//!
//! Only for transactions whose references cannot exist yet (each names an order
//! created in the same database transaction): a taken reference fails the statement,
//! and with it the caller's transaction, instead of being compared as [`super::post`]
//! does.

use sqlx::postgres::{PgArguments, PgConnection, Postgres};
use sqlx::query::Query;

use super::error::LedgerError;
use super::events::{JournalTransaction, check_balanced};
use crate::clock::now_ms;

/// The transactions, the accounts their entries touch (created unless they exist, in
/// sorted order so that concurrent batches take their index locks in one order) and
/// the entries. The entries' references are checked at the end of the statement
/// (migration 0018), when the rows of the first two parts are in place. The purchase
/// path's combined statement writes the same three parts, for one transaction.
const POST_SQL: &str = "\
WITH t AS ( \
  INSERT INTO journal_transactions (reference, kind, subject_id, created_at) \
  SELECT u.reference, u.kind, u.subject_id, $10 \
  FROM UNNEST($1::text[], $2::text[], $3::text[]) AS u(reference, kind, subject_id) \
), e AS ( \
  SELECT * FROM UNNEST($4::text[], $5::bigint[], $6::text[], $7::text[], $8::text[], $9::bigint[]) \
    AS e(reference, line, owner_id, account_kind, currency, amount_cents) \
), a AS ( \
  INSERT INTO ledger_accounts (owner_id, kind, currency, created_at) \
  SELECT DISTINCT e.owner_id, e.account_kind, e.currency, $10::bigint FROM e \
  ORDER BY e.owner_id, e.account_kind, e.currency \
  ON CONFLICT (owner_id, kind, currency) DO NOTHING \
) \
INSERT INTO journal_entries (reference, line, owner_id, account_kind, currency, amount_cents) \
SELECT * FROM e";

/// Posts `txns`, none of which may have been posted before, inside the caller's
/// PostgreSQL transaction: one statement whatever their number. Refuses (writing
/// nothing) unless every one balances.
pub async fn post_new_batch(
    conn: &mut PgConnection,
    txns: &[JournalTransaction],
) -> Result<(), LedgerError> {
    if txns.is_empty() {
        return Ok(());
    }
    let columns = JournalColumns::of(txns)?;
    columns
        .bind(sqlx::query(POST_SQL))
        .bind(now_ms())
        .execute(conn)
        .await?;
    Ok(())
}

/// New journal transactions as the arrays a set-based insert binds, every one
/// checked to balance.
struct JournalColumns<'a> {
    /// Each transaction's reference (`kind:subject`).
    references: Vec<&'a str>,
    /// Each transaction's kind.
    kinds: Vec<&'a str>,
    /// Each transaction's subject (the order).
    subjects: Vec<&'a str>,
    /// Every transaction's entries.
    entries: EntryColumns<'a>,
}

/// Journal entries as arrays, one element per entry.
#[derive(Default)]
struct EntryColumns<'a> {
    /// The transaction's reference.
    reference: Vec<&'a str>,
    /// The entry's line within its transaction, from 0.
    line: Vec<i64>,
    /// The account's owner.
    owner: Vec<&'a str>,
    /// The account's kind.
    kind: Vec<&'a str>,
    /// The account's currency.
    currency: Vec<&'a str>,
    /// Signed minor units.
    amount: Vec<i64>,
}

impl<'a> JournalColumns<'a> {
    /// Binds the nine arrays to `query`, in order: the transactions' references,
    /// kinds and subjects, then the entries' references, lines, owners, kinds,
    /// currencies and amounts.
    fn bind<'q>(
        &'q self,
        query: Query<'q, Postgres, PgArguments>,
    ) -> Query<'q, Postgres, PgArguments> {
        let entries = &self.entries;
        query
            .bind(&self.references)
            .bind(&self.kinds)
            .bind(&self.subjects)
            .bind(&entries.reference)
            .bind(&entries.line)
            .bind(&entries.owner)
            .bind(&entries.kind)
            .bind(&entries.currency)
            .bind(&entries.amount)
    }

    /// The columns of `txns`; refuses unless every one balances.
    fn of(txns: &'a [JournalTransaction]) -> Result<Self, LedgerError> {
        for txn in txns {
            check_balanced(txn)?;
        }
        let mut entries = EntryColumns::default();
        for txn in txns {
            for (line, entry) in txn.entries().iter().enumerate() {
                entries.reference.push(txn.reference());
                entries.line.push(i64::try_from(line).unwrap_or(i64::MAX));
                entries.owner.push(&entry.account.owner);
                entries.kind.push(entry.account.kind.as_str());
                entries.currency.push(&entry.account.currency);
                entries.amount.push(entry.amount_cents);
            }
        }
        Ok(Self {
            references: txns.iter().map(JournalTransaction::reference).collect(),
            kinds: txns.iter().map(|t| t.kind().as_str()).collect(),
            subjects: txns.iter().map(JournalTransaction::subject_id).collect(),
            entries,
        })
    }
}
