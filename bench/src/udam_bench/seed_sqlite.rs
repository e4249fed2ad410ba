//! The bench data on SQLite, written through SQLite itself into the file the
//! server under test uses: users with sessions, listings with sealed seller keys,
//! and the oversell check. SQLite has no arrays to bind, so rows go in one by one,
//! a thousand to a transaction (one commit per thousand rows, not per row).

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sqlx::Row;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use udam::crypto::{KeyRing, Purpose};
use udam::vocab::{ListingStatus, OrderStatus};

/// Rows per seeding transaction.
const CHUNK: usize = 1000;

/// The URL the server is started with, for a database file in `dir`.
pub fn url(dir: &Path) -> String {
    format!("sqlite://{}?mode=rwc", dir.join("bench.db").display())
}

/// A pool on the server's file, once the server has created its schema. Reads and
/// the seeding's writes wait for the server's writers instead of failing.
pub async fn connect(url: &str) -> anyhow::Result<SqlitePool> {
    let options = SqliteConnectOptions::from_str(url)?
        .busy_timeout(Duration::from_secs(30))
        .foreign_keys(true);
    Ok(SqlitePoolOptions::new()
        .max_connections(2)
        .connect_with(options)
        .await?)
}

/// The file system `path` lives on (the longest mount point above it), from
/// /proc/mounts: a tmpfs would make every flush free.
fn file_system(path: &Path) -> String {
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    mounts
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (_, point, kind) = (f.next()?, f.next()?, f.next()?);
            path.starts_with(point)
                .then(|| (point.len(), kind.to_owned()))
        })
        .max()
        .map_or_else(|| "unknown".to_owned(), |(_, kind)| kind)
}

/// SQLite's version, the journal mode of the file and where it lives.
pub async fn facts(pool: &SqlitePool, dir: &Path) -> anyhow::Result<String> {
    let version: String = sqlx::query("SELECT sqlite_version()")
        .fetch_one(pool)
        .await?
        .try_get(0)?;
    let journal: String = sqlx::query("PRAGMA journal_mode")
        .fetch_one(pool)
        .await?
        .try_get(0)?;
    Ok(format!(
        "SQLite {version} (journal_mode={journal}, file in {} on {})",
        dir.display(),
        file_system(dir)
    ))
}

/// Inserts `n` users, each with a live session; returns (user ids, bearer tokens).
pub async fn users(
    pool: &SqlitePool,
    prefix: &str,
    n: usize,
) -> anyhow::Result<(Vec<String>, Vec<String>)> {
    let now = udam::clock::now_ms();
    let mut ids = Vec::with_capacity(n);
    let mut tokens = Vec::with_capacity(n);
    let mut tx = pool.begin().await?;
    for i in 0..n {
        let id = udam::ids::new_id("usr");
        let token = URL_SAFE_NO_PAD.encode(udam::ids::random_bytes::<32>());
        sqlx::query(
            "INSERT INTO users (id, email, password_hash, display_name, is_admin, created_at) \
             VALUES ($1, $2, 'bench-no-login', NULL, 0, $3)",
        )
        .bind(&id)
        .bind(format!("{prefix}{i}@bench.example"))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(udam::accounts::sessions::hash_token(&token))
        .bind(&id)
        .bind(now)
        .bind(now + 24 * 3600 * 1000)
        .execute(&mut *tx)
        .await?;
        ids.push(id);
        tokens.push(token);
    }
    tx.commit().await?;
    Ok((ids, tokens))
}

/// Inserts `n` active listings of `seller` at 1 cent a unit with `units` each;
/// returns their ids, newest last.
pub async fn listings(
    pool: &SqlitePool,
    ring: &KeyRing,
    seller: &str,
    name: &str,
    n: usize,
    units: i64,
) -> anyhow::Result<Vec<String>> {
    let mut all = Vec::with_capacity(n);
    // Distinct creation times keep the browse order stable and realistic.
    let base = udam::clock::now_ms() - i64::try_from(n)?;
    for chunk_start in (0..n).step_by(CHUNK) {
        let mut tx = pool.begin().await?;
        for i in chunk_start..(chunk_start + CHUNK).min(n) {
            let id = udam::ids::new_id("lst");
            let sealed = ring.seal(
                Purpose::ListingApiKey,
                &id,
                b"sk_bench_upstream_key_0123456789",
            )?;
            let created = base + i64::try_from(i)?;
            sqlx::query(
                "INSERT INTO listings (id, seller_id, service_name, description, \
                   unit_description, price_cents, currency, available_units, status, \
                   api_key_sealed, api_key_key_id, api_key_hint, created_at, updated_at) \
                 VALUES ($1, $2, $3, $3 || ' data, fresh every minute', 'per 1000 requests', \
                   1, 'usd', $4, $5, $6, $7, '…6789', $8, $8)",
            )
            .bind(&id)
            .bind(seller)
            .bind(format!("{name} {i}"))
            .bind(units)
            .bind(ListingStatus::Active.as_str())
            .bind(&sealed.blob)
            .bind(&sealed.key_id)
            .bind(created)
            .execute(&mut *tx)
            .await?;
            all.push(id);
        }
        tx.commit().await?;
    }
    Ok(all)
}

/// The oversell check of a set of listings, as `seed::check_listings` does on
/// PostgreSQL: (units sold in total, a description of any violation).
pub async fn check_listings(
    pool: &SqlitePool,
    ids: &[String],
    listed_each: i64,
) -> anyhow::Result<(i64, Option<String>)> {
    let row = sqlx::query(
        "WITH ids AS (SELECT value AS id FROM json_each($1)), \
              l AS (SELECT id, available_units FROM listings WHERE id IN (SELECT id FROM ids)), \
              s AS (SELECT listing_id, SUM(units) AS sold FROM orders \
                    WHERE listing_id IN (SELECT id FROM ids) AND holds_units = 1 \
                    GROUP BY listing_id) \
         SELECT COUNT(*), \
           COALESCE(SUM(l.available_units + COALESCE(s.sold, 0) <> $2), 0), \
           COALESCE(SUM(l.available_units < 0), 0), \
           COALESCE(SUM(s.sold), 0), \
           (SELECT COUNT(*) FROM orders o \
              WHERE o.listing_id IN (SELECT id FROM ids) AND o.status = $3) - \
           (SELECT COUNT(*) FROM grants g WHERE g.listing_id IN (SELECT id FROM ids)) \
         FROM l LEFT JOIN s ON s.listing_id = l.id",
    )
    .bind(serde_json::to_string(ids)?)
    .bind(listed_each)
    .bind(OrderStatus::Fulfilled.as_str())
    .fetch_one(pool)
    .await?;
    super::seed::problems(
        ids.len(),
        row.try_get(0)?,
        row.try_get(1)?,
        row.try_get(2)?,
        row.try_get(3)?,
        row.try_get(4)?,
    )
}
