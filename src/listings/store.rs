//! Listing queries.
//!
//! Every write here moves `updated_at` strictly forward (`now`, or one past the
//! previous value when two writes share a millisecond), which is what cache
//! invalidation in other processes watches. A sale is not such a write: it changes
//! only `available_units` and leaves `updated_at` alone, so that on PostgreSQL its
//! update touches no index (migration 0024); the orders it places are what shows it
//! ([`changed_since`]).

use sqlx::Row;

use super::model::Listing;
use crate::clock::now_ms;
use crate::crypto::Sealed;
use crate::db::Db;
use crate::gateway::vocab::Meter;
use crate::listing_columns;
use crate::vocab::ListingStatus;

/// A listing to insert, already validated and sealed.
pub struct NewListing<'a> {
    /// Fresh id (the sealed key is bound to it).
    pub id: &'a str,
    /// Owner.
    pub seller_id: &'a str,
    /// Name.
    pub service_name: &'a str,
    /// Description.
    pub description: &'a str,
    /// Unit description.
    pub unit_description: &'a str,
    /// Price per unit.
    pub price_cents: i64,
    /// Currency code.
    pub currency: &'a str,
    /// Units.
    pub available_units: i64,
    /// The sealed key.
    pub sealed_key: &'a Sealed,
    /// The key's hint.
    pub api_key_hint: &'a str,
    /// How buyers reach the service.
    pub delivery: crate::vocab::Delivery,
    /// The gateway settings, with gateway delivery.
    pub gateway: Option<&'a super::delivery::GatewaySettings>,
}

/// Inserts a listing and returns it as stored.
pub async fn insert(db: &Db, new: &NewListing<'_>) -> Result<Listing, sqlx::Error> {
    let now = now_ms();
    sqlx::query(
        "INSERT INTO listings (id, seller_id, service_name, description, unit_description, \
         price_cents, currency, available_units, status, api_key_sealed, api_key_key_id, \
         api_key_hint, created_at, updated_at, delivery, upstream_base_url, inject_header, \
         inject_template, inject_query, requests_per_unit, meter, rate_limit_per_minute, \
         route_costs) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $13, $9, $10, $11, $12, $12, \
         $14, $15, $16, $17, $18, $19, $20, $21, $22)",
    )
    .bind(new.id)
    .bind(new.seller_id)
    .bind(new.service_name)
    .bind(new.description)
    .bind(new.unit_description)
    .bind(new.price_cents)
    .bind(new.currency)
    .bind(new.available_units)
    .bind(new.sealed_key.blob.clone())
    .bind(&new.sealed_key.key_id)
    .bind(new.api_key_hint)
    .bind(now)
    .bind(ListingStatus::Active)
    .bind(new.delivery)
    .bind(new.gateway.map(|g| g.upstream_base_url.clone()))
    .bind(new.gateway.and_then(|g| g.inject_header.clone()))
    .bind(new.gateway.and_then(|g| g.inject_template.clone()))
    .bind(new.gateway.and_then(|g| g.inject_query.clone()))
    .bind(new.gateway.map(|g| g.requests_per_unit))
    .bind(new.gateway.map_or(Meter::All, |g| g.meter))
    .bind(new.gateway.and_then(|g| g.rate_limit_per_minute))
    .bind(
        new.gateway
            .and_then(|g| crate::gateway::costs::to_column(&g.route_costs)),
    )
    .execute(db.writes())
    .await?;
    get(db, new.id).await?.ok_or(sqlx::Error::RowNotFound)
}

/// One listing by id.
pub async fn get(db: &Db, id: &str) -> Result<Option<Listing>, sqlx::Error> {
    if !crate::ids::is_well_formed(id) {
        return Ok(None);
    }
    const SQL: &str = concat!(
        "SELECT ",
        listing_columns!(),
        " FROM listings WHERE id = $1"
    );
    let row = sqlx::query(SQL).bind(id).fetch_optional(db.pool()).await?;
    row.as_ref().map(Listing::from_row).transpose()
}

/// Listings by id, in one statement (ids not found, or malformed, are left out), in
/// no particular order. For batched loading (GraphQL's orders with their listings).
pub async fn get_many(db: &Db, ids: &[&str]) -> Result<Vec<Listing>, sqlx::Error> {
    let ids: Vec<&str> = ids
        .iter()
        .copied()
        .filter(|id| crate::ids::is_well_formed(id))
        .collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    // Only placeholders are spliced in; the ids are bound.
    let placeholders: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT {} FROM listings WHERE id IN ({})",
        listing_columns!(),
        placeholders.join(", ")
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for id in &ids {
        query = query.bind(*id);
    }
    let rows = query.fetch_all(db.pool()).await?;
    rows.iter().map(Listing::from_row).collect()
}

