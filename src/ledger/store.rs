//! The ledger's statements: posting a journal transaction inside the caller's
//! database transaction, and reading balances and recorded events back.
//!
//! Balances are never stored: each is the sum of its account's entries. A cached
//! running balance would be one row updated by every sale (the platform's fee and
//! clearing accounts), serializing all purchases on it; a sum over an index is read
//! rarely and costs nothing on the purchase path.

use sqlx::{AnyConnection, AssertSqlSafe};

use super::error::LedgerError;
use super::events::{Entry, JournalTransaction, RecordedSale, Split, check_balanced};
use super::vocab::{Account, AccountKind, TransactionKind};
use crate::clock::now_ms;
use crate::db::{AnyQuery, Tx};

/// What [`post`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Posted {
    /// The transaction and its entries were written.
    Written,
    /// The same transaction was posted before (a retry): nothing was written.
    AlreadyPosted,
}

/// Posts `txn` inside the caller's transaction, so that it commits or rolls back
/// with the state change it records.
///
/// It first checks that debits equal credits in every currency (an unbalanced
/// transaction writes nothing). The reference is unique: when it is taken already,
/// nothing is written and the answer is [`Posted::AlreadyPosted`] if the stored
/// transaction is the same, [`LedgerError::ReferenceConflict`] if it differs. On
/// PostgreSQL a concurrent poster of the same reference waits for the first to
/// commit or roll back, so exactly one of them writes.
pub async fn post(tx: &mut Tx, txn: &JournalTransaction) -> Result<Posted, LedgerError> {
    check_balanced(txn)?;
    let now = now_ms();
    let claimed = sqlx::query(
        "INSERT INTO journal_transactions (reference, kind, subject_id, created_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (reference) DO NOTHING",
    )
    .bind(txn.reference())
    .bind(txn.kind())
    .bind(txn.subject_id())
    .bind(now)
    .execute(&mut **tx)
    .await?;
    if claimed.rows_affected() == 0 {
        return match recorded(tx, txn.reference()).await? {
            Some(stored) if same_movement(&stored, txn) => Ok(Posted::AlreadyPosted),
            _ => Err(LedgerError::ReferenceConflict(txn.reference().to_owned())),
        };
    }
    if txn.entries().is_empty() {
        return Ok(Posted::Written);
    }
    insert_accounts_and_entries(tx, txn, now).await?;
    Ok(Posted::Written)
}

fn same_movement(a: &JournalTransaction, b: &JournalTransaction) -> bool {
    a.kind() == b.kind() && a.subject_id() == b.subject_id() && a.entries() == b.entries()
}

