//! Posting many new journal transactions with one statement, for the PostgreSQL
//! group-commit purchase path (`orders::purchase::batch`), where one database
//! transaction serves a whole batch of purchases and a statement per sale would give
//! back what the batching won.
//!
//! Only for transactions whose references cannot exist yet (each names an order
//! created in the same database transaction): a taken reference fails the statement,
//! and with it the caller's transaction, instead of being compared as [`super::post`]
//! does.

use sqlx::postgres::PgConnection;

use super::error::LedgerError;
use super::events::{JournalTransaction, check_balanced};
use super::vocab::Account;
use crate::clock::now_ms;

/// The transactions, the accounts they touch (created unless they exist, in sorted
/// order so that concurrent batches take their index locks in one order) and their
/// entries. The entries' foreign keys are checked at the end of the statement, when
/// the rows of the first two parts are in place.
const POST_SQL: &str = "\
WITH t AS ( \
  INSERT INTO journal_transactions (reference, kind, subject_id, created_at) \
  SELECT u.reference, u.kind, u.subject_id, $4 \
  FROM UNNEST($1::text[], $2::text[], $3::text[]) AS u(reference, kind, subject_id) \
), a AS ( \
  INSERT INTO ledger_accounts (owner_id, kind, currency, created_at) \
  SELECT u.owner_id, u.kind, u.currency, $4 \
  FROM UNNEST($5::text[], $6::text[], $7::text[]) AS u(owner_id, kind, currency) \
  ORDER BY u.owner_id, u.kind, u.currency \
  ON CONFLICT (owner_id, kind, currency) DO NOTHING \
) \
INSERT INTO journal_entries (reference, line, owner_id, account_kind, currency, amount_cents) \
SELECT * FROM UNNEST($8::text[], $9::bigint[], $10::text[], $11::text[], $12::text[], $13::bigint[])";

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
    for txn in txns {
        check_balanced(txn)?;
    }
    let references: Vec<&str> = txns.iter().map(JournalTransaction::reference).collect();
    let kinds: Vec<&str> = txns.iter().map(|t| t.kind().as_str()).collect();
    let subjects: Vec<&str> = txns.iter().map(JournalTransaction::subject_id).collect();
    let mut accounts: Vec<&Account> = txns
        .iter()
        .flat_map(|t| t.entries().iter().map(|e| &e.account))
        .collect();
    accounts.sort();
    accounts.dedup();
    let mut entries = Entries::default();
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
    sqlx::query(POST_SQL)
        .bind(&references)
        .bind(&kinds)
        .bind(&subjects)
        .bind(now_ms())
        .bind(
            accounts
                .iter()
                .map(|a| a.owner.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(accounts.iter().map(|a| a.kind.as_str()).collect::<Vec<_>>())
        .bind(
            accounts
                .iter()
                .map(|a| a.currency.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(&entries.reference)
        .bind(&entries.line)
        .bind(&entries.owner)
        .bind(&entries.kind)
        .bind(&entries.currency)
        .bind(&entries.amount)
        .execute(conn)
        .await?;
    Ok(())
}

/// The entries' columns, as arrays to bind.
#[derive(Default)]
struct Entries<'a> {
    reference: Vec<&'a str>,
    line: Vec<i64>,
    owner: Vec<&'a str>,
    kind: Vec<&'a str>,
    currency: Vec<&'a str>,
    amount: Vec<i64>,
}