/// Sort orders of the browse endpoint (the queries live in [`super::search`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sort {
    /// Best match first (needs search text).
    Relevance,
    /// Newest first.
    Newest,
    /// Cheapest first.
    PriceAsc,
    /// Dearest first.
    PriceDesc,
}

/// Where a page starts: the sort key of the last item of the previous page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct After {
    /// Relevance, `created_at` or `price_cents`, by sort.
    pub key: i64,
    /// Tie-breaker.
    pub id: String,
}

/// The sealed key of a listing: (key id, blob).
pub async fn sealed_key(db: &Db, id: &str) -> Result<Option<(String, Vec<u8>)>, sqlx::Error> {
    let row = sqlx::query("SELECT api_key_key_id, api_key_sealed FROM listings WHERE id = $1")
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
    row.map(|r| Ok((r.try_get("api_key_key_id")?, r.try_get("api_key_sealed")?)))
        .transpose()
}

/// A validated change; `None` leaves a field as it is.
#[derive(Default)]
pub struct Change {
    /// New price.
    pub price_cents: Option<i64>,
    /// New description.
    pub description: Option<String>,
    /// New unit description.
    pub unit_description: Option<String>,
    /// New units.
    pub available_units: Option<i64>,
    /// New stored status.
    pub status: Option<crate::vocab::ListingStatus>,
    /// New sealed key and hint.
    pub key: Option<(Sealed, String)>,
    /// New gateway settings as a whole (gateway listings), and whether
    /// `requests_per_unit` is among the changes (grants sold so far then keep the
    /// old value).
    pub gateway: Option<(super::delivery::GatewaySettings, bool)>,
}

/// The gateway columns the [`Listing`] row does not carry: the per-key rate limit
/// and the route costs (raw JSON).
#[derive(Clone, Debug, Default, sqlx::FromRow)]
pub struct GatewayExtras {
    /// Requests per minute per buyer key.
    pub rate_limit_per_minute: Option<i64>,
    /// `listings.route_costs`.
    pub route_costs: Option<String>,
}

/// The gateway columns of a listing beyond [`Listing`]'s (default when none).
pub async fn gateway_extras(db: &Db, id: &str) -> Result<GatewayExtras, sqlx::Error> {
    Ok(sqlx::query_as::<_, GatewayExtras>(
        "SELECT rate_limit_per_minute, route_costs FROM listings WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(db.pool())
    .await?
    .unwrap_or_default())
}

/// Applies a change to a listing that is not archived. Fields left `None` are not
/// written, so a concurrent purchase's decrement of the units is never overwritten
/// unless the seller sets the units.
pub async fn update(db: &Db, id: &str, change: Change) -> Result<bool, sqlx::Error> {
    let (blob, key_id, hint) = match change.key {
        Some((sealed, hint)) => (Some(sealed.blob), Some(sealed.key_id), Some(hint)),
        None => (None, None, None),
    };
    let mut tx = db.begin_write().await?;
    if let Some((settings, requests_per_unit_changed)) = &change.gateway {
        // The listing's row first: it is what purchases lock, so no grant can be
        // written for it between the two statements below.
        let gateway = sqlx::query(
            "UPDATE listings SET upstream_base_url = $2, inject_header = $3, \
             inject_template = $4, inject_query = $5, meter = $6, \
             rate_limit_per_minute = $7, route_costs = $8 WHERE id = $1 AND status <> $9",
        )
        .bind(id)
        .bind(&settings.upstream_base_url)
        .bind(&settings.inject_header)
        .bind(&settings.inject_template)
        .bind(&settings.inject_query)
        .bind(settings.meter)
        .bind(settings.rate_limit_per_minute)
        .bind(crate::gateway::costs::to_column(&settings.route_costs))
        .bind(ListingStatus::Archived)
        .execute(&mut *tx)
        .await?;
        if gateway.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        if *requests_per_unit_changed {
            // Grants sold so far keep the requests they were bought with.
            sqlx::query(
                "UPDATE grants SET requests_per_unit = \
                   (SELECT l.requests_per_unit FROM listings l WHERE l.id = $1) \
                 WHERE listing_id = $1 AND requests_per_unit IS NULL",
            )
            .bind(id)
            .execute(&mut *tx)
            .await?;
            sqlx::query("UPDATE listings SET requests_per_unit = $2 WHERE id = $1")
                .bind(id)
                .bind(settings.requests_per_unit)
                .execute(&mut *tx)
                .await?;
        }
    }
    let done = sqlx::query(
        "UPDATE listings SET \
         price_cents = COALESCE($2, price_cents), \
         description = COALESCE($3, description), \
         unit_description = COALESCE($4, unit_description), \
         available_units = COALESCE($5, available_units), \
         status = COALESCE($6, status), \
         api_key_sealed = COALESCE($7, api_key_sealed), \
         api_key_key_id = COALESCE($8, api_key_key_id), \
         api_key_hint = COALESCE($9, api_key_hint), \
         updated_at = CASE WHEN updated_at >= $10 THEN updated_at + 1 ELSE $10 END \
         WHERE id = $1 AND status <> $11",
    )
    .bind(id)
    .bind(change.price_cents)
    .bind(change.description)
    .bind(change.unit_description)
    .bind(change.available_units)
    .bind(change.status)
    .bind(blob)
    .bind(key_id)
    .bind(hint)
    .bind(now_ms())
    .bind(ListingStatus::Archived)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        tx.rollback().await?;
        return Ok(false);
    }
    tx.commit().await?;
    Ok(true)
}

