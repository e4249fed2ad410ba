//! The gateway's queries: buyer keys, the allowance they draw on, and usage.
//!
//! The allowance of a key is never stored: it is the sum of the buyer's active
//! grants for the listing times the listing's `requests_per_unit`, so every new
//! order tops it up and every revoked grant takes its units away, with no code in
//! the purchase path. `used_requests` is the only counter, moved by one conditional
//! `UPDATE` that refuses to pass the allowance (in `lease_store`); it holds on every replica because the
//! database decides.

use sqlx::Row;

use super::key::IssuedKey;
use super::vocab::Meter;
use crate::clock::now_ms;
use crate::db::Db;
use crate::vocab::{Delivery, GrantStatus};

/// The allowance of the key row aliased `k`, in requests (a SQL expression): each
/// active grant's units times the requests per unit it was bought with (the grant's
/// own `requests_per_unit` once a seller changed the listing's, else the listing's).
macro_rules! allowance_of {
    ($k:literal, $status:literal) => {
        concat!(
            "(SELECT CAST(COALESCE(SUM(g.units * \
               COALESCE(g.requests_per_unit, l2.requests_per_unit, 0)), 0) AS BIGINT) \
               FROM grants g JOIN listings l2 ON l2.id = g.listing_id \
               WHERE g.buyer_id = ",
            $k,
            ".buyer_id AND g.listing_id = ",
            $k,
            ".listing_id AND g.status = ",
            $status,
            ")"
        )
    };
}
// Shared with the lease queries, which check the same allowance.
pub(crate) use allowance_of;

/// What the leases of the key row aliased `k` took but have not (as last flushed)
/// served: shown counts leave it out, so they read as served requests.
macro_rules! leased_unused {
    ($k:literal) => {
        concat!(
            "(SELECT CAST(COALESCE(SUM(gl.requests - gl.used_flushed), 0) AS BIGINT) \
               FROM gateway_leases gl WHERE gl.key_id = ",
            $k,
            ".id)"
        )
    };
}

/// A buyer's key as shown after issue: its id, hint and counters.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct KeyRow {
    /// `gwk_…`
    pub id: String,
    /// Owner.
    pub buyer_id: String,
    /// The gateway listing.
    pub listing_id: String,
    /// Prefix and last four characters.
    pub key_hint: String,
    /// Requests taken from the allowance.
    pub used_requests: i64,
    /// Requests bought (active grants × requests per unit).
    pub allowed_requests: i64,
    /// Until when the previous key still works after a roll (unix ms).
    pub previous_expires_at: Option<i64>,
}

const KEY_ROW_SQL: &str = concat!(
    "SELECT k.id, k.buyer_id, k.listing_id, k.key_hint, \
     k.used_requests - ",
    leased_unused!("k"),
    " AS used_requests, k.previous_expires_at, ",
    allowance_of!("k", "$3"),
    " AS allowed_requests FROM gateway_keys k WHERE k.buyer_id = $1 AND k.listing_id = $2"
);

/// The key of `buyer` for `listing`, if one was issued.
pub async fn key_of(
    db: &Db,
    buyer_id: &str,
    listing_id: &str,
) -> Result<Option<KeyRow>, sqlx::Error> {
    sqlx::query_as::<_, KeyRow>(KEY_ROW_SQL)
        .bind(buyer_id)
        .bind(listing_id)
        .bind(GrantStatus::Active)
        .fetch_optional(db.pool())
        .await
}

/// Issues the key of `buyer` for `listing` unless one exists; returns it when this
/// call issued it (the one time its plaintext is shown).
pub async fn issue_if_missing(
    db: &Db,
    buyer_id: &str,
    listing_id: &str,
) -> Result<Option<IssuedKey>, sqlx::Error> {
    let issued = super::key::issue();
    let done = sqlx::query(
        "INSERT INTO gateway_keys (id, buyer_id, listing_id, key_hash, key_hint, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (buyer_id, listing_id) DO NOTHING",
    )
    .bind(crate::ids::new_id("gwk"))
    .bind(buyer_id)
    .bind(listing_id)
    .bind(issued.hash.to_vec())
    .bind(&issued.hint)
    .bind(now_ms())
    .execute(db.writes())
    .await?;
    Ok((done.rows_affected() == 1).then_some(issued))
}

/// Replaces the key with a new one; the old one keeps working until `grace_ms` from
/// now (not at all with 0). Returns the new key.
pub async fn roll(db: &Db, key_id: &str, grace_ms: i64) -> Result<IssuedKey, sqlx::Error> {
    let issued = super::key::issue();
    let now = now_ms();
    let keep_previous = grace_ms > 0;
    sqlx::query(
        "UPDATE gateway_keys SET \
           previous_hash = CASE WHEN $4 = 1 THEN key_hash ELSE NULL END, \
           previous_expires_at = CASE WHEN $4 = 1 THEN $5 ELSE NULL END, \
           key_hash = $2, key_hint = $3, rolled_at = $6 \
         WHERE id = $1",
    )
    .bind(key_id)
    .bind(issued.hash.to_vec())
    .bind(&issued.hint)
    .bind(i64::from(keep_previous))
    .bind(now.saturating_add(grace_ms))
    .bind(now)
    .execute(db.writes())
    .await?;
    Ok(issued)
}

