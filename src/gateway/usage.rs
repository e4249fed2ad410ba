//! Per-minute usage, counted in memory and written in batches.
//!
//! The allowance itself is exact in the database on every request; these counts are
//! the history shown to buyers and sellers, so they are gathered per (key, minute)
//! and flushed every `--gateway-usage-flush` (and once more at shutdown). A process
//! killed between flushes loses at most that interval of history, never a request of
//! the allowance.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::watch;

use crate::clock::now_ms;
use crate::db::Db;

const MINUTE_MS: i64 = 60_000;

/// Counts waiting to be written.
#[derive(Debug, Default)]
pub struct UsageRecorder {
    pending: Mutex<HashMap<(String, i64), i64>>,
}

impl UsageRecorder {
    /// Counts `requests` for `key_id` in the current minute.
    pub fn record(&self, key_id: &str, requests: i64) {
        let minute = now_ms() / MINUTE_MS * MINUTE_MS;
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        *pending.entry((key_id.to_owned(), minute)).or_default() += requests;
    }

    /// Writes the pending counts; on failure they are kept for the next flush.
    pub async fn flush(&self, db: &Db) {
        let batch: Vec<(String, i64, i64)> = {
            let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            pending.drain().map(|((k, m), n)| (k, m, n)).collect()
        };
        if batch.is_empty() {
            return;
        }
        if let Err(err) = super::store::add_usage(db, &batch).await {
            tracing::warn!(error = %err, rows = batch.len(), "gateway usage not written; retrying at the next flush");
            let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            for (k, m, n) in batch {
                *pending.entry((k, m)).or_default() += n;
            }
        }
    }
}

/// Flushes every `interval` until `stop`, then once more.
pub async fn run_flusher(
    recorder: std::sync::Arc<UsageRecorder>,
    db: Db,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(interval.max(Duration::from_millis(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let stopped = tokio::select! {
            _ = tick.tick() => false,
            _ = stop.wait_for(|s| *s) => true,
        };
        if stopped {
            break;
        }
        recorder.flush(&db).await;
    }
    recorder.flush(&db).await;
}
