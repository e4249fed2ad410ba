//! Idempotency keys with Stripe's semantics, scoped to the user.
//!
//! The first request with a key claims it by inserting a row (a unique key, so
//! concurrent requests cannot both claim it). Its final status and body are stored
//! and replayed for 24 hours to any retry with the same body; a different body is
//! refused; a retry arriving while the first is still running gets 409.
//!
//! Exactly once (issue 12, defect 5): the order itself carries the key, unique per
//! buyer, so the key and its effect commit in one transaction; the stored answer is
//! only a copy. A claim whose request died (its process crashed, or it answered 5xx
//! with an unknown outcome) keeps its row without an answer. Once the claim is older
//! than its lease (the request timeout: no request runs longer), a retry looks for
//! the order made under the key and replays it ([`Claim::Recover`]), or, when there is
//! none, takes the claim over and buys; should the dead request's order commit after
//! all, the unique key refuses the second order and the purchase answers with the
//! first. Keys are released only after failures known to have changed nothing.

use axum::http::StatusCode;
use sha2::{Digest, Sha256};
use sqlx::Row;

use super::model::Order;
use crate::clock::now_ms;
use crate::db::Db;
use crate::error::{ApiError, ErrorCode};

/// How long a stored response is replayed.
pub const KEY_LIFETIME_MS: i64 = 24 * 3600 * 1000;

/// What to do with a request carrying an idempotency key.
#[derive(Debug)]
pub enum Claim {
    /// This request owns the key: run it, then [`complete`] or [`release`].
    Proceed,
    /// Replay the stored response.
    Replay {
        /// Stored status.
        status: StatusCode,
        /// Stored JSON body.
        body: Vec<u8>,
    },
    /// The request that claimed the key died after its order committed and before
    /// its answer was stored: answer with this order (and store that answer).
    Recover(Box<Order>),
}

/// Checks a key's shape: 1 to 255 visible ASCII characters.
pub fn check_key(key: &str) -> Result<(), ApiError> {
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::validation(
            "Idempotency-Key",
            "must be 1 to 255 visible ASCII characters",
        ));
    }
    Ok(())
}

/// Fingerprint of a request: route plus canonical body.
pub fn fingerprint(route: &str, canonical_body: &[u8]) -> Vec<u8> {
    let mut hasher = Sha256::new();
    hasher.update(route.as_bytes());
    hasher.update([0]);
    hasher.update(canonical_body);
    hasher.finalize().to_vec()
}

/// Claims `key` for this request, or says how to answer instead. `lease_ms`: how
/// long a claim without an answer counts as still running (the request timeout).
pub async fn claim(
    db: &Db,
    user_id: &str,
    key: &str,
    hash: &[u8],
    lease_ms: i64,
) -> Result<Claim, ApiError> {
    for _ in 0..3 {
        let now = now_ms();
        let inserted = sqlx::query(
            "INSERT INTO idempotency_keys (user_id, idem_key, request_hash, created_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, idem_key) DO NOTHING",
        )
        .bind(user_id)
        .bind(key)
        .bind(hash.to_vec())
        .bind(now)
        .execute(db.writes())
        .await?;
        if inserted.rows_affected() == 1 {
            return Ok(Claim::Proceed);
        }
        let Some(row) = sqlx::query(
            "SELECT request_hash, status_code, response_body, created_at FROM idempotency_keys \
             WHERE user_id = $1 AND idem_key = $2",
        )
        .bind(user_id)
        .bind(key)
        .fetch_optional(db.pool())
        .await?
        else {
            continue; // released meanwhile: try to claim again
        };
        let stored_hash: Vec<u8> = row.try_get("request_hash")?;
        let status: Option<i64> = row.try_get("status_code")?;
        let body: Option<Vec<u8>> = row.try_get("response_body")?;
        let created_at: i64 = row.try_get("created_at")?;
        let expired = created_at < now - KEY_LIFETIME_MS;
        let abandoned = status.is_none() && created_at < now - lease_ms;
        if abandoned && !expired && stored_hash == hash {
            // The claimant is gone. If its order committed, it is the answer.
            if let Some(order) = super::purchase::existing_order(db, user_id, key).await? {
                return Ok(Claim::Recover(Box::new(order)));
            }
        }
        if stored_hash != hash && !expired {
            return Err(reused());
        }
        if expired || abandoned {
            // Take over by a conditional update, so only one request can.
            let taken = sqlx::query(
                "UPDATE idempotency_keys SET request_hash = $3, status_code = NULL, \
                 response_body = NULL, created_at = $4 \
                 WHERE user_id = $1 AND idem_key = $2 AND created_at = $5",
            )
            .bind(user_id)
            .bind(key)
            .bind(hash.to_vec())
            .bind(now)
            .bind(created_at)
            .execute(db.writes())
            .await?;
            if taken.rows_affected() == 1 {
                return Ok(Claim::Proceed);
            }
            continue;
        }
        return match (status, body) {
            (Some(status), Some(body)) => Ok(Claim::Replay {
                status: u16::try_from(status)
                    .ok()
                    .and_then(|s| StatusCode::from_u16(s).ok())
                    .unwrap_or(StatusCode::OK),
                body,
            }),
            _ => Err(ApiError::conflict(
                ErrorCode::IdempotencyInProgress,
                "a request with this Idempotency-Key is still being processed; retry shortly",
            )),
        };
    }
    Err(ApiError::conflict(
        ErrorCode::IdempotencyInProgress,
        "this Idempotency-Key is contended; retry shortly",
    ))
}

fn reused() -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        ErrorCode::IdempotencyKeyReuse,
        "this Idempotency-Key was used with a different request",
    )
}

/// Stores the final response of a claimed key.
pub async fn complete(
    db: &Db,
    user_id: &str,
    key: &str,
    status: StatusCode,
    body: &[u8],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE idempotency_keys SET status_code = $3, response_body = $4 \
         WHERE user_id = $1 AND idem_key = $2",
    )
    .bind(user_id)
    .bind(key)
    .bind(i64::from(status.as_u16()))
    .bind(body.to_vec())
    .execute(db.writes())
    .await?;
    Ok(())
}

/// Gives a claimed key up (after a failure known to have changed nothing) so a retry
/// can run at once.
pub async fn release(db: &Db, user_id: &str, key: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "DELETE FROM idempotency_keys WHERE user_id = $1 AND idem_key = $2 AND status_code IS NULL",
    )
    .bind(user_id)
    .bind(key)
    .execute(db.writes())
    .await?;
    Ok(())
}

/// Deletes keys past their lifetime; returns how many.
pub async fn purge_expired(db: &Db) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
        .bind(now_ms() - KEY_LIFETIME_MS)
        .execute(db.writes())
        .await?;
    Ok(done.rows_affected())
}
