//! How long the oldest work of the delivery worker has waited: what a worker holding
//! its passes back for busy requests reads to know when it must go anyway
//! (docs/WEBHOOKS.md, "The worker steps aside for requests").

use std::sync::LazyLock;

use crate::db::Db;

/// The earliest due delivery that no live claim holds, by the due index: the first
/// a claim would take.
static OLDEST_DUE: LazyLock<String> = LazyLock::new(|| {
    let due = super::delivery::DUE.as_str();
    format!(
        "SELECT next_attempt_at FROM webhook_deliveries WHERE {due} \
         ORDER BY next_attempt_at LIMIT 1"
    )
});

/// Since when (Unix ms) the oldest waiting work has waited: the oldest outbox event
/// not yet fanned out, or the earliest due delivery no live claim holds, as of `now`;
/// `None` when nothing waits. Two index probes, read outside any transaction (on
/// SQLite through the read pool, so they never queue behind the writer).
pub async fn oldest_waiting(db: &Db, now: i64) -> Result<Option<i64>, sqlx::Error> {
    let event: Option<i64> = sqlx::query_scalar(
        "SELECT created_at FROM webhook_outbox WHERE fanned_out = 0 ORDER BY seq LIMIT 1",
    )
    .fetch_optional(db.pool())
    .await?;
    let delivery: Option<i64> = sqlx::query_scalar(OLDEST_DUE.as_str())
        .bind(now)
        .fetch_optional(db.pool())
        .await?;
    Ok(event.into_iter().chain(delivery).min())
}
