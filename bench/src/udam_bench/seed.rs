//! A fresh database and its bench data: users with sessions, and listings with
//! properly sealed seller keys, inserted set-based so that seeding 10,000
//! listings takes a moment rather than 10,000 commits.

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sqlx::postgres::PgPool;
use sqlx::{Connection, PgConnection, Row};
use udam::crypto::{KeyRing, Purpose};

/// A new, empty database on the server of `admin_url`; returns its URL and name.
pub async fn create_database(admin_url: &str) -> anyhow::Result<(String, String)> {
    let mut conn = PgConnection::connect(admin_url)
        .await
        .with_context(|| format!("PostgreSQL does not answer at {}", redact(admin_url)))?;
    let name = format!("udam_bench_{}", hex::encode(udam::ids::random_bytes::<6>()));
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    let (path, query) = admin_url
        .split_once('?')
        .map_or((admin_url, None), |(p, q)| (p, Some(q)));
    let base = path.rsplit_once('/').map_or(path, |(b, _)| b);
    let url = match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    };
    Ok((url, name))
}

/// Drops a bench database (the server must be stopped first).
pub async fn drop_database(admin_url: &str, name: &str) -> anyhow::Result<()> {
    let mut conn = PgConnection::connect(admin_url).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut conn)
    .await?;
    conn.close().await?;
    Ok(())
}

/// A URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Server version and the settings that bound commit throughput.
pub async fn server_facts(pool: &PgPool) -> anyhow::Result<String> {
    let row = sqlx::query(
        "SELECT current_setting('server_version'), current_setting('fsync'), \
           current_setting('synchronous_commit'), current_setting('max_connections'), \
           current_setting('shared_buffers')",
    )
    .fetch_one(pool)
    .await?;
    Ok(format!(
        "PostgreSQL {} (fsync={}, synchronous_commit={}, max_connections={}, shared_buffers={})",
        row.try_get::<String, _>(0)?,
        row.try_get::<String, _>(1)?,
        row.try_get::<String, _>(2)?,
        row.try_get::<String, _>(3)?,
        row.try_get::<String, _>(4)?
    ))
}

/// Inserts `n` users, each with a live session; returns (user ids, bearer tokens).
pub async fn users(
    pool: &PgPool,
    prefix: &str,
    n: usize,
) -> anyhow::Result<(Vec<String>, Vec<String>)> {
    let ids: Vec<String> = (0..n).map(|_| udam::ids::new_id("usr")).collect();
    let emails: Vec<String> = (0..n)
        .map(|i| format!("{prefix}{i}@bench.example"))
        .collect();
    let tokens: Vec<String> = (0..n)
        .map(|_| URL_SAFE_NO_PAD.encode(udam::ids::random_bytes::<32>()))
        .collect();
    let hashes: Vec<Vec<u8>> = tokens
        .iter()
        .map(|t| udam::accounts::sessions::hash_token(t))
        .collect();
    let now = udam::clock::now_ms();
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO users (id, email, password_hash, display_name, is_admin, created_at) \
         SELECT id, email, 'bench-no-login', NULL, 0, $3 FROM UNNEST($1::text[], $2::text[]) AS u(id, email)",
    )
    .bind(&ids)
    .bind(&emails)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) \
         SELECT h, id, $3, $4 FROM UNNEST($1::bytea[], $2::text[]) AS s(h, id)",
    )
    .bind(&hashes)
    .bind(&ids)
    .bind(now)
    .bind(now + 24 * 3600 * 1000)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok((ids, tokens))
}

/// Inserts `n` active listings of `seller` at 1 cent a unit with `units` each;
/// returns their ids, newest last.
pub async fn listings(
    pool: &PgPool,
    ring: &KeyRing,
    seller: &str,
    name: &str,
    n: usize,
    units: i64,
) -> anyhow::Result<Vec<String>> {
    let mut all = Vec::with_capacity(n);
    for chunk_start in (0..n).step_by(1000) {
        let count = (n - chunk_start).min(1000);
        let ids: Vec<String> = (0..count).map(|_| udam::ids::new_id("lst")).collect();
        let names: Vec<String> = (0..count)
            .map(|i| format!("{name} {}", chunk_start + i))
            .collect();
        let mut blobs = Vec::with_capacity(count);
        let mut key_ids = Vec::with_capacity(count);
        for id in &ids {
            let sealed = ring.seal(
                Purpose::ListingApiKey,
                id,
                b"sk_bench_upstream_key_0123456789",
            )?;
            blobs.push(sealed.blob);
            key_ids.push(sealed.key_id);
        }
        // Distinct creation times keep the browse order stable and realistic.
        let base = udam::clock::now_ms() - i64::try_from(n)? + i64::try_from(chunk_start)?;
        let created: Vec<i64> = (0..count).map(|i| base + i as i64).collect();
        sqlx::query(
            "INSERT INTO listings (id, seller_id, service_name, description, unit_description, \
               price_cents, currency, available_units, status, api_key_sealed, api_key_key_id, \
               api_key_hint, created_at, updated_at) \
             SELECT id, $5, nm, nm || ' data, fresh every minute', 'per 1000 requests', 1, 'usd', \
               $6, 'active', blob, kid, '…6789', c, c \
             FROM UNNEST($1::text[], $2::text[], $3::bytea[], $4::text[], $7::bigint[]) \
               AS l(id, nm, blob, kid, c)",
        )
        .bind(&ids)
        .bind(&names)
        .bind(&blobs)
        .bind(&key_ids)
        .bind(seller)
        .bind(units)
        .bind(&created)
        .execute(pool)
        .await?;
        all.extend(ids);
    }
    Ok(all)
}

