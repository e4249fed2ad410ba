//! The SQL of gateway leases (table `gateway_leases`, docs/GATEWAY.md "Leases").
//!
//! `gateway_keys.used_requests` stays the one counter the allowance is checked
//! against: taking a lease adds its whole block there in the same transaction that
//! records the lease, and returning or reclaiming one subtracts what was not served.

use sqlx::Row;

use crate::clock::now_ms;
use crate::db::Db;
use crate::vocab::GrantStatus;

/// A lease this process now holds.
#[derive(Clone, Debug)]
pub struct Granted {
    /// `gwl_…`
    pub id: String,
    /// Requests in the block.
    pub requests: i64,
    /// Requests it may serve past its last flushed count (stored as `window_size`).
    pub window: i64,
}

/// The largest block one lease takes: a busy key costs a new lease (two
/// transactions, taken on its requests' path) per this many requests. 256 made that
/// a pause every 15 ms at 17k requests/s; blocks stay an eighth of what is left, so
/// this only matters for large allowances.
pub const MAX_BLOCK: i64 = 4096;

/// The block to take when `remaining` requests are left: an eighth of them, at
/// least `min` and at most [`MAX_BLOCK`], so that the last requests go one by one.
pub fn block_size(remaining: i64, min: i64) -> i64 {
    (remaining / 8).clamp(min.max(1), MAX_BLOCK.max(min))
}

/// The largest window a lease is given, whatever its block.
pub const MAX_WINDOW: i64 = 256;

/// A lease's window: a sixteenth of its block, at least `floor`
/// (`--gateway-lease-window`) and at most [`MAX_WINDOW`]. Each window costs one
/// database write (a commit) per lease, so one window of 16 held a busy key to
/// about 16 requests per round trip; a crash leaves at most the window in doubt,
/// which this keeps to `floor` for small blocks and to a sixteenth of the block
/// (so at most 1/128 of what was left) for large ones.
pub fn window_for(block: i64, floor: i64) -> i64 {
    (block / 16).clamp(floor.max(1), MAX_WINDOW.max(floor))
}

const REMAINING_SQL: &str = concat!(
    "SELECT ",
    super::store::allowance_of!("k", "$2"),
    " - k.used_requests AS remaining FROM gateway_keys k WHERE k.id = $1"
);

const TAKE_SQL: &str = concat!(
    "UPDATE gateway_keys SET used_requests = used_requests + $2 \
     WHERE id = $1 AND used_requests + $2 <= ",
    super::store::allowance_of!("gateway_keys", "$3")
);

/// Takes a block of at least `min` requests from the key's allowance and records it
/// as a lease expiring `ttl_ms` from now, with a window of at least `min_window`
/// ([`window_for`]); `None` when fewer than `min` are left.
pub async fn acquire(
    db: &Db,
    key_id: &str,
    min: i64,
    min_window: i64,
    ttl_ms: i64,
) -> Result<Option<Granted>, sqlx::Error> {
    let mut tx = db.begin_write().await?;
    // Write first: SQLite takes its write lock now (a read-then-write transaction
    // could fail to upgrade), and PostgreSQL locks the key's row, so concurrent
    // acquirers of one key queue here and the read below is current.
    sqlx::query("UPDATE gateway_keys SET used_requests = used_requests WHERE id = $1")
        .bind(key_id)
        .execute(&mut *tx)
        .await?;
    let remaining: i64 = sqlx::query(REMAINING_SQL)
        .bind(key_id)
        .bind(GrantStatus::Active)
        .fetch_optional(&mut *tx)
        .await?
        .map(|row| row.try_get("remaining"))
        .transpose()?
        .unwrap_or(0);
    if remaining < min {
        tx.rollback().await?;
        return Ok(None);
    }
    let requests = block_size(remaining, min).min(remaining);
    let window = window_for(requests, min_window);
    // Conditional all the same: the database, not this read, has the last word.
    let taken = sqlx::query(TAKE_SQL)
        .bind(key_id)
        .bind(requests)
        .bind(GrantStatus::Active)
        .execute(&mut *tx)
        .await?;
    if taken.rows_affected() != 1 {
        tx.rollback().await?;
        return Ok(None);
    }
    let id = crate::ids::new_id("gwl");
    let now = now_ms();
    sqlx::query(
        "INSERT INTO gateway_leases (id, key_id, requests, used_flushed, window_size, \
         expires_at, created_at) VALUES ($1, $2, $3, 0, $4, $5, $6)",
    )
    .bind(&id)
    .bind(key_id)
    .bind(requests)
    .bind(window)
    .bind(now.saturating_add(ttl_ms))
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Some(Granted {
        id,
        requests,
        window,
    }))
}

