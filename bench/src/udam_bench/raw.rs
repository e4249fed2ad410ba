//! The seed's way of buying, run raw against PostgreSQL with no HTTP, no auth and
//! no application in between: the yardstick the HTTP API is compared with.
//!
//! Two variants, on their own tables (`seed_listings`, `seed_orders`) so they never
//! touch UDAM's rows:
//! - `SeedTxn`: the seed's transaction, five round trips with the row locked
//!   from the `SELECT … FOR UPDATE` to the `COMMIT`.
//! - `SingleStatement`: one conditional `UPDATE … WHERE available_units >= 1` and
//!   the order insert as one statement in autocommit, one round trip.
//!
//! A run buys one hot listing, or one of many picked at random per purchase as the
//! API runs do (scenario (b): a copy of the very listings UDAM sells, same ids,
//! price and units, in `seed_listings`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{Connection, Executor, PgConnection, Row};

use super::stats::Samples;

/// Which raw purchase to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// BEGIN; SELECT … FOR UPDATE; check; UPDATE; INSERT; COMMIT.
    SeedTxn,
    /// One conditional UPDATE + INSERT statement.
    SingleStatement,
}

impl Method {
    /// Label for the report.
    pub fn label(self) -> &'static str {
        match self {
            Method::SeedTxn => "seed transaction, raw SQL",
            Method::SingleStatement => "single conditional statement, raw SQL",
        }
    }
}

/// The tables of the raw runs, beside UDAM's.
pub async fn create_tables(pool: &PgPool) -> anyhow::Result<()> {
    pool.execute(
        "CREATE TABLE seed_listings ( \
           id TEXT PRIMARY KEY, \
           price_cents BIGINT NOT NULL, \
           available_units BIGINT NOT NULL CHECK (available_units >= 0)); \
         CREATE TABLE seed_orders ( \
           id TEXT PRIMARY KEY, \
           buyer_id TEXT NOT NULL, \
           listing_id TEXT NOT NULL REFERENCES seed_listings(id), \
           units BIGINT NOT NULL, \
           total_cents BIGINT NOT NULL, \
           created_at BIGINT NOT NULL); \
         CREATE INDEX seed_orders_listing ON seed_orders(listing_id); \
         CREATE INDEX seed_orders_buyer ON seed_orders(buyer_id, created_at DESC)",
    )
    .await?;
    Ok(())
}

/// A fresh hot row for one run.
pub async fn create_listing(pool: &PgPool, id: &str, units: i64) -> anyhow::Result<()> {
    sqlx::query("INSERT INTO seed_listings (id, price_cents, available_units) VALUES ($1, 1, $2)")
        .bind(id)
        .bind(units)
        .execute(pool)
        .await?;
    Ok(())
}

/// Copies UDAM's listings `ids` (id, price, units left) into `seed_listings`, so
/// that the raw runs of scenario (b) buy the same listings.
pub async fn copy_listings(pool: &PgPool, ids: &[String]) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO seed_listings (id, price_cents, available_units) \
         SELECT id, price_cents, available_units FROM listings WHERE id = ANY($1)",
    )
    .bind(ids)
    .execute(pool)
    .await?;
    Ok(())
}

