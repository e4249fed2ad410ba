//! Sessions: 32 random bytes handed to the client, only their SHA-256 stored.
//!
//! Every request looks its session up in the database, so a logout on one server
//! process is effective on all of them at once. On PostgreSQL the lookups waiting
//! at the same moment share one statement (`batch`).

pub mod batch;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use super::User;
use crate::clock::now_ms;
use crate::db::Db;
use crate::state::AppState;

/// A freshly issued session token (the only time the plaintext exists server-side).
pub struct NewSession {
    /// The bearer token to give the client.
    pub token: String,
    /// Unix milliseconds.
    pub expires_at: i64,
}

/// SHA-256 of a presented token, as stored.
pub fn hash_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Issues a session for `user_id` that lives `ttl_ms`.
pub async fn create(db: &Db, user_id: &str, ttl_ms: i64) -> Result<NewSession, sqlx::Error> {
    let token = URL_SAFE_NO_PAD.encode(crate::ids::random_bytes::<32>());
    let now = now_ms();
    let expires_at = now.saturating_add(ttl_ms);
    sqlx::query(
        "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(hash_token(&token))
    .bind(user_id)
    .bind(now)
    .bind(expires_at)
    .execute(db.writes())
    .await?;
    Ok(NewSession { token, expires_at })
}

/// The user of a live session, if the token hash is known and not expired. On
/// PostgreSQL the lookup joins whatever others are waiting (`batch`).
pub async fn lookup(state: &AppState, token_hash: &[u8]) -> Result<Option<User>, sqlx::Error> {
    if let Some((pg, lookups)) = state.session_lookups()
        && let batch::Looked::Found(user) = batch::lookup(lookups, pg, token_hash).await
    {
        return Ok(user);
    }
    let row = sqlx::query(LOOKUP_SQL)
        .bind(token_hash.to_vec())
        .bind(now_ms())
        .fetch_optional(state.db.pool())
        .await?;
    row.as_ref().map(User::from_row).transpose()
}

/// One indexed lookup per authenticated request; selects the `users` columns.
const LOOKUP_SQL: &str = "SELECT u.id, u.email, u.display_name, u.is_admin, u.created_at \
     FROM sessions s JOIN users u ON u.id = s.user_id \
     WHERE s.token_hash = $1 AND s.expires_at > $2";

/// Ends one session.
pub async fn revoke(db: &Db, token_hash: &[u8]) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
        .bind(token_hash.to_vec())
        .execute(db.writes())
        .await?;
    Ok(())
}

/// Ends every session of a user.
pub async fn revoke_all(db: &Db, user_id: &str) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(user_id)
        .execute(db.writes())
        .await?;
    Ok(done.rows_affected())
}

/// Deletes expired sessions; returns how many.
pub async fn purge_expired(db: &Db) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
        .bind(now_ms())
        .execute(db.writes())
        .await?;
    Ok(done.rows_affected())
}
