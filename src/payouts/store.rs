//! The payouts tables' statements: payouts, the run lease, and the sellers' hold flag.

use std::sync::LazyLock;

use sqlx::{AnyConnection, Row};

use super::model::{Payout, PayoutProviderKind, PayoutStatus};
use crate::db::{Db, Tx};
use crate::ledger::{AccountKind, TransactionKind};
use crate::pagination::Page;

const COLUMNS: &str = "id, seller_id, currency, amount_cents, status, provider, destination, \
                       provider_transfer_id, attempts, created_at, updated_at";

fn from_row(row: &sqlx::any::AnyRow) -> Result<(i64, Payout), sqlx::Error> {
    let provider: PayoutProviderKind = row.try_get("provider")?;
    let created_at: i64 = row.try_get("created_at")?;
    Ok((
        created_at,
        Payout {
            id: row.try_get("id")?,
            seller_id: row.try_get("seller_id")?,
            currency: row.try_get("currency")?,
            amount_cents: row.try_get("amount_cents")?,
            status: row.try_get("status")?,
            provider,
            simulated: provider == PayoutProviderKind::Dev,
            destination: row.try_get("destination")?,
            transfer_id: row.try_get("provider_transfer_id")?,
            attempts: row.try_get("attempts")?,
            created_at: crate::clock::rfc3339(created_at),
            updated_at: crate::clock::rfc3339(row.try_get("updated_at")?),
        },
    ))
}

/// Takes the run lease for `holder` until `until` (unix ms) if it is free, lapsed,
/// or already `holder`'s. True when taken.
pub async fn take_lease(db: &Db, holder: &str, now: i64, until: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE payout_lease SET holder = $1, expires_at = $2 \
         WHERE name = 'payouts' AND (expires_at < $3 OR holder = $1)",
    )
    .bind(holder)
    .bind(until)
    .bind(now)
    .execute(db.writes())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Gives the lease back (only if still `holder`'s).
pub async fn release_lease(db: &Db, holder: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE payout_lease SET expires_at = 0 WHERE name = 'payouts' AND holder = $1")
        .bind(holder)
        .execute(db.writes())
        .await?;
    Ok(())
}

/// Sellers with payable money in some currency who are not held, with the currency.
pub async fn payable_sellers(db: &Db) -> Result<Vec<(String, String)>, sqlx::Error> {
    /// One seller owed money in one currency.
    #[derive(sqlx::FromRow)]
    struct Payable {
        owner_id: String,
        currency: String,
    }
    let rows: Vec<Payable> = sqlx::query_as(
        "SELECT e.owner_id, e.currency FROM journal_entries e \
         JOIN users u ON u.id = e.owner_id \
         WHERE e.account_kind = $1 AND u.payouts_held = 0 \
         GROUP BY e.owner_id, e.currency \
         HAVING CAST(SUM(e.amount_cents) AS BIGINT) < 0 \
         ORDER BY e.owner_id, e.currency",
    )
    .bind(AccountKind::SellerPayable)
    .fetch_all(db.pool())
    .await?;
    Ok(rows.into_iter().map(|r| (r.owner_id, r.currency)).collect())
}

/// True when an administrator holds `seller`'s payouts (checked inside the payout's
/// transaction, so a hold set meanwhile wins).
pub async fn is_held(conn: &mut AnyConnection, seller: &str) -> Result<bool, sqlx::Error> {
    let held: Option<i64> = sqlx::query("SELECT payouts_held FROM users WHERE id = $1")
        .bind(seller)
        .fetch_optional(conn)
        .await?
        .map(|r| r.try_get("payouts_held"))
        .transpose()?;
    Ok(held == Some(1))
}

/// Sets or clears `seller`'s hold; false when no such user.
pub async fn set_held(db: &Db, seller: &str, held: bool) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("UPDATE users SET payouts_held = $1 WHERE id = $2")
        .bind(i64::from(held))
        .bind(seller)
        .execute(db.writes())
        .await?;
    Ok(done.rows_affected() == 1)
}

/// The claim's statement. The status is written into its text rather than bound:
/// PostgreSQL infers the partial unique index `payouts_one_pending` (migrations) as
/// the ON CONFLICT arbiter only from a predicate it can read in the statement.
static CLAIM_PENDING: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO payouts (id, seller_id, currency, amount_cents, status, provider, \
         created_at, updated_at) VALUES ($1, $2, $3, 0, $4, $5, $6, $6) \
         ON CONFLICT (seller_id, currency) WHERE status = '{}' DO NOTHING",
        PayoutStatus::Pending
    )
});

