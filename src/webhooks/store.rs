//! Every statement on the webhook tables: endpoints and their subscriptions, the
//! outbox the triggers fill, deliveries and their attempts. Rows are decoded by
//! column name; the delivery worker's batch statements are in [`delivery`].

pub mod delivery;
mod placed;
pub mod purge;
pub mod waiting;

pub use delivery::{AttemptOutcome, Claimed, StoredEvent};

use super::{DeliveryStatus, DisabledReason, EventType};
use crate::crypto::Sealed;
use crate::db::Db;
use crate::pagination::Page;

/// An endpoint row with its subscriptions.
#[derive(Clone, Debug)]
pub struct EndpointRow {
    /// `whe_…`
    pub id: String,
    /// The owner.
    pub user_id: String,
    /// Where events are posted.
    pub url: String,
    /// The owner's note.
    pub description: String,
    /// Whether events are delivered.
    pub enabled: bool,
    /// Why the server disabled it, if it did.
    pub disabled_reason: Option<DisabledReason>,
    /// Failing without a success since (unix ms).
    pub failing_since: Option<i64>,
    /// The event types it receives.
    pub events: Vec<EventType>,
    /// The current signing secret, sealed.
    pub secret: Sealed,
    /// The previous secret and when it stops being sent, during a rotation.
    pub previous: Option<(Sealed, i64)>,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub updated_at: i64,
}

const ENDPOINT_COLUMNS: &str = "id, user_id, url, description, enabled, disabled_reason, \
    failing_since, secret_sealed, secret_key_id, previous_secret_sealed, \
    previous_secret_key_id, previous_expires_at, created_at, updated_at";

