//! The audit log: who opened or revoked which grants, and who was issued or rolled
//! which gateway key, and when. A record never holds a secret.
//!
//! Records of concurrent requests are written together. They queue in a
//! [`Batcher`] and one multi-row `INSERT` writes up to [`MAX_BATCH`] of them in one
//! commit, so a busy `GET /tokens` (which opens seller keys and must leave a record
//! each time) pays one commit per batch instead of one per request. Every caller
//! still waits for its own record's commit before it answers: no key is shown
//! without its record. A lone request waits for nobody (the batcher has no timer).

use std::sync::Arc;

use crate::clock::now_ms;
use crate::db::Db;
use crate::db::batcher::{Batcher, Pending};

crate::vocabulary! {
    /// What an audit record says was done.
    pub enum AuditAction {
        /// The buyer's request opened the seller keys of these grants.
        OpenGrants = "open_grants",
        /// A seller or an administrator revoked this grant.
        RevokeGrant = "revoke_grant",
        /// The buyer's gateway key was issued and shown once.
        IssueGatewayKey = "issue_gateway_key",
        /// The buyer rolled the gateway key of this grant.
        RollGatewayKey = "roll_gateway_key",
    }
}

/// At most this many records share one `INSERT` (four parameters each, far below
/// either engine's limit on parameters per statement).
pub const MAX_BATCH: usize = 128;

/// One record waiting to be written.
struct Record {
    actor_id: String,
    action: AuditAction,
    subject: String,
    created_at: i64,
}

/// A batch's outcome, shared by all its records (the error's text, since
/// `sqlx::Error` cannot be cloned).
type Written = Result<(), String>;

/// The audit log's writer, one per process (held by the application state).
pub struct AuditLog {
    batcher: Arc<Batcher<(), Record, Written>>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog").finish_non_exhaustive()
    }
}

impl Default for AuditLog {
    fn default() -> Self {
        Self {
            // One batch in the database at a time: the next one forms meanwhile.
            batcher: Arc::new(Batcher::new(1, MAX_BATCH)),
        }
    }
}

/// Why a record could not be written.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The database refused the batch holding the record.
    #[error("writing the audit log: {0}")]
    Write(String),
    /// The task writing the batch ended without an answer.
    #[error("the audit log writer stopped")]
    WriterGone,
}

impl AuditLog {
    /// Writes one record, committed when this returns `Ok`.
    pub async fn write(
        &self,
        db: &Db,
        actor_id: &str,
        action: AuditAction,
        subject: &str,
    ) -> Result<(), AuditError> {
        let record = Record {
            actor_id: actor_id.to_owned(),
            action,
            subject: subject.to_owned(),
            created_at: now_ms(),
        };
        let db = db.clone();
        let written = self
            .batcher
            .submit((), record, move |(), batch| {
                let db = db.clone();
                async move { write_batch(&db, batch).await }
            })
            .await;
        match written {
            Some(Ok(())) => Ok(()),
            Some(Err(message)) => Err(AuditError::Write(message)),
            None => Err(AuditError::WriterGone),
        }
    }
}

/// The batch insert on PostgreSQL: one statement text whatever the batch's size, so
/// the connection prepares it once. (A `VALUES` list with a row of placeholders per
/// record has a text per batch size, and busy batch sizes vary enough that the
/// statement cache kept missing: a parse and a describe round trip every few
/// batches of `GET /tokens`.)
const INSERT_UNNEST_SQL: &str = "INSERT INTO audit_log (actor_id, action, subject, created_at) \
     SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[])";

/// Writes `batch` with one statement (autocommit, so one commit) and answers each
/// caller with the statement's outcome.
async fn write_batch(db: &Db, batch: Vec<Pending<Record, Written>>) {
    let outcome = match db.pg() {
        Some(pg) => insert_unnest(pg, &batch).await,
        None => insert_values(db, &batch).await,
    }
    .map_err(|e| e.to_string());
    if outcome.is_err() {
        metrics::counter!("udam_audit_batch_failures_total").increment(1);
    }
    metrics::histogram!("udam_audit_batch_size").record(batch.len() as f64);
    for pending in batch {
        pending.reply(outcome.clone());
    }
}

/// PostgreSQL: the records as four arrays ([`INSERT_UNNEST_SQL`]).
async fn insert_unnest(
    pg: &sqlx::PgPool,
    batch: &[Pending<Record, Written>],
) -> Result<(), sqlx::Error> {
    let records = batch.iter().map(|p| &p.req);
    let actors: Vec<&str> = records.clone().map(|r| r.actor_id.as_str()).collect();
    let actions: Vec<&str> = records.clone().map(|r| r.action.as_str()).collect();
    let subjects: Vec<&str> = records.clone().map(|r| r.subject.as_str()).collect();
    let times: Vec<i64> = records.map(|r| r.created_at).collect();
    sqlx::query(INSERT_UNNEST_SQL)
        .bind(actors)
        .bind(actions)
        .bind(subjects)
        .bind(times)
        .execute(pg)
        .await
        .map(|_| ())
}

/// SQLite (no arrays): one multi-row `VALUES`, through the process's one writer.
async fn insert_values(db: &Db, batch: &[Pending<Record, Written>]) -> Result<(), sqlx::Error> {
    let mut sql =
        String::from("INSERT INTO audit_log (actor_id, action, subject, created_at) VALUES ");
    for i in 0..batch.len() {
        let p = i * 4;
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&format!("(${}, ${}, ${}, ${})", p + 1, p + 2, p + 3, p + 4));
    }
    // Only placeholders are formatted into the text; every value is bound.
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for pending in batch {
        let r = &pending.req;
        query = query
            .bind(&r.actor_id)
            .bind(r.action)
            .bind(&r.subject)
            .bind(r.created_at);
    }
    query.execute(db.writes()).await.map(|_| ())
}
