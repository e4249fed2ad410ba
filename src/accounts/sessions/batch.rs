//! Session lookups combined on PostgreSQL: the lookups waiting at one moment go
//! to the database as one statement (`token_hash = ANY($1)`), so a busy server
//! spends one round trip and one statement on many requests instead of one each.
//!
//! Each request still sees the database as of after it arrived (its lookup runs
//! in a statement that starts later), so a logout on any process is effective
//! at once, exactly as with one lookup per request. Nothing is cached.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sqlx::Row;
use sqlx::postgres::PgPool;
use tokio::sync::oneshot;

use crate::accounts::User;
use crate::clock::now_ms;

/// Statements in flight at once; while they run, new lookups queue for the next.
const MAX_IN_FLIGHT: usize = 2;
/// Most lookups in one statement.
const MAX_BATCH: usize = 512;

/// The answer to one waiting lookup.
pub enum Looked {
    /// The session's user, or `None` for an unknown or expired session.
    Found(Option<User>),
    /// The combined statement failed: look up alone (and see the real error).
    Alone,
}

struct Waiter {
    token_hash: Vec<u8>,
    reply: oneshot::Sender<Looked>,
}

#[derive(Default)]
struct State {
    waiting: Vec<Waiter>,
    in_flight: usize,
}

/// The per-process combiner of session lookups.
#[derive(Default)]
pub struct Lookups {
    state: Mutex<State>,
}

const LOOKUP_MANY_SQL: &str = "SELECT s.token_hash, u.id, u.email, u.display_name, u.is_admin, \
     u.created_at FROM sessions s JOIN users u ON u.id = s.user_id \
     WHERE s.token_hash = ANY($1) AND s.expires_at > $2";

impl Lookups {
    /// Looks `token_hash` up together with whatever else is waiting.
    pub async fn lookup(self: Arc<Self>, pg: &PgPool, token_hash: &[u8]) -> Looked {
        let (reply, answer) = oneshot::channel();
        let start = {
            let mut state = self.lock();
            state.waiting.push(Waiter {
                token_hash: token_hash.to_vec(),
                reply,
            });
            let start = state.in_flight < MAX_IN_FLIGHT;
            if start {
                state.in_flight += 1;
            }
            start
        };
        if start {
            // Its own task: a request that goes away must not strand the others.
            let me = self.clone();
            let pg = pg.clone();
            tokio::spawn(async move { me.serve(&pg).await });
        }
        answer.await.unwrap_or(Looked::Alone)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn serve(&self, pg: &PgPool) {
        let _unstick = Unstick(self);
        loop {
            let batch: Vec<Waiter> = {
                let mut state = self.lock();
                if state.waiting.is_empty() {
                    state.in_flight -= 1;
                    return;
                }
                let n = state.waiting.len().min(MAX_BATCH);
                state.waiting.drain(..n).collect()
            };
            let mut hashes: Vec<&[u8]> = batch.iter().map(|w| w.token_hash.as_slice()).collect();
            hashes.sort_unstable();
            hashes.dedup();
            match fetch(pg, &hashes).await {
                Ok(mut users) => {
                    for w in batch {
                        // Several requests may carry the same token: each gets a copy.
                        let user = users.get(&w.token_hash).cloned();
                        let _ = w.reply.send(Looked::Found(user));
                    }
                    users.clear();
                }
                Err(err) => {
                    tracing::warn!(error = %err, "combined session lookup failed; looking up one by one");
                    for w in batch {
                        let _ = w.reply.send(Looked::Alone);
                    }
                }
            }
        }
    }
}

/// Should a serving task ever end abnormally (a panic), gives its slot back, so
/// that later lookups still start tasks; its waiters' replies are dropped, which
/// makes them look up alone.
struct Unstick<'a>(&'a Lookups);

impl Drop for Unstick<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.lock().in_flight -= 1;
        }
    }
}

async fn fetch(pg: &PgPool, hashes: &[&[u8]]) -> Result<HashMap<Vec<u8>, User>, sqlx::Error> {
    let rows = sqlx::query(LOOKUP_MANY_SQL)
        .bind(hashes)
        .bind(now_ms())
        .fetch_all(pg)
        .await?;
    rows.iter()
        .map(|row| {
            Ok((
                row.try_get::<Vec<u8>, _>(0)?,
                User {
                    id: row.try_get(1)?,
                    email: row.try_get(2)?,
                    display_name: row.try_get(3)?,
                    is_admin: row.try_get::<i64, _>(4)? != 0,
                    created_at: row.try_get(5)?,
                },
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn combined_lookup_selects_the_user_columns() {
        assert!(super::LOOKUP_MANY_SQL.contains(crate::accounts::USER_COLUMNS));
    }
}
