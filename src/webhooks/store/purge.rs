//! How long delivered webhooks are kept: finished deliveries (succeeded, or failed
//! after their last attempt) with their attempts, and the events no delivery needs
//! any more, are deleted [`RETENTION_MS`] after they finished. Without it the outbox,
//! deliveries and attempts grew by a few rows per purchase for ever.
//!
//! Thirty days, as Stripe keeps its events: a delivery's page and `…/retry` reach
//! back that far. A pending delivery is never deleted, nor an event not yet fanned
//! out, nor one a delivery still names. Each statement deletes at most `CHUNK`
//! rows, so no pass holds its locks for long; a pass repeats until a chunk comes
//! back short.

use std::sync::LazyLock;

use crate::db::{AnyQuery, Db};
use crate::webhooks::DeliveryStatus;

/// Thirty days, in milliseconds.
pub const RETENTION_MS: i64 = 30 * 24 * 60 * 60 * 1000;

/// Rows deleted per statement.
const CHUNK: i64 = 5_000;

/// What one purge of the webhook tables deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PurgedWebhooks {
    /// Finished deliveries (their attempts went with them).
    pub deliveries: u64,
    /// Outbox events no delivery named.
    pub events: u64,
}

/// The conditions are repeated outside the subquery: PostgreSQL re-checks only
/// those on a row changed meanwhile (an owner's retry makes it pending again). The
/// status is written into the text rather than bound, so that the partial index
/// `webhook_deliveries_finished` (migration 0026) applies, as in `delivery::CLAIM`.
static DELETE_FINISHED_DELIVERIES: LazyLock<String> = LazyLock::new(|| {
    let pending = DeliveryStatus::Pending;
    format!(
        "DELETE FROM webhook_deliveries WHERE status <> '{pending}' AND updated_at < $1 \
           AND id IN (SELECT id FROM webhook_deliveries \
                      WHERE status <> '{pending}' AND updated_at < $1 LIMIT $2)"
    )
});

/// Deletes what finished more than [`RETENTION_MS`] before `now` (unix ms).
pub async fn purge_finished(db: &Db, now: i64) -> Result<PurgedWebhooks, sqlx::Error> {
    let cutoff = now - RETENTION_MS;
    // Finished deliveries last touched before the cutoff; attempts cascade.
    let deliveries = in_chunks(db, || {
        sqlx::query(DELETE_FINISHED_DELIVERIES.as_str())
            .bind(cutoff)
            .bind(CHUNK)
    })
    .await?;
    // Fanned-out events older than the cutoff that no delivery names: those of the
    // deliveries just deleted, `order.placed` rows, events nobody subscribed to.
    let events = in_chunks(db, || {
        sqlx::query(
            "DELETE FROM webhook_outbox WHERE seq IN (SELECT o.seq FROM webhook_outbox o \
             WHERE o.fanned_out <> 0 AND o.created_at < $1 \
               AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = o.id) \
             LIMIT $2)",
        )
        .bind(cutoff)
        .bind(CHUNK)
    })
    .await?;
    Ok(PurgedWebhooks { deliveries, events })
}

/// Runs `delete` (a statement deleting at most [`CHUNK`] rows) until it deletes
/// fewer; returns how many rows went in all.
async fn in_chunks(db: &Db, delete: impl Fn() -> AnyQuery<'static>) -> Result<u64, sqlx::Error> {
    let mut deleted = 0;
    loop {
        let done = delete().execute(db.writes()).await?.rows_affected();
        deleted += done;
        if done < CHUNK.unsigned_abs() {
            return Ok(deleted);
        }
    }
}