/// `($n, $n+1, …), …` for `rows` rows of `columns` placeholders, numbered from `first`.
pub(super) fn placeholders(rows: usize, columns: usize, first: usize) -> String {
    (0..rows)
        .map(|row| {
            let cells: Vec<String> = (0..columns)
                .map(|col| format!("${}", first + row * columns + col))
                .collect();
            format!("({})", cells.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Creates the accounts the entries touch, unless they exist, then inserts the
/// entries. Accounts are sorted, so that two transactions creating the same new
/// accounts take their index locks in one order.
///
/// On SQLite both statements go in one call: every call is a hand-off to the
/// connection's thread, and under load the hand-offs are most of a write's time.
/// PostgreSQL takes one statement per prepared statement, so there they are two.
async fn insert_accounts_and_entries(
    tx: &mut Tx,
    txn: &JournalTransaction,
    now: i64,
) -> Result<(), sqlx::Error> {
    let mut accounts: Vec<&Account> = txn.entries().iter().map(|e| &e.account).collect();
    accounts.sort();
    accounts.dedup();
    let accounts_sql = |first| {
        format!(
            "INSERT INTO ledger_accounts (owner_id, kind, currency, created_at) VALUES {} \
             ON CONFLICT (owner_id, kind, currency) DO NOTHING",
            placeholders(accounts.len(), 4, first)
        )
    };
    let entries_sql = |first| {
        format!(
            "INSERT INTO journal_entries \
             (reference, line, owner_id, account_kind, currency, amount_cents) VALUES {}",
            placeholders(txn.entries().len(), 6, first)
        )
    };
    let bind_accounts = |mut query: AnyQuery<'static>| {
        for account in &accounts {
            query = query
                .bind(account.owner.clone())
                .bind(account.kind)
                .bind(account.currency.clone())
                .bind(now);
        }
        query
    };
    let bind_entries = |mut query: AnyQuery<'static>| {
        for (line, entry) in txn.entries().iter().enumerate() {
            query = bind_entry(query.bind(txn.reference().to_owned()), line, entry);
        }
        query
    };
    if tx.backend_name() == <sqlx::Sqlite as sqlx::Database>::NAME {
        let both = format!(
            "{}; {}",
            accounts_sql(1),
            entries_sql(1 + 4 * accounts.len())
        );
        let query = bind_entries(bind_accounts(sqlx::query(AssertSqlSafe(both))));
        query.execute(&mut **tx).await?;
    } else {
        let query = bind_accounts(sqlx::query(AssertSqlSafe(accounts_sql(1))));
        query.execute(&mut **tx).await?;
        let query = bind_entries(sqlx::query(AssertSqlSafe(entries_sql(1))));
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Binds an entry's line (its place in its transaction, from 0), account and
/// amount: the `journal_entries` columns after the reference.
pub(super) fn bind_entry<'q>(query: AnyQuery<'q>, line: usize, entry: &Entry) -> AnyQuery<'q> {
    query
        .bind(i64::try_from(line).unwrap_or(i64::MAX))
        .bind(entry.account.owner.clone())
        .bind(entry.account.kind)
        .bind(entry.account.currency.clone())
        .bind(entry.amount_cents)
}

/// A journal transaction's head row, its kind still text: a kind the enum does not
/// know is for the caller to judge.
#[derive(sqlx::FromRow)]
struct HeadRow {
    kind: String,
    subject_id: String,
}

/// One journal entry row, its account kind still text (see [`HeadRow`]).
#[derive(sqlx::FromRow)]
struct EntryRow {
    owner_id: String,
    account_kind: String,
    currency: String,
    amount_cents: i64,
}

/// The order columns a recorded sale reports.
#[derive(sqlx::FromRow)]
struct SaleOrderRow {
    buyer_id: String,
    seller_id: String,
    currency: String,
    total_cents: i64,
    /// The `instant_sales` transaction holding its sale, when a combined statement
    /// placed it.
    sale_reference: Option<String>,
    /// The fee its sale was split with, beside `sale_reference`.
    sale_fee_cents: Option<i64>,
}

/// A posted transaction, read back by its reference. Stored kinds the enums do not
/// know make it unreadable (`None` is returned only when there is no such reference).
pub async fn recorded(
    conn: &mut AnyConnection,
    reference: &str,
) -> Result<Option<JournalTransaction>, LedgerError> {
    let unreadable = || LedgerError::ReferenceConflict(reference.to_owned());
    let Some(head) = sqlx::query_as::<_, HeadRow>(
        "SELECT kind, subject_id FROM journal_transactions WHERE reference = $1",
    )
    .bind(reference)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let kind: TransactionKind = head.kind.parse().map_err(|_| unreadable())?;
    let rows = sqlx::query_as::<_, EntryRow>(
        "SELECT owner_id, account_kind, currency, amount_cents FROM journal_entries \
         WHERE reference = $1 ORDER BY line",
    )
    .bind(reference)
    .fetch_all(&mut *conn)
    .await?;
    let mut entries = Vec::with_capacity(rows.len());
    for row in rows {
        let kind: AccountKind = row.account_kind.parse().map_err(|_| unreadable())?;
        entries.push(Entry {
            account: Account {
                owner: row.owner_id,
                kind,
                currency: row.currency,
            },
            amount_cents: row.amount_cents,
        });
    }
    Ok(Some(JournalTransaction::from_parts(
        reference.to_owned(),
        kind,
        head.subject_id,
        entries,
    )))
}

/// The sale of `order_id` as posted (instant or paid), with its split and what has
/// been refunded of it since; `None` when the journal holds no sale for it.
///
/// A sale is its order's own transaction (`instant_sale:{order}`,
/// `paid_sale:{order}`), or its share of the `instant_sales` transaction of the
/// combined statement that placed it, which the order names with the fee it was
/// split with (the transaction's lines are per buyer and seller, not per order).
pub async fn recorded_sale(
    conn: &mut AnyConnection,
    order_id: &str,
) -> Result<Option<RecordedSale>, LedgerError> {
    let Some(order) = sqlx::query_as::<_, SaleOrderRow>(
        "SELECT buyer_id, seller_id, currency, total_cents, sale_reference, sale_fee_cents \
         FROM orders WHERE id = $1",
    )
    .bind(order_id)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let Some((kind, split, provider)) = posted_split(conn, order_id, &order).await? else {
        return Ok(None);
    };
    let refunded: i64 = sqlx::query_scalar(
        "SELECT COALESCE(CAST(SUM(e.amount_cents) AS BIGINT), 0) FROM journal_entries e \
         JOIN journal_transactions t ON t.reference = e.reference \
         WHERE t.subject_id = $1 AND t.kind = $2 AND e.account_kind = $3",
    )
    .bind(order_id)
    .bind(TransactionKind::Refund)
    .bind(AccountKind::ProviderClearing)
    .fetch_one(&mut *conn)
    .await?;
    Ok(Some(RecordedSale {
        order_id: order_id.to_owned(),
        kind,
        buyer_id: order.buyer_id,
        seller_id: order.seller_id,
        currency: order.currency,
        total_cents: split.fee_cents + split.seller_cents,
        split,
        provider,
        refunded_cents: -refunded,
    }))
}

/// How `order`'s sale was posted: its kind, its split, and the provider it was paid
/// through (paid sales only). `None` when nothing records it.
async fn posted_split(
    conn: &mut AnyConnection,
    order_id: &str,
    order: &SaleOrderRow,
) -> Result<Option<(TransactionKind, Split, Option<String>)>, LedgerError> {
    if let Some(reference) = &order.sale_reference {
        // The order's share of its combined statement's sales, if that transaction
        // exists (`udam ledger verify` checks that its lines are the sums of its
        // orders'). Such an order has no transaction of its own.
        let posted: Option<String> =
            sqlx::query_scalar("SELECT kind FROM journal_transactions WHERE reference = $1")
                .bind(reference)
                .fetch_optional(&mut *conn)
                .await?;
        let (true, Some(fee_cents)) = (
            posted.as_deref() == Some(TransactionKind::InstantSales.as_str()),
            order.sale_fee_cents,
        ) else {
            return Ok(None);
        };
        let split = Split {
            fee_cents,
            seller_cents: order.total_cents - fee_cents,
        };
        return Ok(Some((TransactionKind::InstantSale, split, None)));
    }
    for kind in [TransactionKind::InstantSale, TransactionKind::PaidSale] {
        let Some(sale) = recorded(&mut *conn, &format!("{kind}:{order_id}")).await? else {
            continue;
        };
        let fee_cents = -sale
            .entries()
            .iter()
            .filter(|e| e.account.kind == AccountKind::PlatformFees)
            .map(|e| e.amount_cents)
            .sum::<i64>();
        let total_cents = sale
            .entries()
            .iter()
            .filter(|e| e.amount_cents > 0)
            .map(|e| e.amount_cents)
            .sum::<i64>();
        let provider = sale
            .entries()
            .iter()
            .find(|e| e.account.kind == AccountKind::ProviderClearing)
            .map(|e| e.account.owner.clone());
        let split = Split {
            fee_cents,
            seller_cents: total_cents - fee_cents,
        };
        return Ok(Some((sale.kind(), split, provider)));
    }
    Ok(None)
}

/// One account and its balance as people read it (see
/// [`AccountKind::natural_balance`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountBalance {
    /// The account.
    pub account: Account,
    /// Positive when it holds what its name says.
    pub balance_cents: i64,
}

/// The balance of one account, from its entries (0 for an account never used).
pub async fn balance(conn: &mut AnyConnection, account: &Account) -> Result<i64, sqlx::Error> {
    let sum: i64 = sqlx::query_scalar(
        "SELECT COALESCE(CAST(SUM(amount_cents) AS BIGINT), 0) FROM journal_entries \
         WHERE owner_id = $1 AND account_kind = $2 AND currency = $3",
    )
    .bind(&account.owner)
    .bind(account.kind)
    .bind(&account.currency)
    .fetch_one(conn)
    .await?;
    Ok(account.kind.natural_balance(sum))
}

/// One account's signed sum, its kind still text (see [`HeadRow`]).
#[derive(sqlx::FromRow)]
struct KindSum {
    account_kind: String,
    currency: String,
    sum_cents: i64,
}

/// Every account of `owner`, in every currency, with its balance (by kind, then
/// currency). Kinds the enum does not know are skipped (`verify` reports them).
pub async fn owner_balances(
    conn: &mut AnyConnection,
    owner: &str,
) -> Result<Vec<AccountBalance>, sqlx::Error> {
    let rows = sqlx::query_as::<_, KindSum>(
        "SELECT account_kind, currency, CAST(SUM(amount_cents) AS BIGINT) AS sum_cents \
         FROM journal_entries WHERE owner_id = $1 \
         GROUP BY account_kind, currency ORDER BY account_kind, currency",
    )
    .bind(owner)
    .fetch_all(conn)
    .await?;
    let mut balances = Vec::with_capacity(rows.len());
    for row in rows {
        let Ok(kind) = row.account_kind.parse::<AccountKind>() else {
            continue;
        };
        balances.push(AccountBalance {
            balance_cents: kind.natural_balance(row.sum_cents),
            account: Account::new(owner, kind, &row.currency),
        });
    }
    Ok(balances)
}

/// What `buyer` owes per currency (the `/api/v1/balance` figures), from the
/// journal: the positive balances of their receivable accounts.
pub async fn owed_by(
    conn: &mut AnyConnection,
    buyer: &str,
) -> Result<Vec<(String, i64)>, sqlx::Error> {
    Ok(owner_balances(conn, buyer)
        .await?
        .into_iter()
        .filter(|b| b.account.kind == AccountKind::BuyerReceivable && b.balance_cents > 0)
        .map(|b| (b.account.currency, b.balance_cents))
        .collect())
}

#[cfg(test)]
mod tests {
    #[test]
    fn placeholders_number_rows_then_columns() {
        assert_eq!(super::placeholders(1, 2, 1), "($1, $2)");
        assert_eq!(super::placeholders(2, 3, 1), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(super::placeholders(1, 2, 5), "($5, $6)");
    }
}
