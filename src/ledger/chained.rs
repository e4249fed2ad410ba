//! Posting one new journal transaction as statements that join a caller's chain of
//! statements sent in one call, for the instant purchase on SQLite's one writer
//! (`orders::purchase::sqlite`). There every call is a hand-off to the connection's
//! thread and back, most of a purchase's time under load, so a purchase sends its
//! charge, take, order, grant and journal as one string of statements.
//!
//! Like [`super::post_new_batch`], only for a transaction whose reference cannot
//! exist yet (it names an order inserted earlier in the same chain): a taken
//! reference fails the call on the unique index, instead of being compared as
//! [`super::post`] does.
//!
//! The statements run only when the caller's statement just before them changed
//! exactly one row (SQLite's `changes()`): the caller's chain is a sequence of
//! steps, each guarded by the one before, and a refused step leaves the rest of the
//! chain writing nothing. The accounts and entries are guarded by the transaction's
//! head row, since the accounts' insert may change no row (they exist already).

use super::error::LedgerError;
use super::events::{JournalTransaction, check_balanced};
use super::store::{bind_entry, placeholders};
use super::vocab::Account;
use crate::clock::now_ms;
use crate::db::AnyQuery;

/// A new, balanced journal transaction, as statements to append to a chain.
pub struct ChainedPosting<'a> {
    txn: &'a JournalTransaction,
    /// The accounts its entries touch, each once.
    accounts: Vec<&'a Account>,
    /// The head's and the new accounts' `created_at`.
    now: i64,
}

impl<'a> ChainedPosting<'a> {
    /// `txn`'s statements; refuses (writing nothing) unless it balances.
    pub fn new(txn: &'a JournalTransaction) -> Result<Self, LedgerError> {
        check_balanced(txn)?;
        let mut accounts: Vec<&Account> = txn.entries().iter().map(|e| &e.account).collect();
        accounts.sort();
        accounts.dedup();
        Ok(Self {
            txn,
            accounts,
            now: now_ms(),
        })
    }

    /// The statements, their parameters numbered from `$first` in the order
    /// [`Self::bind`] binds them. Each statement ends with `;`. They return one row
    /// (the head's reference) when they posted the transaction, none when they did
    /// not run.
    pub fn sql(&self, first: usize) -> String {
        let p = |n: usize| format!("${}", first + n);
        let (reference, now) = (p(0), p(3));
        let mut sql = format!(
            "INSERT INTO journal_transactions (reference, kind, subject_id, created_at) \
             SELECT {reference}, {}, {}, {now} WHERE changes() = 1 RETURNING reference;",
            p(1),
            p(2)
        );
        if self.txn.entries().is_empty() {
            return sql;
        }
        let posted =
            format!("EXISTS (SELECT 1 FROM journal_transactions WHERE reference = {reference})");
        let accounts_from = 4;
        let entries_from = accounts_from + 3 * self.accounts.len();
        sql.push_str(&format!(
            " INSERT INTO ledger_accounts (owner_id, kind, currency, created_at) \
             SELECT column1, column2, column3, {now} FROM (VALUES {}) WHERE {posted} \
             ON CONFLICT (owner_id, kind, currency) DO NOTHING;",
            placeholders(self.accounts.len(), 3, first + accounts_from)
        ));
        sql.push_str(&format!(
            " INSERT INTO journal_entries \
             (reference, line, owner_id, account_kind, currency, amount_cents) \
             SELECT {reference}, column1, column2, column3, column4, column5 \
             FROM (VALUES {}) WHERE {posted};",
            placeholders(self.txn.entries().len(), 5, first + entries_from)
        ));
        sql
    }

    /// Binds the parameters of [`Self::sql`] to `query`, after those it has.
    pub fn bind<'q>(&'q self, query: AnyQuery<'q>) -> AnyQuery<'q> {
        let txn = self.txn;
        let mut query = query
            .bind(txn.reference())
            .bind(txn.kind())
            .bind(txn.subject_id())
            .bind(self.now);
        if txn.entries().is_empty() {
            return query;
        }
        for account in &self.accounts {
            query = query
                .bind(account.owner.as_str())
                .bind(account.kind)
                .bind(account.currency.as_str());
        }
        for (line, entry) in txn.entries().iter().enumerate() {
            query = bind_entry(query, line, entry);
        }
        query
    }
}