/// Orders per committing transaction among the orders of `ids`: orders committed
/// together share their inserting transaction id (`xmin`).
pub async fn orders_per_commit(pool: &PgPool, ids: &[String]) -> anyhow::Result<f64> {
    let row = sqlx::query(
        "SELECT COUNT(*)::float8 / GREATEST(COUNT(DISTINCT xmin::text), 1) \
         FROM orders WHERE listing_id = ANY($1)",
    )
    .bind(ids)
    .fetch_one(pool)
    .await?;
    Ok(row.try_get(0)?)
}

/// The oversell check of a set of listings: units held by orders + units left must
/// equal units listed for every one of them, and none may be negative. Returns
/// (units sold in total, a description of any violation).
pub async fn check_listings(
    pool: &PgPool,
    ids: &[String],
    listed_each: i64,
) -> anyhow::Result<(i64, Option<String>)> {
    let row = sqlx::query(
        "WITH l AS (SELECT id, available_units FROM listings WHERE id = ANY($1)), \
              s AS (SELECT listing_id, SUM(units)::BIGINT AS sold FROM orders \
                    WHERE listing_id = ANY($1) AND holds_units = 1 GROUP BY listing_id) \
         SELECT COUNT(*), \
           COUNT(*) FILTER (WHERE l.available_units + COALESCE(s.sold, 0) <> $2), \
           COUNT(*) FILTER (WHERE l.available_units < 0), \
           COALESCE(SUM(s.sold), 0)::BIGINT, \
           (SELECT COUNT(*) FROM orders o WHERE o.listing_id = ANY($1) AND o.status = $3) - \
           (SELECT COUNT(*) FROM grants g WHERE g.listing_id = ANY($1)) \
         FROM l LEFT JOIN s ON s.listing_id = l.id",
    )
    .bind(ids)
    .bind(listed_each)
    .bind(udam::vocab::OrderStatus::Fulfilled.as_str())
    .fetch_one(pool)
    .await?;
    problems(
        ids.len(),
        row.try_get(0)?,
        row.try_get(1)?,
        row.try_get(2)?,
        row.try_get(3)?,
        row.try_get(4)?,
    )
}

/// Turns the counts of an oversell check into (units sold, any violation); shared
/// by both backends' checks.
pub fn problems(
    expected: usize,
    found: i64,
    unbalanced: i64,
    negative: i64,
    sold: i64,
    ungranted: i64,
) -> anyhow::Result<(i64, Option<String>)> {
    let mut problems = Vec::new();
    if found != i64::try_from(expected)? {
        problems.push(format!("{found} of {expected} listings found"));
    }
    if unbalanced > 0 {
        problems.push(format!("{unbalanced} listing(s) with sold + left ≠ listed"));
    }
    if negative > 0 {
        problems.push(format!("{negative} listing(s) below zero"));
    }
    if ungranted != 0 {
        problems.push(format!(
            "{ungranted} fulfilled order(s) without exactly one grant"
        ));
    }
    Ok((sold, (!problems.is_empty()).then(|| problems.join("; "))))
}

/// PostgreSQL's `fsync` and `synchronous_commit` settings, read through `admin_url`.
pub async fn durability(admin_url: &str) -> anyhow::Result<(String, String)> {
    let mut conn = PgConnection::connect(admin_url)
        .await
        .with_context(|| format!("PostgreSQL does not answer at {}", redact(admin_url)))?;
    let row = sqlx::query("SELECT current_setting('fsync'), current_setting('synchronous_commit')")
        .fetch_one(&mut conn)
        .await?;
    let settings = (row.try_get(0)?, row.try_get(1)?);
    conn.close().await?;
    Ok(settings)
}
