//! `udam ledger verify`: recomputes every account from the journal and checks the
//! journal against itself and against the tables that describe the same money
//! (orders, grants, balances, settlements, payouts). Read-only; each check is one
//! set-based query, so it runs on a live database.
//!
//! What it checks:
//! 1. every journal transaction balances per currency, and every stored kind is
//!    one the enums know, every reference is `kind:subject…`, and every entry
//!    names a journal transaction and an account that exist;
//! 2. no account holds a balance its kind forbids (a buyer owing less than
//!    nothing, pending earnings or refunds owed below zero), and the suspense
//!    account is empty;
//! 3. each buyer's receivable equals both the `balances` table and the sum of
//!    their orders still on deferred payment; each seller's pending account equals
//!    their share of those orders (as their sales recorded it: in the journal, or on
//!    the order when a combined statement's `instant_sales` holds it);
//! 4. to 7. ([`subjects`]): orders and their sales, refunds, settlements and payouts
//!    against their postings, and every order and grant naming rows that exist;
//!    each `instant_sales` transaction holds exactly the sums of the orders that
//!    name it ([`batch_sales`]);
//! 8. ([`payout_reversals`]): what a reversed transfer posted back agrees with its
//!    payout's amount and status.
//!
//! Every status and kind a query compares is bound from its enum, and every stored
//! word read back is parsed into its enum: a word no enum knows is a discrepancy,
//! never a failed run.

mod batch_sales;
mod payout_reversals;
mod subjects;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use sqlx::AnyConnection;

use super::vocab::{AccountKind, TransactionKind};
use crate::db::{Backend, Db};
use crate::vocab::PaymentStatus;

/// One thing that does not add up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Discrepancy {
    /// What it is about (a reference, an order, an account).
    pub subject: String,
    /// What is wrong, in words.
    pub problem: String,
}

impl fmt::Display for Discrepancy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.subject, self.problem)
    }
}

/// What [`verify`] looked at and found.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Journal transactions read.
    pub transactions: i64,
    /// Accounts with entries.
    pub accounts: usize,
    /// Everything that does not add up; empty when the ledger is clean.
    pub discrepancies: Vec<Discrepancy>,
}

impl Report {
    fn flag(&mut self, subject: impl Into<String>, problem: impl Into<String>) {
        self.discrepancies.push(Discrepancy {
            subject: subject.into(),
            problem: problem.into(),
        });
    }

    /// Parses a stored word into its vocabulary; a word it does not hold is flagged
    /// on `subject` and gives `None`.
    fn word<T: FromStr>(&mut self, subject: &str, what: &str, stored: &str) -> Option<T> {
        let parsed = stored.parse().ok();
        if parsed.is_none() {
            self.flag(subject, format!("unknown {what} {stored:?}"));
        }
        parsed
    }
}

/// (owner, currency) → amount.
type PerOwner = BTreeMap<(String, String), i64>;

/// An amount per owner and currency, as the per-owner queries name their columns.
#[derive(sqlx::FromRow)]
struct OwnerAmount {
    owner_id: String,
    currency: String,
    amount_cents: i64,
}

fn per_owner(rows: Vec<OwnerAmount>) -> PerOwner {
    rows.into_iter()
        .map(|r| ((r.owner_id, r.currency), r.amount_cents))
        .collect()
}

/// Runs every check and returns what it found.
///
/// Every check reads one snapshot, in a read-only transaction (`REPEATABLE READ` on
/// PostgreSQL; on SQLite a read transaction sees the database as of its first
/// read): on a live database a purchase committed between two checks' reads would
/// otherwise show as a discrepancy that is not there.
pub async fn verify(db: &Db) -> Result<Report, sqlx::Error> {
    let mut tx = db.pool().begin().await?;
    if db.backend() == Backend::Postgres {
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
    }
    let report = verify_in(&mut tx).await?;
    tx.rollback().await?;
    Ok(report)
}