/// Claims the one pending slot of (seller, currency) with a zero-amount payout row.
/// Claimed first, before the available amount is read, so that on PostgreSQL a
/// concurrent run blocks on the unique index and then finds the slot taken: no two
/// runs can both read the same available money. False when the slot is taken.
pub async fn claim_pending(
    tx: &mut Tx,
    id: &str,
    seller: &str,
    currency: &str,
    provider: PayoutProviderKind,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(CLAIM_PENDING.as_str())
        .bind(id)
        .bind(seller)
        .bind(currency)
        .bind(PayoutStatus::Pending)
        .bind(provider)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Sets the amount and destination (Stripe's connected account, or none for
/// simulated payouts) of a just-claimed payout.
pub async fn set_amount(
    tx: &mut Tx,
    id: &str,
    amount: i64,
    destination: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE payouts SET amount_cents = $1, destination = $2 WHERE id = $3")
        .bind(amount)
        .bind(destination)
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The payout a provider transfer paid (`provider_transfer_id`), or the one named as
/// its transfer group (a payout whose send is not confirmed yet). Its row is
/// written first (a no-op update) so that the transaction holds its lock: two
/// reversal events of one transfer applied at once on PostgreSQL take turns, and
/// the second reads the reversals the first posted.
pub async fn by_transfer(
    tx: &mut Tx,
    transfer_id: &str,
    group: Option<&str>,
) -> Result<Option<Payout>, sqlx::Error> {
    const WHERE: &str = "provider_transfer_id = $1 OR (provider_transfer_id IS NULL AND id = $2)";
    let lock = format!("UPDATE payouts SET updated_at = updated_at WHERE {WHERE}");
    sqlx::query(sqlx::AssertSqlSafe(lock))
        .bind(transfer_id)
        .bind(group.unwrap_or_default())
        .execute(&mut **tx)
        .await?;
    let sql = format!("SELECT {COLUMNS} FROM payouts WHERE {WHERE}");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(transfer_id)
        .bind(group.unwrap_or_default())
        .fetch_optional(&mut **tx)
        .await?;
    row.as_ref()
        .map(|r| from_row(r).map(|(_, p)| p))
        .transpose()
}

/// How much of a payout has been reversed so far: its `payout_reversed` postings
/// back into the seller's payable (credits, stored negative).
pub async fn reversed_cents(tx: &mut Tx, payout_id: &str) -> Result<i64, sqlx::Error> {
    let row = sqlx::query(
        "SELECT COALESCE(CAST(SUM(e.amount_cents) AS BIGINT), 0) AS total \
         FROM journal_entries e JOIN journal_transactions t ON t.reference = e.reference \
         WHERE t.kind = $2 AND t.subject_id = $1 AND e.account_kind = $3",
    )
    .bind(payout_id)
    .bind(TransactionKind::PayoutReversed)
    .bind(AccountKind::SellerPayable)
    .fetch_one(&mut **tx)
    .await?;
    let total: i64 = row.try_get("total")?;
    Ok(-total)
}

/// Marks a paid payout reversed in full; false when it was not `paid`.
pub async fn mark_reversed(tx: &mut Tx, id: &str, now: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE payouts SET status = $1, updated_at = $2 WHERE id = $3 AND status = $4",
    )
    .bind(PayoutStatus::Reversed)
    .bind(now)
    .bind(id)
    .bind(PayoutStatus::Paid)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The statement of [`pending`]. The status is in its text, as in [`CLAIM_PENDING`],
/// so that PostgreSQL may read the rows from the partial index.
static PENDING: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {COLUMNS} FROM payouts WHERE status = '{}' AND amount_cents > 0 \
         ORDER BY created_at, id",
        PayoutStatus::Pending
    )
});

/// Pending payouts (to send, or to retry), oldest first.
pub async fn pending(db: &Db) -> Result<Vec<Payout>, sqlx::Error> {
    let rows = sqlx::query(PENDING.as_str()).fetch_all(db.pool()).await?;
    rows.iter().map(|r| from_row(r).map(|(_, p)| p)).collect()
}

/// Marks a pending payout sent (status `paid`); false when it was not pending.
pub async fn mark_paid(
    tx: &mut Tx,
    id: &str,
    transfer_id: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE payouts SET status = $1, provider_transfer_id = $2, attempts = attempts + 1, \
         last_error = NULL, updated_at = $3 WHERE id = $4 AND status = $5",
    )
    .bind(PayoutStatus::Paid)
    .bind(transfer_id)
    .bind(now)
    .bind(id)
    .bind(PayoutStatus::Pending)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Marks a pending payout refused for good (status `failed`, with the provider's
/// reason); false when it was not pending.
pub async fn mark_failed(
    tx: &mut Tx,
    id: &str,
    error: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE payouts SET status = $1, attempts = attempts + 1, last_error = $2, \
         updated_at = $3 WHERE id = $4 AND status = $5",
    )
    .bind(PayoutStatus::Failed)
    .bind(error)
    .bind(now)
    .bind(id)
    .bind(PayoutStatus::Pending)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Counts a failed attempt on a pending payout; it stays pending.
pub async fn note_attempt(db: &Db, id: &str, error: &str, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE payouts SET attempts = attempts + 1, last_error = $1, updated_at = $2 \
         WHERE id = $3 AND status = $4",
    )
    .bind(error)
    .bind(now)
    .bind(id)
    .bind(PayoutStatus::Pending)
    .execute(db.writes())
    .await?;
    Ok(())
}

/// A page of `seller`'s payouts, newest first, with `created_at` for the cursor.
pub async fn list(db: &Db, seller: &str, page: &Page) -> Result<Vec<(i64, Payout)>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM payouts WHERE seller_id = $1 AND amount_cents > 0 \
         AND (created_at < $2 OR (created_at = $2 AND id < $3)) \
         ORDER BY created_at DESC, id DESC LIMIT $4"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(seller)
        .bind(page.before.0)
        .bind(&page.before.1)
        .bind(page.limit + 1)
        .fetch_all(db.pool())
        .await?;
    rows.iter().map(from_row).collect()
}
