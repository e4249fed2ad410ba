//! `udam rotate-keys`, webhook half: re-seal every endpoint's signing secret (and the
//! previous secret a rotation keeps for 24 h) under the ring's current master key, so
//! the old master key can leave the ring without breaking deliveries.
//!
//! The same rules as the listing keys' rotation (`src/listings/rotate.rs`): each
//! secret is re-sealed by a conditional update that applies only if the row still
//! holds the ciphertext that was read (an owner rotating the endpoint's secret at the
//! same moment wins), rows are committed one by one, and the command may be stopped
//! and run again, also while servers are running.

use sqlx::Row;

use super::endpoints::previous_aad;
use crate::crypto::{KeyRing, Purpose};
use crate::db::Db;
use crate::listings::rotate::RotationReport;

/// Which of an endpoint's two sealed secrets.
#[derive(Clone, Copy)]
enum Slot {
    Current,
    Previous,
}

impl Slot {
    /// The update re-sealing this slot, if it still holds what was read.
    fn update_sql(self) -> &'static str {
        match self {
            Slot::Current => {
                "UPDATE webhook_endpoints SET secret_sealed = $1, secret_key_id = $2 \
                 WHERE id = $3 AND secret_key_id = $4 AND secret_sealed = $5"
            }
            Slot::Previous => {
                "UPDATE webhook_endpoints SET previous_secret_sealed = $1, \
                 previous_secret_key_id = $2 \
                 WHERE id = $3 AND previous_secret_key_id = $4 AND previous_secret_sealed = $5"
            }
        }
    }
}

/// Re-seals every webhook secret not sealed by the ring's current key.
pub async fn reseal_secrets(db: &Db, ring: &KeyRing) -> anyhow::Result<RotationReport> {
    let current = ring.current_key_id().to_owned();
    let mut report = RotationReport::default();
    let mut after = String::new();
    loop {
        let rows = sqlx::query(
            "SELECT id, secret_key_id, secret_sealed, previous_secret_key_id, \
               previous_secret_sealed FROM webhook_endpoints \
             WHERE (secret_key_id <> $1 OR previous_secret_key_id <> $1) AND id > $2 \
             ORDER BY id LIMIT 200",
        )
        .bind(&current)
        .bind(&after)
        .fetch_all(db.pool())
        .await?;
        let Some(last) = rows.last() else { break };
        after = last.try_get("id")?;
        for row in &rows {
            let id: String = row.try_get("id")?;
            let key_id: String = row.try_get("secret_key_id")?;
            if key_id != current {
                let blob: Vec<u8> = row.try_get("secret_sealed")?;
                reseal(db, ring, &id, Slot::Current, &key_id, blob, &mut report).await?;
            }
            let previous_key_id: Option<String> = row.try_get("previous_secret_key_id")?;
            let previous_blob: Option<Vec<u8>> = row.try_get("previous_secret_sealed")?;
            if let (Some(key_id), Some(blob)) = (previous_key_id, previous_blob)
                && key_id != current
            {
                reseal(db, ring, &id, Slot::Previous, &key_id, blob, &mut report).await?;
            }
        }
    }
    Ok(report)
}

async fn reseal(
    db: &Db,
    ring: &KeyRing,
    endpoint_id: &str,
    slot: Slot,
    key_id: &str,
    blob: Vec<u8>,
    report: &mut RotationReport,
) -> anyhow::Result<()> {
    // The previous secret is bound to its own associated data, so the two ciphertexts
    // of one row cannot be swapped.
    let aad = match slot {
        Slot::Current => endpoint_id.to_owned(),
        Slot::Previous => previous_aad(endpoint_id),
    };
    let plain = match ring.open(Purpose::WebhookSecret, &aad, key_id, &blob) {
        Ok(plain) => plain,
        Err(err) => {
            tracing::error!(endpoint = %endpoint_id, key_id = %key_id, error = %err, "cannot open a webhook secret; left as it is");
            report.failed += 1;
            return Ok(());
        }
    };
    let sealed = ring.seal(Purpose::WebhookSecret, &aad, plain.expose().as_bytes())?;
    let done = sqlx::query(slot.update_sql())
        .bind(sealed.blob)
        .bind(&sealed.key_id)
        .bind(endpoint_id)
        .bind(key_id)
        .bind(blob)
        .execute(db.writes())
        .await?;
    if done.rows_affected() == 1 {
        report.resealed += 1;
    } else {
        report.skipped += 1;
    }
    Ok(())
}