/// Archives a listing; true when it was not archived before.
pub async fn archive(db: &Db, id: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE listings SET status = $3, \
         updated_at = CASE WHEN updated_at >= $2 THEN updated_at + 1 ELSE $2 END \
         WHERE id = $1 AND status <> $3",
    )
    .bind(id)
    .bind(now_ms())
    .bind(ListingStatus::Archived)
    .execute(db.writes())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The first id of each sitemap file after the first: every `per_file`-th active
/// listing by id (none when they all fit in one file). One pass over the ids.
pub async fn sitemap_boundaries(db: &Db, per_file: i64) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT id FROM (SELECT id, ROW_NUMBER() OVER (ORDER BY id) AS n FROM listings \
                         WHERE status = $1) AS numbered \
         WHERE n > 1 AND (n - 1) % $2 = 0 ORDER BY id",
    )
    .bind(ListingStatus::Active)
    .bind(per_file)
    .fetch_all(db.pool())
    .await
}

/// Ids and write times of `limit` active listings by id, from id `from` on (`""`:
/// from the first): one sitemap file, read from where it starts rather than by
/// skipping the files before it.
pub async fn active_ids_from(
    db: &Db,
    from: &str,
    limit: i64,
) -> Result<Vec<(String, i64)>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, updated_at FROM listings WHERE status = $3 AND id >= $2 \
         ORDER BY id LIMIT $1",
    )
    .bind(limit)
    .bind(from)
    .bind(ListingStatus::Active)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("id")?, r.try_get("updated_at")?)))
        .collect()
}

/// What was written to listings at or after some moment (see [`changed_since`]).
#[derive(Debug)]
pub struct Changed {
    /// Listings edited (or given units back): id and `updated_at`, which every
    /// such write moves, so a pair seen before is the same write.
    pub edited: Vec<(String, i64)>,
    /// Listings that placed orders (sales and reservations take units): id and its
    /// newest order's `created_at`. Two orders may share a millisecond, so a pair
    /// seen before may hide a later sale: these are never taken as already seen.
    pub sold: Vec<(String, i64)>,
}

/// Listings written at or after `since_ms`: edits by `updated_at`, sales by the
/// `created_at` of the orders they placed (both indexed).
pub async fn changed_since(db: &Db, since_ms: i64) -> Result<Changed, sqlx::Error> {
    let pairs = |rows: Vec<sqlx::any::AnyRow>| -> Result<Vec<(String, i64)>, sqlx::Error> {
        rows.iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("at")?)))
            .collect()
    };
    let edited = sqlx::query("SELECT id, updated_at AS at FROM listings WHERE updated_at >= $1")
        .bind(since_ms)
        .fetch_all(db.pool())
        .await?;
    let sold = sqlx::query(
        "SELECT listing_id AS id, CAST(MAX(created_at) AS BIGINT) AS at FROM orders \
         WHERE created_at >= $1 GROUP BY listing_id",
    )
    .bind(since_ms)
    .fetch_all(db.pool())
    .await?;
    Ok(Changed {
        edited: pairs(edited)?,
        sold: pairs(sold)?,
    })
}