/// Everything the gateway needs to serve one request with a key.
#[derive(sqlx::FromRow)]
pub struct Route {
    /// The key's id.
    pub key_id: String,
    /// The listing the key is for.
    pub listing_id: String,
    /// The listing's delivery.
    pub delivery: Delivery,
    /// Upstream base URL.
    pub upstream_base_url: Option<String>,
    /// Header the seller key goes into.
    pub inject_header: Option<String>,
    /// The header's value, with `{key}`.
    pub inject_template: Option<String>,
    /// Query parameter the seller key goes into.
    pub inject_query: Option<String>,
    /// Which answers count.
    pub meter: Meter,
    /// Master key id that sealed the seller key.
    pub api_key_key_id: String,
    /// The sealed seller key.
    pub api_key_sealed: Vec<u8>,
    /// Units of the buyer's active grants.
    pub active_units: i64,
    /// Requests the active grants buy.
    pub allowed_requests: i64,
    /// Requests taken from the allowance, leases included.
    pub used_requests: i64,
    /// Requests per minute per key, if limited.
    pub rate_limit_per_minute: Option<i64>,
    /// `listings.route_costs` (JSON).
    pub route_costs: Option<String>,
}

impl Route {
    /// Whether more is taken than the grants now allow (some were revoked).
    pub fn over_allowance(&self) -> bool {
        self.used_requests > self.allowed_requests
    }
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Route")
            .field("key_id", &self.key_id)
            .field("listing_id", &self.listing_id)
            .finish_non_exhaustive()
    }
}

/// The route of a key by its hash (the current key, or the previous one within its
/// grace period).
pub async fn route(db: &Db, key_hash: &[u8; 32]) -> Result<Option<Route>, sqlx::Error> {
    const SQL: &str = concat!(
        "SELECT k.id AS key_id, k.listing_id, l.delivery, l.upstream_base_url, \
           l.inject_header, l.inject_template, l.inject_query, l.meter, \
           l.api_key_key_id, l.api_key_sealed, k.used_requests, \
           l.rate_limit_per_minute, l.route_costs, \
           (SELECT CAST(COALESCE(SUM(g.units), 0) AS BIGINT) FROM grants g \
              WHERE g.buyer_id = k.buyer_id AND g.listing_id = k.listing_id \
              AND g.status = $3) AS active_units, ",
        allowance_of!("k", "$3"),
        " AS allowed_requests \
         FROM gateway_keys k JOIN listings l ON l.id = k.listing_id \
         WHERE k.key_hash = $1 OR (k.previous_hash = $1 AND k.previous_expires_at > $2)"
    );
    sqlx::query_as::<_, Route>(SQL)
        .bind(key_hash.to_vec())
        .bind(now_ms())
        .bind(GrantStatus::Active)
        .fetch_optional(db.pool())
        .await
}

/// Gives `cost` requests back (the upstream was not reached, or its answer is not
/// charged).
pub async fn give_back(db: &Db, key_id: &str, cost: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE gateway_keys SET used_requests = used_requests - $2 \
         WHERE id = $1 AND used_requests >= $2",
    )
    .bind(key_id)
    .bind(cost)
    .execute(db.writes())
    .await?;
    Ok(())
}

/// Adds counted requests to the per-minute usage rows.
pub async fn add_usage(db: &Db, rows: &[(String, i64, i64)]) -> Result<(), sqlx::Error> {
    let mut tx = db.begin_write().await?;
    for (key_id, minute, requests) in rows {
        sqlx::query(
            "INSERT INTO gateway_usage (key_id, minute, requests) VALUES ($1, $2, $3) \
             ON CONFLICT (key_id, minute) DO UPDATE SET requests = gateway_usage.requests + excluded.requests",
        )
        .bind(key_id)
        .bind(minute)
        .bind(requests)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await
}

/// Usage summed per bucket of `bucket_ms`, oldest first, for one key or for every key
/// of a listing.
pub async fn usage(
    db: &Db,
    scope: UsageScope<'_>,
    bucket_ms: i64,
    since_ms: i64,
) -> Result<Vec<(i64, i64)>, sqlx::Error> {
    let (filter, id) = match scope {
        UsageScope::Key(id) => ("u.key_id = $1", id),
        UsageScope::Listing(id) => (
            "u.key_id IN (SELECT k.id FROM gateway_keys k WHERE k.listing_id = $1)",
            id,
        ),
    };
    let sql = format!(
        "SELECT t.bucket, CAST(SUM(t.requests) AS BIGINT) AS requests FROM \
           (SELECT (u.minute / $2) * $2 AS bucket, u.requests FROM gateway_usage u \
            WHERE {filter} AND u.minute >= $3) t \
         GROUP BY t.bucket ORDER BY t.bucket"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(bucket_ms)
        .bind(since_ms)
        .fetch_all(db.pool())
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("bucket")?, r.try_get("requests")?)))
        .collect()
}

/// Whose usage to read.
#[derive(Clone, Copy, Debug)]
pub enum UsageScope<'a> {
    /// One buyer key.
    Key(&'a str),
    /// Every key of a listing.
    Listing(&'a str),
}

/// (requests used, requests bought) over every buyer of a listing.
pub async fn listing_totals(db: &Db, listing_id: &str) -> Result<(i64, i64), sqlx::Error> {
    let row = sqlx::query(concat!(
        "SELECT \
           (SELECT CAST(COALESCE(SUM(k.used_requests - ",
        leased_unused!("k"),
        "), 0) AS BIGINT) \
              FROM gateway_keys k WHERE k.listing_id = $1) AS used, \
           (SELECT CAST(COALESCE(SUM(g.units * \
              COALESCE(g.requests_per_unit, l.requests_per_unit, 0)), 0) AS BIGINT) \
              FROM grants g JOIN listings l ON l.id = g.listing_id \
              WHERE g.listing_id = $1 AND g.status = $2) AS allowed",
    ))
    .bind(listing_id)
    .bind(GrantStatus::Active)
    .fetch_one(db.pool())
    .await?;
    Ok((row.try_get("used")?, row.try_get("allowed")?))
}