/// The oversell check of raw listings: for each, units sold + units left must be
/// `listed_each`, none below zero. Returns (units sold in total, any violation).
pub async fn check(
    pool: &PgPool,
    ids: &[String],
    listed_each: i64,
) -> anyhow::Result<(i64, Option<String>)> {
    let row = sqlx::query(
        "WITH s AS (SELECT listing_id, SUM(units)::BIGINT AS sold FROM seed_orders \
                    WHERE listing_id = ANY($1) GROUP BY listing_id) \
         SELECT COUNT(*), \
           COUNT(*) FILTER (WHERE l.available_units + COALESCE(s.sold, 0) <> $2), \
           COUNT(*) FILTER (WHERE l.available_units < 0), \
           COALESCE(SUM(s.sold), 0)::BIGINT, 0::BIGINT \
         FROM seed_listings l LEFT JOIN s ON s.listing_id = l.id WHERE l.id = ANY($1)",
    )
    .bind(ids)
    .bind(listed_each)
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

/// What one raw run saw.
pub struct RawOutcome {
    /// Latencies of measured purchases.
    pub samples: Samples,
    /// Measured failures (errors, or "sold out" answers).
    pub errors: u64,
    /// Purchases over the whole run, warm-up included.
    pub ok_total: u64,
    /// Failures over the whole run, warm-up included (a failed commit may still
    /// have sold, so the check allows for them).
    pub errors_total: u64,
    /// First error seen, if any.
    pub error_example: Option<String>,
}

/// Runs `clients` connections, each buying one unit of one of `listings` (picked
/// at random per purchase) in a loop.
pub async fn run(
    url: &str,
    method: Method,
    listings: Arc<Vec<String>>,
    clients: usize,
    warmup: Duration,
    duration: Duration,
) -> anyhow::Result<RawOutcome> {
    let clients_u32 = u32::try_from(clients)?;
    let pool = PgPoolOptions::new()
        .max_connections(clients_u32)
        .min_connections(clients_u32)
        .connect(url)
        .await?;
    let start = Instant::now();
    let measure_from = start + warmup;
    let stop_at = measure_from + duration;
    let mut tasks = Vec::with_capacity(clients);
    for task in 0..clients {
        let mut conn = pool.acquire().await?.detach();
        let listings = listings.clone();
        let buyer = format!("raw_buyer_{task}");
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(65_536);
            let (mut errors, mut ok_total, mut errors_total, mut example) = (0u64, 0u64, 0, None);
            let mut seq = 0u64;
            loop {
                let now = Instant::now();
                if now >= stop_at {
                    break;
                }
                let order_id = udam::ids::new_id("ord");
                let listing = &listings[super::requests::pick(task, seq, listings.len())];
                seq += 1;
                let result = match method {
                    Method::SeedTxn => seed_txn(&mut conn, listing, &buyer, &order_id).await,
                    Method::SingleStatement => {
                        single_statement(&mut conn, listing, &buyer, &order_id).await
                    }
                };
                match result {
                    Ok(true) => {
                        ok_total += 1;
                        if now >= measure_from {
                            lat.push(u32::try_from(now.elapsed().as_micros()).unwrap_or(u32::MAX));
                        }
                    }
                    other => {
                        errors_total += 1;
                        if now >= measure_from {
                            errors += 1;
                        }
                        if example.is_none() {
                            example = Some(match other {
                                Ok(_) => "sold out".to_owned(),
                                Err(e) => e.to_string(),
                            });
                        }
                    }
                }
            }
            let _ = conn.close().await;
            (lat, errors, ok_total, errors_total, example)
        }));
    }
    let mut all = Vec::new();
    let mut outcome = RawOutcome {
        samples: Samples::default(),
        errors: 0,
        ok_total: 0,
        errors_total: 0,
        error_example: None,
    };
    for task in tasks {
        let (lat, errors, ok_total, errors_total, example) = task.await?;
        all.extend(lat);
        outcome.errors += errors;
        outcome.ok_total += ok_total;
        outcome.errors_total += errors_total;
        outcome.error_example = outcome.error_example.or(example);
    }
    pool.close().await;
    outcome.samples = Samples::new(all, duration);
    Ok(outcome)
}

/// The seed's transaction, statement by statement. `Ok(false)` when sold out.
async fn seed_txn(
    conn: &mut PgConnection,
    listing: &str,
    buyer: &str,
    order_id: &str,
) -> Result<bool, sqlx::Error> {
    let mut tx = conn.begin().await?;
    let row = sqlx::query(
        "SELECT available_units, price_cents FROM seed_listings WHERE id = $1 FOR UPDATE",
    )
    .bind(listing)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        tx.rollback().await?;
        return Ok(false);
    };
    let available: i64 = row.try_get(0)?;
    let price: i64 = row.try_get(1)?;
    if available < 1 {
        tx.rollback().await?;
        return Ok(false);
    }
    sqlx::query("UPDATE seed_listings SET available_units = available_units - 1 WHERE id = $1")
        .bind(listing)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO seed_orders (id, buyer_id, listing_id, units, total_cents, created_at) \
         VALUES ($1, $2, $3, 1, $4, $5)",
    )
    .bind(order_id)
    .bind(buyer)
    .bind(listing)
    .bind(price)
    .bind(udam::clock::now_ms())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// Take and insert in one autocommitted statement. `Ok(false)` when sold out.
async fn single_statement(
    conn: &mut PgConnection,
    listing: &str,
    buyer: &str,
    order_id: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "WITH taken AS ( \
           UPDATE seed_listings SET available_units = available_units - 1 \
           WHERE id = $1 AND available_units >= 1 RETURNING id, price_cents) \
         INSERT INTO seed_orders (id, buyer_id, listing_id, units, total_cents, created_at) \
         SELECT $2, $3, t.id, 1, t.price_cents, $4 FROM taken t",
    )
    .bind(listing)
    .bind(order_id)
    .bind(buyer)
    .bind(udam::clock::now_ms())
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
