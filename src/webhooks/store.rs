//! Every statement on the webhook tables: endpoints and their subscriptions, the
//! outbox the triggers fill, deliveries and their attempts.

use sqlx::Row;
use sqlx::any::AnyRow;

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

fn endpoint_from_row(row: &AnyRow) -> Result<EndpointRow, sqlx::Error> {
    let previous = match (
        row.try_get::<Option<Vec<u8>>, _>(9)?,
        row.try_get::<Option<String>, _>(10)?,
        row.try_get::<Option<i64>, _>(11)?,
    ) {
        (Some(blob), Some(key_id), Some(until)) => Some((Sealed { key_id, blob }, until)),
        _ => None,
    };
    Ok(EndpointRow {
        id: row.try_get(0)?,
        user_id: row.try_get(1)?,
        url: row.try_get(2)?,
        description: row.try_get(3)?,
        enabled: row.try_get::<i64, _>(4)? != 0,
        disabled_reason: row.try_get(5)?,
        failing_since: row.try_get(6)?,
        events: Vec::new(),
        secret: Sealed {
            blob: row.try_get(7)?,
            key_id: row.try_get(8)?,
        },
        previous,
        created_at: row.try_get(12)?,
        updated_at: row.try_get(13)?,
    })
}

async fn load_events(db: &Db, endpoint: &mut EndpointRow) -> Result<(), sqlx::Error> {
    let rows = sqlx::query(
        "SELECT event_type FROM webhook_subscriptions WHERE endpoint_id = $1 ORDER BY event_type",
    )
    .bind(&endpoint.id)
    .fetch_all(db.pool())
    .await?;
    endpoint.events = rows
        .iter()
        .map(|r| r.try_get::<EventType, _>(0))
        .collect::<Result<_, _>>()?;
    Ok(())
}

/// Stores a new endpoint and its subscriptions.
pub async fn insert_endpoint(db: &Db, endpoint: &EndpointRow) -> Result<(), sqlx::Error> {
    let mut tx = db.begin_write().await?;
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
    tx.commit().await
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
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
    let Some(row) = row else { return Ok(None) };
    let mut endpoint = endpoint_from_row(&row)?;
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
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(user_id)
        .bind(page.before.0)
        .bind(&page.before.1)
        .bind(page.limit + 1)
        .fetch_all(db.pool())
        .await?;
    let mut endpoints = Vec::with_capacity(rows.len());
    for row in &rows {
        let mut endpoint = endpoint_from_row(row)?;
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
    .execute(db.pool())
    .await?;
    Ok(())
}

/// A delivery with its event and latest attempt, as its owner sees it.
#[derive(Clone, Debug)]
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
    let rows = sqlx::query(
        "SELECT d.id, d.event_id, o.event_type, d.status, d.attempts, d.next_attempt_at, \
         d.created_at, a.status_code, a.latency_ms, a.response_excerpt, a.error \
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
    .await?;
    rows.iter()
        .map(|row| {
            Ok(DeliveryRow {
                id: row.try_get(0)?,
                event_id: row.try_get(1)?,
                event_type: row.try_get(2)?,
                status: row.try_get(3)?,
                attempts: row.try_get(4)?,
                next_attempt_at: row.try_get(5)?,
                created_at: row.try_get(6)?,
                last_status_code: row.try_get(7)?,
                last_latency_ms: row.try_get(8)?,
                last_response_excerpt: row.try_get(9)?,
                last_error: row.try_get(10)?,
            })
        })
        .collect()
}

/// The endpoint a delivery belongs to, if the delivery exists.
pub async fn delivery_endpoint(db: &Db, delivery_id: &str) -> Result<Option<String>, sqlx::Error> {
    let row = sqlx::query("SELECT endpoint_id FROM webhook_deliveries WHERE id = $1")
        .bind(delivery_id)
        .fetch_optional(db.pool())
        .await?;
    row.map(|r| r.try_get(0)).transpose()
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
    .execute(db.pool())
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
    insert_delivery(&mut tx, &delivery_id, &event_id, &endpoint.id, now).await?;
    tx.commit().await?;
    Ok(Some(delivery_id))
}

async fn insert_delivery(
    tx: &mut crate::db::Tx,
    delivery_id: &str,
    event_id: &str,
    endpoint_id: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    // The unique (event, endpoint) pair makes a second fan-out of the same event, by
    // this process or another, write nothing.
    sqlx::query(
        "INSERT INTO webhook_deliveries (id, event_id, endpoint_id, status, attempts, \
         next_attempt_at, created_at, updated_at) VALUES ($1, $2, $3, $4, 0, $5, $5, $5) \
         ON CONFLICT (event_id, endpoint_id) DO NOTHING",
    )
    .bind(delivery_id)
    .bind(event_id)
    .bind(endpoint_id)
    .bind(DeliveryStatus::Pending)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// An outbox row not yet fanned out.
#[derive(Clone, Debug)]
pub struct PendingEvent {
    /// `evt_…`
    pub id: String,
    /// The recipient.
    pub user_id: String,
    /// Its type, as stored.
    pub event_type: String,
}

/// The oldest outbox rows not yet fanned out.
pub async fn pending_events(db: &Db, limit: i64) -> Result<Vec<PendingEvent>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, user_id, event_type FROM webhook_outbox WHERE fanned_out = 0 \
         ORDER BY seq LIMIT $1",
    )
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(PendingEvent {
                id: r.try_get(0)?,
                user_id: r.try_get(1)?,
                event_type: r.try_get(2)?,
            })
        })
        .collect()
}