/// Records `used` on the lease and pushes its expiry to `ttl_ms` from now; false
/// when the lease is gone or already expired (it may have been reclaimed: its
/// holder must stop serving from it).
pub async fn flush(db: &Db, lease_id: &str, used: i64, ttl_ms: i64) -> Result<bool, sqlx::Error> {
    let now = now_ms();
    let done = sqlx::query(
        "UPDATE gateway_leases SET used_flushed = $2, expires_at = $3 \
         WHERE id = $1 AND expires_at > $4",
    )
    .bind(lease_id)
    .bind(used)
    .bind(now.saturating_add(ttl_ms))
    .bind(now)
    .execute(db.writes())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Returns a lease its holder stops using, having served exactly `used` from it:
/// the rest goes back to the key. False when it was already reclaimed.
pub async fn release(
    db: &Db,
    lease_id: &str,
    key_id: &str,
    requests: i64,
    used: i64,
) -> Result<bool, sqlx::Error> {
    let mut tx = db.begin_write().await?;
    let gone = sqlx::query("DELETE FROM gateway_leases WHERE id = $1")
        .bind(lease_id)
        .execute(&mut *tx)
        .await?;
    if gone.rows_affected() != 1 {
        tx.rollback().await?;
        return Ok(false);
    }
    give_back_in(&mut tx, key_id, requests.saturating_sub(used).max(0)).await?;
    tx.commit().await?;
    Ok(true)
}

/// What a reclaimed lease gives back: the in-doubt window after the last flush is
/// counted as served, so a crashed holder can never cause over-serving.
pub fn reclaim_refund(requests: i64, used_flushed: i64, window: i64) -> i64 {
    let unflushed = requests.saturating_sub(used_flushed).max(0);
    unflushed - window.max(0).min(unflushed)
}

/// Reclaims up to 100 leases whose expiry passed (their holder crashed or lost the
/// database); returns how many.
pub async fn reclaim_expired(db: &Db) -> Result<usize, sqlx::Error> {
    let now = now_ms();
    let expired = sqlx::query(
        "SELECT id, key_id FROM gateway_leases \
         WHERE expires_at <= $1 ORDER BY expires_at LIMIT 100",
    )
    .bind(now)
    .fetch_all(db.pool())
    .await?;
    let mut reclaimed = 0;
    for row in expired {
        let id: String = row.try_get("id")?;
        let key_id: String = row.try_get("key_id")?;
        let mut tx = db.begin_write().await?;
        // Re-checked in the DELETE: a flush may have renewed it meanwhile. The refund
        // comes from the row as deleted, not as first read: a flush between the two
        // (a holder whose clock runs behind) must count too.
        let gone = sqlx::query(
            "DELETE FROM gateway_leases WHERE id = $1 AND expires_at <= $2 \
             RETURNING requests, used_flushed, window_size",
        )
        .bind(&id)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(gone) = gone else {
            tx.rollback().await?;
            continue;
        };
        let refund = reclaim_refund(
            gone.try_get("requests")?,
            gone.try_get("used_flushed")?,
            gone.try_get("window_size")?,
        );
        give_back_in(&mut tx, &key_id, refund).await?;
        tx.commit().await?;
        reclaimed += 1;
    }
    Ok(reclaimed)
}

async fn give_back_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    key_id: &str,
    requests: i64,
) -> Result<(), sqlx::Error> {
    if requests > 0 {
        sqlx::query(
            "UPDATE gateway_keys SET used_requests = used_requests - $2 \
             WHERE id = $1 AND used_requests >= $2",
        )
        .bind(key_id)
        .bind(requests)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_shrink_to_one_near_the_end() {
        assert_eq!(block_size(30, 1), 3);
        assert_eq!(block_size(7, 1), 1);
        assert_eq!(block_size(1, 1), 1);
        assert_eq!(block_size(1_000_000, 1), MAX_BLOCK);
    }

    #[test]
    fn windows_grow_with_the_block_between_the_floor_and_the_cap() {
        assert_eq!(window_for(25, 16), 16);
        assert_eq!(window_for(1, 16), 16);
        assert_eq!(window_for(1024, 16), 64);
        assert_eq!(window_for(MAX_BLOCK, 16), MAX_WINDOW);
        assert_eq!(window_for(MAX_BLOCK, 1), MAX_WINDOW);
        assert_eq!(window_for(100, 1), 6);
    }

    #[test]
    fn a_reclaimed_lease_counts_its_window_as_served() {
        assert_eq!(reclaim_refund(25, 1, 16), 8);
        assert_eq!(reclaim_refund(10, 0, 16), 0);
        assert_eq!(reclaim_refund(256, 256, 16), 0);
        assert_eq!(reclaim_refund(256, 0, 16), 240);
    }
}