async fn verify_in(conn: &mut AnyConnection) -> Result<Report, sqlx::Error> {
    let mut report = Report {
        transactions: sqlx::query_scalar("SELECT COUNT(*) FROM journal_transactions")
            .fetch_one(&mut *conn)
            .await?,
        ..Report::default()
    };
    check_journal(conn, &mut report).await?;
    let accounts = check_accounts(conn, &mut report).await?;
    check_receivables(conn, &mut report, &accounts).await?;
    subjects::check_orders(conn, &mut report).await?;
    subjects::check_refunds(conn, &mut report).await?;
    subjects::check_settlements(conn, &mut report).await?;
    subjects::check_payouts(conn, &mut report).await?;
    report
        .discrepancies
        .extend(payout_reversals::check_reversals(conn).await?);
    Ok(report)
}

/// A reference whose entries do not sum to zero in one currency.
#[derive(sqlx::FromRow)]
struct Unbalanced {
    reference: String,
    currency: String,
    off_cents: i64,
}

/// Check 1: balance per transaction and currency, known kinds, well-formed references,
/// no entry without its transaction or account.
async fn check_journal(conn: &mut AnyConnection, report: &mut Report) -> Result<(), sqlx::Error> {
    let unbalanced: Vec<Unbalanced> = sqlx::query_as(
        "SELECT reference, currency, CAST(SUM(amount_cents) AS BIGINT) AS off_cents \
         FROM journal_entries GROUP BY reference, currency \
         HAVING CAST(SUM(amount_cents) AS BIGINT) <> 0 ORDER BY reference",
    )
    .fetch_all(&mut *conn)
    .await?;
    for row in unbalanced {
        report.flag(
            row.reference,
            format!(
                "does not balance in {}: debits exceed credits by {}",
                row.currency, row.off_cents
            ),
        );
    }
    let kinds: Vec<String> = sqlx::query_scalar("SELECT DISTINCT kind FROM journal_transactions")
        .fetch_all(&mut *conn)
        .await?;
    for kind in kinds {
        report.word::<TransactionKind>(&format!("kind {kind}"), "journal transaction kind", &kind);
    }
    let misnamed: Vec<String> = sqlx::query_scalar(
        "SELECT reference FROM journal_transactions \
         WHERE substr(reference, 1, length(kind) + 1 + length(subject_id)) \
               <> kind || ':' || subject_id \
         ORDER BY reference",
    )
    .fetch_all(&mut *conn)
    .await?;
    for reference in misnamed {
        report.flag(reference, "reference does not name its kind and subject");
    }
    // On PostgreSQL a statement trigger (migration 0018), on SQLite foreign keys,
    // refuse such entries when they are written; this is the net under both.
    let orphans: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT e.reference FROM journal_entries e \
         LEFT JOIN journal_transactions t ON t.reference = e.reference \
         LEFT JOIN ledger_accounts a ON a.owner_id = e.owner_id \
           AND a.kind = e.account_kind AND a.currency = e.currency \
         WHERE t.reference IS NULL OR a.owner_id IS NULL ORDER BY e.reference",
    )
    .fetch_all(&mut *conn)
    .await?;
    for reference in orphans {
        report.flag(
            reference,
            "an entry names a journal transaction or an account that does not exist",
        );
    }
    Ok(())
}

/// One account's signed sum of entries.
#[derive(sqlx::FromRow)]
struct AccountSum {
    owner_id: String,
    account_kind: String,
    currency: String,
    sum_cents: i64,
}

/// Check 2: every account recomputed from its entries; forbidden balances flagged.
/// Returns the recomputed balances (natural sign) by kind.
async fn check_accounts(
    conn: &mut AnyConnection,
    report: &mut Report,
) -> Result<BTreeMap<AccountKind, PerOwner>, sqlx::Error> {
    let rows: Vec<AccountSum> = sqlx::query_as(
        "SELECT owner_id, account_kind, currency, CAST(SUM(amount_cents) AS BIGINT) AS sum_cents \
         FROM journal_entries GROUP BY owner_id, account_kind, currency",
    )
    .fetch_all(&mut *conn)
    .await?;
    report.accounts = rows.len();
    let mut by_kind: BTreeMap<AccountKind, PerOwner> = BTreeMap::new();
    for row in rows {
        let subject = format!("{}/{}/{}", row.owner_id, row.account_kind, row.currency);
        let Some(kind) = report.word::<AccountKind>(&subject, "account kind", &row.account_kind)
        else {
            continue;
        };
        let balance = kind.natural_balance(row.sum_cents);
        match kind {
            AccountKind::Suspense if balance != 0 => report.flag(
                subject,
                format!("suspense holds {balance}: money nobody can account for"),
            ),
            AccountKind::BuyerReceivable
            | AccountKind::SellerPending
            | AccountKind::RefundsPayable
            | AccountKind::PlatformFees
            | AccountKind::ProviderClearing
                if balance < 0 =>
            {
                report.flag(subject, format!("balance {balance} is below zero"));
            }
            _ => {}
        }
        by_kind
            .entry(kind)
            .or_default()
            .insert((row.owner_id, row.currency), balance);
    }
    Ok(by_kind)
}

