//! `udam rotate-keys`: re-seal every stored secret under the ring's current key.
//!
//! Each row is re-sealed by a conditional update that only applies if the row still
//! holds the ciphertext that was read, so a seller rotating their key at the same
//! moment wins and nothing is lost. Rows are committed one by one: the command can
//! be interrupted and run again, and it is safe while servers are running (they can
//! open both old and new ciphertexts as long as both keys are in their ring).

use indicatif::{ProgressBar, ProgressStyle};
use sqlx::Row;

use crate::crypto::{KeyRing, Purpose};
use crate::db::Db;

/// What a rotation did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RotationReport {
    /// Rows re-sealed under the current key.
    pub resealed: u64,
    /// Rows changed by someone else meanwhile (already current, or retried next run).
    pub skipped: u64,
    /// Rows that could not be opened with this ring (logged, left as they were).
    pub failed: u64,
}

/// Re-seals every listing key not sealed by the current key.
pub async fn rotate_all(
    db: &Db,
    ring: &KeyRing,
    show_progress: bool,
) -> anyhow::Result<RotationReport> {
    let current = ring.current_key_id().to_owned();
    let total: i64 = sqlx::query("SELECT COUNT(*) AS n FROM listings WHERE api_key_key_id <> $1")
        .bind(&current)
        .fetch_one(db.pool())
        .await?
        .try_get("n")?;
    let bar = if show_progress {
        ProgressBar::new(total.max(0) as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} listing keys re-sealed ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut report = RotationReport::default();
    let mut after = String::new();
    loop {
        let rows = sqlx::query(
            "SELECT id, api_key_key_id, api_key_sealed FROM listings \
             WHERE api_key_key_id <> $1 AND id > $2 ORDER BY id LIMIT 200",
        )
        .bind(&current)
        .bind(&after)
        .fetch_all(db.pool())
        .await?;
        let Some(last) = rows.last() else { break };
        after = last.try_get("id")?;
        for row in &rows {
            let id: String = row.try_get("id")?;
            let key_id: String = row.try_get("api_key_key_id")?;
            let blob: Vec<u8> = row.try_get("api_key_sealed")?;
            let plain = match ring.open(Purpose::ListingApiKey, &id, &key_id, &blob) {
                Ok(plain) => plain,
                Err(err) => {
                    tracing::error!(listing = %id, key_id = %key_id, error = %err, "cannot open a listing key; left as it is");
                    report.failed += 1;
                    bar.inc(1);
                    continue;
                }
            };
            let sealed = ring.seal(Purpose::ListingApiKey, &id, plain.expose().as_bytes())?;
            let done = sqlx::query(
                "UPDATE listings SET api_key_sealed = $1, api_key_key_id = $2 \
                 WHERE id = $3 AND api_key_key_id = $4 AND api_key_sealed = $5",
            )
            .bind(sealed.blob)
            .bind(&sealed.key_id)
            .bind(&id)
            .bind(&key_id)
            .bind(blob)
            .execute(db.writes())
            .await?;
            if done.rows_affected() == 1 {
                report.resealed += 1;
            } else {
                report.skipped += 1;
            }
            bar.inc(1);
        }
    }
    bar.finish();
    Ok(report)
}