/// Creates one delivery per enabled endpoint of the recipient subscribed to the
/// event's type, and marks the event fanned out, in one transaction.
pub async fn fan_out(db: &Db, event: &PendingEvent, now: i64) -> Result<usize, sqlx::Error> {
    let mut tx = db.begin_write().await?;
    let endpoints = sqlx::query(
        "SELECT e.id FROM webhook_endpoints e JOIN webhook_subscriptions s \
         ON s.endpoint_id = e.id WHERE e.user_id = $1 AND e.enabled = 1 AND s.event_type = $2",
    )
    .bind(&event.user_id)
    .bind(&event.event_type)
    .fetch_all(&mut *tx)
    .await?;
    for row in &endpoints {
        let endpoint_id: String = row.try_get(0)?;
        let delivery_id = crate::ids::new_id("whd");
        insert_delivery(&mut tx, &delivery_id, &event.id, &endpoint_id, now).await?;
    }
    sqlx::query("UPDATE webhook_outbox SET fanned_out = 1 WHERE id = $1")
        .bind(&event.id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(endpoints.len())
}

/// A delivery claimed for one attempt.
#[derive(Clone, Debug)]
pub struct Claimed {
    /// `whd_…`
    pub id: String,
    /// The event.
    pub event_id: String,
    /// The endpoint.
    pub endpoint_id: String,
    /// This attempt's number (1 for the first).
    pub attempt: i64,
}

/// Claims up to `limit` due deliveries for one attempt each, leased until
/// `lease_until`. The conditions are repeated on the updated row, so when two
/// processes race for a row (PostgreSQL re-checks them after the row lock; SQLite
/// has one writer), only one of them gets it. The status is a literal so that
/// PostgreSQL can use the partial index `webhook_deliveries_due`.
pub async fn claim(
    db: &Db,
    now: i64,
    lease_until: i64,
    limit: i64,
) -> Result<Vec<Claimed>, sqlx::Error> {
    let rows = sqlx::query(
        "UPDATE webhook_deliveries SET lease_until = $2, attempts = attempts + 1, updated_at = $1 \
         WHERE id IN (SELECT id FROM webhook_deliveries WHERE status = 'pending' \
           AND next_attempt_at <= $1 AND (lease_until IS NULL OR lease_until < $1) \
           ORDER BY next_attempt_at LIMIT $3) \
         AND status = 'pending' AND next_attempt_at <= $1 \
         AND (lease_until IS NULL OR lease_until < $1) \
         RETURNING id, event_id, endpoint_id, attempts",
    )
    .bind(now)
    .bind(lease_until)
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Claimed {
                id: r.try_get(0)?,
                event_id: r.try_get(1)?,
                endpoint_id: r.try_get(2)?,
                attempt: r.try_get(3)?,
            })
        })
        .collect()
}