/// An endpoint row as stored, decoded by column name; `enabled` is the 0/1 integer
/// both backends store (the `Any` driver has no boolean that reads both).
#[derive(sqlx::FromRow)]
struct EndpointRecord {
    id: String,
    user_id: String,
    url: String,
    description: String,
    enabled: i64,
    disabled_reason: Option<DisabledReason>,
    failing_since: Option<i64>,
    secret_sealed: Vec<u8>,
    secret_key_id: String,
    previous_secret_sealed: Option<Vec<u8>>,
    previous_secret_key_id: Option<String>,
    previous_expires_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

impl From<EndpointRecord> for EndpointRow {
    fn from(record: EndpointRecord) -> Self {
        let previous = match (
            record.previous_secret_sealed,
            record.previous_secret_key_id,
            record.previous_expires_at,
        ) {
            (Some(blob), Some(key_id), Some(until)) => Some((Sealed { key_id, blob }, until)),
            _ => None,
        };
        EndpointRow {
            id: record.id,
            user_id: record.user_id,
            url: record.url,
            description: record.description,
            enabled: record.enabled != 0,
            disabled_reason: record.disabled_reason,
            failing_since: record.failing_since,
            events: Vec::new(),
            secret: Sealed {
                blob: record.secret_sealed,
                key_id: record.secret_key_id,
            },
            previous,
            created_at: record.created_at,
            updated_at: record.updated_at,
        }
    }
}

async fn load_events(db: &Db, endpoint: &mut EndpointRow) -> Result<(), sqlx::Error> {
    endpoint.events = sqlx::query_scalar(
        "SELECT event_type FROM webhook_subscriptions WHERE endpoint_id = $1 ORDER BY event_type",
    )
    .bind(&endpoint.id)
    .fetch_all(db.pool())
    .await?;
    Ok(())
}

/// Stores a new endpoint and its subscriptions.
pub async fn insert_endpoint(
    db: &Db,
    endpoint: &EndpointRow,
    max_per_owner: usize,
) -> Result<bool, sqlx::Error> {
    let mut tx = db.begin_write().await?;
    // One owner's creations one at a time (a no-op update holds the owner's row
    // lock on PostgreSQL; SQLite's writer lock already does), so requests sent at
    // once cannot all pass the count.
    sqlx::query("UPDATE users SET created_at = created_at WHERE id = $1")
        .bind(&endpoint.user_id)
        .execute(&mut *tx)
        .await?;
    let held: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM webhook_endpoints WHERE user_id = $1")
        .bind(&endpoint.user_id)
        .fetch_one(&mut *tx)
        .await?;
    if usize::try_from(held).unwrap_or(usize::MAX) >= max_per_owner {
        tx.rollback().await?;
        return Ok(false);
    }
    sqlx::query(
        "INSERT INTO webhook_endpoints (id, user_id, url, description, enabled, \
         secret_sealed, secret_key_id, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
    )
    .bind(&endpoint.id)
    .bind(&endpoint.user_id)
    .bind(&endpoint.url)
    .bind(&endpoint.description)
    .bind(i64::from(endpoint.enabled))
    .bind(&endpoint.secret.blob)
    .bind(&endpoint.secret.key_id)
    .bind(endpoint.created_at)
    .execute(&mut *tx)
    .await?;
    write_subscriptions(&mut tx, &endpoint.id, &endpoint.events).await?;
    tx.commit().await?;
    Ok(true)
}

async fn write_subscriptions(
    tx: &mut crate::db::Tx,
    endpoint_id: &str,
    events: &[EventType],
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM webhook_subscriptions WHERE endpoint_id = $1")
        .bind(endpoint_id)
        .execute(&mut **tx)
        .await?;
    for event in events {
        sqlx::query(
            "INSERT INTO webhook_subscriptions (endpoint_id, event_type) VALUES ($1, $2) \
             ON CONFLICT DO NOTHING",
        )
        .bind(endpoint_id)
        .bind(*event)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// One endpoint by id, whoever owns it (callers check the owner).
pub async fn get_endpoint(db: &Db, id: &str) -> Result<Option<EndpointRow>, sqlx::Error> {
    let sql = format!("SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = $1");
    let record: Option<EndpointRecord> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
    let Some(record) = record else {
        return Ok(None);
    };
    let mut endpoint = EndpointRow::from(record);
    load_events(db, &mut endpoint).await?;
    Ok(Some(endpoint))
}

/// A page of a user's endpoints, newest first (`limit + 1` rows).
pub async fn list_endpoints(
    db: &Db,
    user_id: &str,
    page: &Page,
) -> Result<Vec<EndpointRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE user_id = $1 \
         AND (created_at < $2 OR (created_at = $2 AND id < $3)) \
         ORDER BY created_at DESC, id DESC LIMIT $4"
    );
    let records: Vec<EndpointRecord> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(user_id)
        .bind(page.before.0)
        .bind(&page.before.1)
        .bind(page.limit + 1)
        .fetch_all(db.pool())
        .await?;
    let mut endpoints = Vec::with_capacity(records.len());
    for record in records {
        let mut endpoint = EndpointRow::from(record);
        load_events(db, &mut endpoint).await?;
        endpoints.push(endpoint);
    }
    Ok(endpoints)
}

/// Saves an endpoint's editable fields. Enabling clears the server's disable flag
/// and the failure clock.
/// False when the endpoint is gone (deleted meanwhile): nothing is written.
pub async fn update_endpoint(
    db: &Db,
    endpoint: &EndpointRow,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let mut tx = db.begin_write().await?;
    let updated = sqlx::query(
        "UPDATE webhook_endpoints SET url = $2, description = $3, enabled = $4, \
         disabled_reason = CASE WHEN $4 = 1 THEN NULL ELSE disabled_reason END, \
         failing_since = CASE WHEN $4 = 1 THEN NULL ELSE failing_since END, \
         updated_at = $5 WHERE id = $1",
    )
    .bind(&endpoint.id)
    .bind(&endpoint.url)
    .bind(&endpoint.description)
    .bind(i64::from(endpoint.enabled))
    .bind(now)
    .execute(&mut *tx)
    .await?;
    // A DELETE that committed between the caller's read and this write leaves no row:
    // its subscriptions must not be written back (they would refer to nothing).
    if updated.rows_affected() == 0 {
        return Ok(false);
    }
    write_subscriptions(&mut tx, &endpoint.id, &endpoint.events).await?;
    tx.commit().await?;
    Ok(true)
}

/// Deletes an endpoint with its subscriptions, deliveries and attempts.
pub async fn delete_endpoint(db: &Db, id: &str) -> Result<(), sqlx::Error> {
    let mut tx = db.begin_write().await?;
    for sql in [
        "DELETE FROM webhook_attempts WHERE delivery_id IN \
         (SELECT id FROM webhook_deliveries WHERE endpoint_id = $1)",
        "DELETE FROM webhook_deliveries WHERE endpoint_id = $1",
        "DELETE FROM webhook_subscriptions WHERE endpoint_id = $1",
        "DELETE FROM webhook_endpoints WHERE id = $1",
    ] {
        sqlx::query(sql).bind(id).execute(&mut *tx).await?;
    }
    tx.commit().await
}

/// Replaces the secret, keeping the old one (re-sealed as previous) until `until`.
pub async fn rotate_secret(
    db: &Db,
    id: &str,
    secret: &Sealed,
    previous: &Sealed,
    until: i64,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE webhook_endpoints SET secret_sealed = $2, secret_key_id = $3, \
         previous_secret_sealed = $4, previous_secret_key_id = $5, previous_expires_at = $6, \
         updated_at = $7 WHERE id = $1",
    )
    .bind(id)
    .bind(&secret.blob)
    .bind(&secret.key_id)
    .bind(&previous.blob)
    .bind(&previous.key_id)
    .bind(until)
    .bind(now)
    .execute(db.writes())
    .await?;
    Ok(())
}

