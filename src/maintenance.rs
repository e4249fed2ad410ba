//! Background housekeeping: deleting expired sessions, old idempotency keys,
//! webhooks delivered long ago (`webhooks::store::purge`) and refund reports that
//! never met their payment (`payments::refunds`).
//!
//! Every server process runs the purge on its own timer. That is safe with any
//! number of replicas: each pass is a plain `DELETE ... WHERE <expired>`, so
//! two processes purging at once just find less to delete.

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use crate::accounts::sessions;
use crate::db::Db;
use crate::orders::idempotency;
use crate::payments::refunds;
use crate::telemetry::labels::PurgedTable;
use crate::webhooks::store::purge;

/// Counter of rows deleted by the purge, labelled `table`.
pub const PURGED_METRIC: &str = "udam_purged_rows_total";

/// What one purge pass deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Purged {
    /// Expired sessions.
    pub sessions: u64,
    /// Idempotency keys past their lifetime
    /// ([`KEY_LIFETIME_MS`](crate::orders::idempotency::KEY_LIFETIME_MS), 24 h).
    pub idempotency_keys: u64,
    /// Webhook deliveries finished more than 30 days ago, with their attempts.
    pub webhook_deliveries: u64,
    /// Webhook events no delivery needed any more, 30 days on.
    pub webhook_events: u64,
    /// Refund reports held 90 days without meeting their payment.
    pub refunds_held: u64,
}

/// Deletes what has expired, once.
pub async fn purge_once(db: &Db) -> Result<Purged, sqlx::Error> {
    let sessions = sessions::purge_expired(db).await?;
    let idempotency_keys = idempotency::purge_expired(db).await?;
    let now = crate::clock::now_ms();
    let webhooks = purge::purge_finished(db, now).await?;
    let refunds_held = refunds::purge_stale(db, now).await?;
    Ok(Purged {
        sessions,
        idempotency_keys,
        webhook_deliveries: webhooks.deliveries,
        webhook_events: webhooks.events,
        refunds_held,
    })
}

/// Starts the purge: a pass now, then one every `every`, until `stop` turns
/// true (or its sender is dropped). Returns `None`, starting nothing, when
/// `every` is zero (`--purge-interval 0`).
///
/// A pass in progress when `stop` arrives finishes first, so awaiting the
/// handle before closing the pool never cuts a statement short.
pub fn spawn_purge(
    db: Db,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) -> Option<JoinHandle<()>> {
    if every.is_zero() {
        return None;
    }
    Some(tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        // After a slow pass, wait a whole interval instead of catching up in a burst.
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                _ = stop.wait_for(|stopped| *stopped) => return,
            }
            match purge_once(&db).await {
                Ok(purged) => record(purged),
                // The next pass retries; a database hiccup is not worth more than a warning.
                Err(err) => tracing::warn!(error = %err, "purge of expired rows failed"),
            }
        }
    }))
}

fn record(purged: Purged) {
    metrics::counter!(PURGED_METRIC, "table" => PurgedTable::Sessions.as_str())
        .increment(purged.sessions);
    metrics::counter!(PURGED_METRIC, "table" => PurgedTable::IdempotencyKeys.as_str())
        .increment(purged.idempotency_keys);
    metrics::counter!(PURGED_METRIC, "table" => PurgedTable::WebhookDeliveries.as_str())
        .increment(purged.webhook_deliveries);
    metrics::counter!(PURGED_METRIC, "table" => PurgedTable::WebhookOutbox.as_str())
        .increment(purged.webhook_events);
    metrics::counter!(PURGED_METRIC, "table" => PurgedTable::RefundsHeld.as_str())
        .increment(purged.refunds_held);
    if purged != Purged::default() {
        tracing::info!(
            sessions = purged.sessions,
            idempotency_keys = purged.idempotency_keys,
            webhook_deliveries = purged.webhook_deliveries,
            webhook_events = purged.webhook_events,
            refunds_held = purged.refunds_held,
            "purged expired rows"
        );
    }
}