/// Flags every (owner, currency) where `ledger` and `other` disagree (absent = 0).
fn compare(
    report: &mut Report,
    what: AccountKind,
    ledger: &PerOwner,
    other: &PerOwner,
    source: &str,
) {
    let keys: BTreeSet<&(String, String)> = ledger.keys().chain(other.keys()).collect();
    for key in keys {
        let (a, b) = (
            ledger.get(key).copied().unwrap_or(0),
            other.get(key).copied().unwrap_or(0),
        );
        if a != b {
            report.flag(
                format!("{}/{what}/{}", key.0, key.1),
                format!("the journal says {a}, {source} says {b}"),
            );
        }
    }
}

/// Check 3: receivables against `balances` and deferred orders; pending earnings
/// against the sellers' shares of those orders.
async fn check_receivables(
    conn: &mut AnyConnection,
    report: &mut Report,
    accounts: &BTreeMap<AccountKind, PerOwner>,
) -> Result<(), sqlx::Error> {
    let empty = PerOwner::new();
    let receivable = accounts
        .get(&AccountKind::BuyerReceivable)
        .unwrap_or(&empty);
    let table = per_owner(
        sqlx::query_as(
            "SELECT user_id AS owner_id, currency, owed_cents AS amount_cents FROM balances \
             WHERE owed_cents <> 0",
        )
        .fetch_all(&mut *conn)
        .await?,
    );
    let what = AccountKind::BuyerReceivable;
    compare(report, what, receivable, &table, "the balances table");
    let deferred = per_owner(
        sqlx::query_as(
            "SELECT buyer_id AS owner_id, currency, \
                    CAST(SUM(total_cents) AS BIGINT) AS amount_cents FROM orders \
             WHERE payment_status = $1 GROUP BY buyer_id, currency \
             HAVING CAST(SUM(total_cents) AS BIGINT) <> 0",
        )
        .bind(PaymentStatus::Deferred)
        .fetch_all(&mut *conn)
        .await?,
    );
    compare(report, what, receivable, &deferred, "deferred orders");
    let pending = accounts.get(&AccountKind::SellerPending).unwrap_or(&empty);
    let shares = per_owner(
        sqlx::query_as(
            "SELECT s.owner_id, s.currency, CAST(SUM(s.amount_cents) AS BIGINT) AS amount_cents \
             FROM (SELECT e.owner_id, e.currency, -e.amount_cents AS amount_cents \
                   FROM journal_entries e \
                   JOIN journal_transactions t ON t.reference = e.reference \
                   JOIN orders o ON o.id = t.subject_id \
                   WHERE t.kind = $1 AND e.account_kind = $2 AND o.payment_status = $3 \
                   UNION ALL \
                   SELECT o.seller_id, o.currency, o.total_cents - o.sale_fee_cents \
                   FROM orders o \
                   WHERE o.sale_reference IS NOT NULL AND o.payment_status = $3) s \
             GROUP BY s.owner_id, s.currency",
        )
        .bind(TransactionKind::InstantSale)
        .bind(AccountKind::SellerPending)
        .bind(PaymentStatus::Deferred)
        .fetch_all(&mut *conn)
        .await?,
    );
    let pending: PerOwner = pending
        .iter()
        .filter(|(_, v)| **v != 0)
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    compare(
        report,
        AccountKind::SellerPending,
        &pending,
        &shares,
        "sellers' shares of deferred orders",
    );
    Ok(())
}