/// An outbox event as the worker renders it.
#[derive(Clone, Debug)]
pub struct StoredEvent {
    /// `evt_…`, sent as `webhook-id`.
    pub id: String,
    /// Its type, as stored.
    pub event_type: String,
    /// The changed row at event time, as JSON text.
    pub object: String,
    /// Unix ms.
    pub created_at: i64,
}

/// One outbox event.
pub async fn get_event(db: &Db, id: &str) -> Result<Option<StoredEvent>, sqlx::Error> {
    let row =
        sqlx::query("SELECT id, event_type, object, created_at FROM webhook_outbox WHERE id = $1")
            .bind(id)
            .fetch_optional(db.pool())
            .await?;
    row.map(|r| {
        Ok(StoredEvent {
            id: r.try_get(0)?,
            event_type: r.try_get(1)?,
            object: r.try_get(2)?,
            created_at: r.try_get(3)?,
        })
    })
    .transpose()
}

/// What one attempt got.
#[derive(Clone, Debug)]
pub struct AttemptOutcome {
    /// The HTTP status, if an answer came.
    pub status_code: Option<i64>,
    /// Time from sending to the answer (or the failure).
    pub latency_ms: i64,
    /// The start of the answer's body.
    pub response_excerpt: Option<String>,
    /// Why no answer came, or why the URL was refused.
    pub error: Option<String>,
    /// When it started (unix ms).
    pub started_at: i64,
    /// True for a 2xx answer.
    pub succeeded: bool,
}

/// Records an attempt and moves the delivery on: succeeded, due again at `retry_at`,
/// or failed when the schedule is spent (`retry_at` is `None`). Only the process
/// holding this attempt's claim writes (the attempt number must still match).
/// Returns false when the claim was lost (the lease lapsed and another process took
/// the delivery over).
pub async fn record_attempt(
    db: &Db,
    claimed: &Claimed,
    outcome: &AttemptOutcome,
    retry_at: Option<i64>,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let mut tx = db.begin_write().await?;
    let status = match (outcome.succeeded, retry_at) {
        (true, _) => DeliveryStatus::Succeeded,
        (false, Some(_)) => DeliveryStatus::Pending,
        (false, None) => DeliveryStatus::Failed,
    };
    let moved = sqlx::query(
        "UPDATE webhook_deliveries SET status = $3, next_attempt_at = $4, lease_until = NULL, \
         updated_at = $5 WHERE id = $1 AND attempts = $2",
    )
    .bind(&claimed.id)
    .bind(claimed.attempt)
    .bind(status)
    .bind(retry_at.unwrap_or(now))
    .bind(now)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if moved == 0 {
        return Ok(false);
    }
    sqlx::query(
        "INSERT INTO webhook_attempts (delivery_id, attempt, status_code, latency_ms, \
         response_excerpt, error, started_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT DO NOTHING",
    )
    .bind(&claimed.id)
    .bind(claimed.attempt)
    .bind(outcome.status_code)
    .bind(outcome.latency_ms)
    .bind(&outcome.response_excerpt)
    .bind(&outcome.error)
    .bind(outcome.started_at)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// Updates an endpoint's health after an attempt: a success clears the failure
/// clock; a failure starts it, and disables the endpoint once it has run for
/// `disable_after_ms`.
pub async fn record_health(
    db: &Db,
    endpoint_id: &str,
    succeeded: bool,
    now: i64,
    disable_after_ms: i64,
) -> Result<(), sqlx::Error> {
    if succeeded {
        sqlx::query(
            "UPDATE webhook_endpoints SET failing_since = NULL \
             WHERE id = $1 AND failing_since IS NOT NULL",
        )
        .bind(endpoint_id)
        .execute(db.pool())
        .await?;
        return Ok(());
    }
    sqlx::query(
        "UPDATE webhook_endpoints SET failing_since = COALESCE(failing_since, $2) WHERE id = $1",
    )
    .bind(endpoint_id)
    .bind(now)
    .execute(db.pool())
    .await?;
    sqlx::query(
        "UPDATE webhook_endpoints SET enabled = 0, disabled_reason = $3, updated_at = $2 \
         WHERE id = $1 AND enabled = 1 AND failing_since <= $4",
    )
    .bind(endpoint_id)
    .bind(now)
    .bind(DisabledReason::Failing)
    .bind(now - disable_after_ms)
    .execute(db.pool())
    .await?;
    Ok(())
}
