//! Session lookups combined on PostgreSQL: the lookups waiting at one moment go
//! to the database as one statement (`token_hash = ANY($1)`), so a busy server
//! spends one round trip and one statement on many requests instead of one each.
//!
//! Each request still sees the database as of after it arrived (its lookup runs
//! in a statement that starts later), so a logout on any process is effective
//! at once, exactly as with one lookup per request. Nothing is cached.

use std::collections::HashMap;
use std::sync::Arc;

use sqlx::postgres::PgPool;

use crate::accounts::{User, UserRow};
use crate::clock::now_ms;
use crate::db::batcher::{Batcher, Pending};

/// Statements in flight at once; while they run, new lookups queue for the next.
const MAX_IN_FLIGHT: usize = 2;
/// Most lookups in one statement.
pub const MAX_BATCH: usize = 512;

/// Histogram of lookups per combined statement (at most [`MAX_BATCH`]); its `quantile="1"`
/// is the largest batch of the last minute.
pub const BATCH_SIZE_METRIC: &str = "udam_session_lookup_batch_size";

/// The answer to one waiting lookup.
pub enum Looked {
    /// The session's user, or `None` for an unknown or expired session.
    Found(Option<User>),
    /// The combined statement failed: look up alone (and see the real error).
    Alone,
}

/// The per-database combiner of session lookups: one queue (key `()`) of token hashes.
pub type Lookups = Batcher<(), Vec<u8>, Looked>;

/// A combiner with this path's limits.
pub fn new_lookups() -> Lookups {
    Lookups::new(MAX_IN_FLIGHT, MAX_BATCH)
}

const LOOKUP_MANY_SQL: &str = "SELECT s.token_hash, u.id, u.email, u.display_name, u.is_admin, \
     u.created_at FROM sessions s JOIN users u ON u.id = s.user_id \
     WHERE s.token_hash = ANY($1) AND s.expires_at > $2";

/// Looks `token_hash` up together with whatever else is waiting.
pub async fn lookup(lookups: &Arc<Lookups>, pg: &PgPool, token_hash: &[u8]) -> Looked {
    let pg = pg.clone();
    let serve = move |(), batch| serve(pg.clone(), batch);
    lookups
        .submit((), token_hash.to_vec(), serve)
        .await
        .unwrap_or(Looked::Alone)
}

/// Answers one batch of lookups with one statement.
async fn serve(pg: PgPool, batch: Vec<Pending<Vec<u8>, Looked>>) {
    // Batch sizes are at most MAX_BATCH: exact as f64.
    metrics::histogram!(BATCH_SIZE_METRIC).record(batch.len() as f64);
    let mut hashes: Vec<&[u8]> = batch.iter().map(|p| p.req.as_slice()).collect();
    hashes.sort_unstable();
    hashes.dedup();
    match fetch(&pg, &hashes).await {
        Ok(users) => {
            for p in batch {
                // Several requests may carry the same token: each gets a copy.
                let user = users.get(&p.req).cloned();
                p.reply(Looked::Found(user));
            }
        }
        Err(err) => {
            tracing::warn!(error = %err, "combined session lookup failed; looking up one by one");
            for p in batch {
                p.reply(Looked::Alone);
            }
        }
    }
}

/// One row of the combined lookup: the token hash it answers and its user.
#[derive(sqlx::FromRow)]
struct Found {
    token_hash: Vec<u8>,
    #[sqlx(flatten)]
    user: UserRow,
}

async fn fetch(pg: &PgPool, hashes: &[&[u8]]) -> Result<HashMap<Vec<u8>, User>, sqlx::Error> {
    let rows: Vec<Found> = sqlx::query_as(LOOKUP_MANY_SQL)
        .bind(hashes)
        .bind(now_ms())
        .fetch_all(pg)
        .await?;
    Ok(rows
        .into_iter()
        .map(|found| (found.token_hash, User::from(found.user)))
        .collect())
}