/// A delivery with its event and latest attempt, as its owner sees it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct DeliveryRow {
    /// `whd_…`
    pub id: String,
    /// The event (`webhook-id`).
    pub event_id: String,
    /// The event's type.
    pub event_type: EventType,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Attempts made.
    pub attempts: i64,
    /// When the next attempt is due (pending only).
    pub next_attempt_at: i64,
    /// Unix ms.
    pub created_at: i64,
    /// The latest attempt's HTTP status, if it got an answer.
    pub last_status_code: Option<i64>,
    /// The latest attempt's latency.
    pub last_latency_ms: Option<i64>,
    /// The start of the latest answer's body.
    pub last_response_excerpt: Option<String>,
    /// Why the latest attempt got no answer.
    pub last_error: Option<String>,
}

/// A page of an endpoint's deliveries, newest first (`limit + 1` rows).
pub async fn list_deliveries(
    db: &Db,
    endpoint_id: &str,
    page: &Page,
) -> Result<Vec<DeliveryRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT d.id, d.event_id, o.event_type, d.status, d.attempts, d.next_attempt_at, \
         d.created_at, a.status_code AS last_status_code, a.latency_ms AS last_latency_ms, \
         a.response_excerpt AS last_response_excerpt, a.error AS last_error \
         FROM webhook_deliveries d JOIN webhook_outbox o ON o.id = d.event_id \
         LEFT JOIN webhook_attempts a ON a.delivery_id = d.id AND a.attempt = \
           (SELECT MAX(attempt) FROM webhook_attempts m WHERE m.delivery_id = d.id) \
         WHERE d.endpoint_id = $1 \
         AND (d.created_at < $2 OR (d.created_at = $2 AND d.id < $3)) \
         ORDER BY d.created_at DESC, d.id DESC LIMIT $4",
    )
    .bind(endpoint_id)
    .bind(page.before.0)
    .bind(&page.before.1)
    .bind(page.limit + 1)
    .fetch_all(db.pool())
    .await
}

/// The endpoint a delivery belongs to, if the delivery exists.
pub async fn delivery_endpoint(db: &Db, delivery_id: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT endpoint_id FROM webhook_deliveries WHERE id = $1")
        .bind(delivery_id)
        .fetch_optional(db.pool())
        .await
}

/// Makes a delivery due now (again), whatever it stood at; a running attempt's lease
/// is respected, so it is never sent twice at once.
pub async fn retry_delivery(db: &Db, delivery_id: &str, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE webhook_deliveries SET status = $2, next_attempt_at = $3, updated_at = $3 \
         WHERE id = $1",
    )
    .bind(delivery_id)
    .bind(DeliveryStatus::Pending)
    .bind(now)
    .execute(db.writes())
    .await?;
    Ok(())
}

/// Writes a test event for one endpoint and its delivery, due now; returns the
/// delivery id, or `None` when the endpoint is gone (deleted meanwhile).
pub async fn insert_test_event(
    db: &Db,
    endpoint: &EndpointRow,
    object: &str,
    now: i64,
) -> Result<Option<String>, sqlx::Error> {
    let event_id = crate::ids::new_id("evt");
    let delivery_id = crate::ids::new_id("whd");
    let mut tx = db.begin_write().await?;
    // Locks the endpoint's row, so a DELETE cannot commit between this check and the
    // delivery that refers to it.
    let present = sqlx::query("UPDATE webhook_endpoints SET updated_at = updated_at WHERE id = $1")
        .bind(&endpoint.id)
        .execute(&mut *tx)
        .await?;
    if present.rows_affected() == 0 {
        return Ok(None);
    }
    sqlx::query(
        "INSERT INTO webhook_outbox (id, user_id, event_type, object, created_at, fanned_out) \
         VALUES ($1, $2, $3, $4, $5, 1)",
    )
    .bind(&event_id)
    .bind(&endpoint.user_id)
    .bind(EventType::WebhookTest)
    .bind(object)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    delivery::insert_delivery(&mut tx, &delivery_id, &event_id, &endpoint.id, now).await?;
    tx.commit().await?;
    Ok(Some(delivery_id))
}
