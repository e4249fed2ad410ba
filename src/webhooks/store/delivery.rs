//! The statements the delivery worker runs, each over a whole batch so that a busy
//! outbox costs a few round trips and one commit per batch rather than several per
//! event: fan-out, claim, loading what a claimed batch sends, and recording it.
//!
//! Why batches: the worker shares the machine and the database with purchases.
//! Before, every event cost about a dozen statements and two commits; with
//! endpoints enabled that work ran beside each purchase and raised its latency
//! (docs/WEBHOOKS.md, "Purchase latency").

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use super::super::{DeliveryStatus, DisabledReason};
use super::{ENDPOINT_COLUMNS, EndpointRecord, EndpointRow};
use crate::db::{Db, Tx};

/// `$start, $start+1, …`: `count` numbered placeholders (only these are spliced into
/// a statement; the values are bound).
pub(super) fn numbered(start: usize, count: usize) -> String {
    (start..start + count)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `($s, …), (…)`: `rows` rows of `columns` numbered placeholders from `$start`.
pub(super) fn rows_of(start: usize, rows: usize, columns: usize) -> String {
    (0..rows)
        .map(|row| format!("({})", numbered(start + row * columns, columns)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Inserts a delivery due at `now`, unless the (event, endpoint) pair has one.
pub(in crate::webhooks) async fn insert_delivery(
    tx: &mut Tx,
    delivery_id: &str,
    event_id: &str,
    endpoint_id: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    insert_deliveries(tx, &[(event_id, endpoint_id)], now, Preclaim::NONE, |_| {
        delivery_id.to_owned()
    })
    .await
    .map(drop)
}

/// Deliveries a fan-out may claim for its own process as it writes them, sparing
/// the claim statement a second version of each row: up to `max` of them, leased
/// until `lease_until` with their first attempt counted, as [`claim`] would.
#[derive(Clone, Copy, Debug)]
pub struct Preclaim {
    /// The lease of those claimed.
    pub lease_until: i64,
    /// How many at most.
    pub max: usize,
}

impl Preclaim {
    /// Claims nothing: every delivery is left for [`claim`].
    pub const NONE: Self = Self {
        lease_until: 0,
        max: 0,
    };
}

/// What a fan-out did.
#[derive(Debug, Default)]
pub struct FanOut {
    /// Outbox rows it took.
    pub taken: usize,
    /// Deliveries it wrote claimed for this process ([`Preclaim`]).
    pub claimed: Vec<Claimed>,
}

/// One multi-row insert of a delivery per (event, endpoint) pair, ids from `new_id`;
/// the first `preclaim.max` are written claimed. Returns those it wrote claimed.
async fn insert_deliveries(
    tx: &mut Tx,
    pairs: &[(&str, &str)],
    now: i64,
    preclaim: Preclaim,
    new_id: impl Fn(usize) -> String,
) -> Result<Vec<Claimed>, sqlx::Error> {
    if pairs.is_empty() {
        return Ok(Vec::new());
    }
    // $1 is the status, $2 the time, $3 the lease; each row adds its id, event and
    // endpoint. The unique (event, endpoint) pair makes a second fan-out of the same
    // event, by this process or another, write nothing, and return nothing: only
    // the process that wrote a claimed delivery sends it.
    let values = (0..pairs.len())
        .map(|row| {
            let first = 4 + row * 3;
            let (attempts, lease) = if row < preclaim.max {
                (1, "$3")
            } else {
                (0, "NULL")
            };
            format!(
                "(${first}, ${}, ${}, $1, {attempts}, $2, $2, $2, {lease})",
                first + 1,
                first + 2
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "INSERT INTO webhook_deliveries (id, event_id, endpoint_id, status, attempts, \
         next_attempt_at, created_at, updated_at, lease_until) VALUES {values} \
         ON CONFLICT (event_id, endpoint_id) DO NOTHING \
         RETURNING id, event_id, endpoint_id, attempts"
    );
    let mut query = sqlx::query_as::<_, Claimed>(sqlx::AssertSqlSafe(sql))
        .bind(DeliveryStatus::Pending)
        .bind(now)
        .bind(preclaim.lease_until);
    for (row, (event_id, endpoint_id)) in pairs.iter().enumerate() {
        query = query.bind(new_id(row)).bind(*event_id).bind(*endpoint_id);
    }
    let mut written = query.fetch_all(&mut **tx).await?;
    written.retain(|d| d.attempt > 0);
    Ok(written)
}

/// An outbox event with the endpoint it goes to, if any (one row per subscribed
/// enabled endpoint; `None` for an event nobody is subscribed to any more).
#[derive(sqlx::FromRow)]
struct Recipient {
    event_id: String,
    endpoint_id: Option<String>,
}

/// Fans out up to `limit` of the oldest outbox rows: each new order's `order.placed`
/// row expanded into its events (`placed.rs`), one delivery per enabled
/// endpoint of the recipient subscribed to each event's type (the first
/// `preclaim.max` of them claimed for this process), and the rows marked fanned
/// out, in one transaction.
pub async fn fan_out(
    db: &Db,
    limit: i64,
    now: i64,
    preclaim: Preclaim,
) -> Result<FanOut, sqlx::Error> {
    // Read outside the write transaction, so an idle poll never takes SQLite's lock.
    let mut events: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM webhook_outbox WHERE fanned_out = 0 ORDER BY seq LIMIT $1",
    )
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    if events.is_empty() {
        return Ok(FanOut::default());
    }
    // Sorted, so that concurrent fan-outs lock the outbox rows in one order too.
    events.sort();
    let taken = events.len();
    let mut tx = db.begin_write().await?;
    // A new order's one row becomes its events here, fanned out with the rest. They
    // are written fanned out already; the taken rows are flagged below.
    let expanded = super::placed::expand(&mut tx, &events).await?;
    let all: Vec<&String> = events.iter().chain(&expanded).collect();
    // No `fanned_out` filter: the expanded events carry the flag already, and a row
    // another process fanned out meanwhile only finds its deliveries present (the
    // insert below skips existing pairs). An `order.placed` row has no subscriber.
    let sql = format!(
        "SELECT o.id AS event_id, s.endpoint_id FROM webhook_outbox o \
         LEFT JOIN webhook_endpoints e ON e.user_id = o.user_id AND e.enabled = 1 \
         LEFT JOIN webhook_subscriptions s ON s.endpoint_id = e.id AND s.event_type = o.event_type \
         WHERE o.id IN ({})",
        numbered(1, all.len())
    );
    let mut query = sqlx::query_as::<_, Recipient>(sqlx::AssertSqlSafe(sql));
    for id in &all {
        query = query.bind(*id);
    }
    let recipients = query.fetch_all(&mut *tx).await?;
    // Sorted: two processes fanning out the same events insert (and wait on) the
    // unique pairs in one order, so on PostgreSQL they queue rather than deadlock.
    let pairs: BTreeSet<(&str, &str)> = recipients
        .iter()
        .filter_map(|r| Some((r.event_id.as_str(), r.endpoint_id.as_deref()?)))
        .collect();
    let pairs: Vec<(&str, &str)> = pairs.into_iter().collect();
    // Ids of equal length and random, as `ids::new_id` makes them one at a time.
    let claimed = insert_deliveries(&mut tx, &pairs, now, preclaim, |_| {
        crate::ids::new_id("whd")
    })
    .await?;
    // Only rows still unflagged: `expand` flagged the `order.placed` rows it claimed,
    // and rewriting a row costs a new version of it and of its index entries.
    let sql = format!(
        "UPDATE webhook_outbox SET fanned_out = 1 WHERE id IN ({}) AND fanned_out = 0",
        numbered(1, events.len())
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for id in &events {
        query = query.bind(id);
    }
    query.execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(FanOut { taken, claimed })
}

/// A delivery claimed for one attempt.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Claimed {
    /// `whd_…`
    pub id: String,
    /// The event.
    pub event_id: String,
    /// The endpoint.
    pub endpoint_id: String,
    /// This attempt's number (1 for the first).
    #[sqlx(rename = "attempts")]
    pub attempt: i64,
}

/// The claim statement. It writes no indexed column (not `updated_at`, which the
/// record sets when the attempt ends), so on PostgreSQL it can update the row in
/// place (migration 0027). The status is written into the text rather than bound:
/// PostgreSQL uses the partial index `webhook_deliveries_due` (migrations) only for
/// a predicate it can prove from the text, which a generic plan of a bound parameter
/// is not.
static CLAIM: LazyLock<String> = LazyLock::new(|| {
    let due = DUE.as_str();
    format!(
        "UPDATE webhook_deliveries SET lease_until = $2, attempts = attempts + 1 \
         WHERE id IN (SELECT id FROM webhook_deliveries WHERE {due} \
           ORDER BY next_attempt_at LIMIT $3) \
         AND {due} \
         RETURNING id, event_id, endpoint_id, attempts"
    )
});

/// A delivery due at `$1` (Unix ms) that no live claim holds: what a claim takes,
/// and what the worker's look at the oldest waiting work ([`super::waiting`]) reads.
pub(super) static DUE: LazyLock<String> = LazyLock::new(|| {
    let pending = DeliveryStatus::Pending;
    format!(
        "status = '{pending}' AND next_attempt_at <= $1 \
         AND (lease_until IS NULL OR lease_until < $1)"
    )
});

/// Claims up to `limit` due deliveries for one attempt each, leased until
/// `lease_until`. The conditions are repeated on the updated row, so when two
/// processes race for a row (PostgreSQL re-checks them after the row lock; SQLite
/// has one writer), only one of them gets it.
///
/// On SQLite the claim is a write even when nothing is due (an `UPDATE` takes the
/// file's write lock), so it goes through the process's one write connection
/// ([`Db::writes`]) and queues behind purchases instead of meeting them on the
/// file lock, where the loser sleeps in SQLite's busy handler: with the claim on
/// the read pool, each poll put up to a second on the purchases' tail.
pub async fn claim(
    db: &Db,
    now: i64,
    lease_until: i64,
    limit: i64,
) -> Result<Vec<Claimed>, sqlx::Error> {
    sqlx::query_as(CLAIM.as_str())
        .bind(now)
        .bind(lease_until)
        .bind(limit)
        .fetch_all(db.writes())
        .await
}

/// An outbox event as the worker renders it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct StoredEvent {
    /// `evt_…`, sent as `webhook-id`.
    pub id: String,
    /// Its type, as stored.
    pub event_type: String,
    /// The changed row at event time, as JSON text.
    pub object: String,
    /// Unix ms.
    pub created_at: i64,
}

/// What a claimed batch needs to be sent: its events and endpoints by id.
#[derive(Default)]
pub struct Batch {
    /// The claimed deliveries' events.
    pub events: BTreeMap<String, StoredEvent>,
    /// Their endpoints (without subscriptions); a deleted one is absent.
    pub endpoints: BTreeMap<String, EndpointRow>,
}

/// Loads the events and endpoints of `claimed`, two statements for the whole batch.
pub async fn load(db: &Db, claimed: &[Claimed]) -> Result<Batch, sqlx::Error> {
    let event_ids: BTreeSet<&str> = claimed.iter().map(|c| c.event_id.as_str()).collect();
    let endpoint_ids: BTreeSet<&str> = claimed.iter().map(|c| c.endpoint_id.as_str()).collect();
    if claimed.is_empty() {
        return Ok(Batch::default());
    }
    let sql = format!(
        "SELECT id, event_type, object, created_at FROM webhook_outbox WHERE id IN ({})",
        numbered(1, event_ids.len())
    );
    let mut query = sqlx::query_as::<_, StoredEvent>(sqlx::AssertSqlSafe(sql));
    for id in &event_ids {
        query = query.bind(*id);
    }
    let events = query.fetch_all(db.pool()).await?;
    let sql = format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id IN ({})",
        numbered(1, endpoint_ids.len())
    );
    let mut query = sqlx::query_as::<_, EndpointRecord>(sqlx::AssertSqlSafe(sql));
    for id in &endpoint_ids {
        query = query.bind(*id);
    }
    let endpoints = query.fetch_all(db.pool()).await?;
    Ok(Batch {
        events: events.into_iter().map(|e| (e.id.clone(), e)).collect(),
        endpoints: endpoints
            .into_iter()
            .map(|e| (e.id.clone(), EndpointRow::from(e)))
            .collect(),
    })
}

/// What one attempt got.
#[derive(Clone, Debug)]
pub struct AttemptOutcome {
    /// The HTTP status, if an answer came.
    pub status_code: Option<i64>,
    /// Time from sending to the answer (or the failure).
    pub latency_ms: i64,
    /// The start of the answer's body.
    pub response_excerpt: Option<String>,
    /// Why no answer came, or why the URL was refused.
    pub error: Option<String>,
    /// When it started (unix ms).
    pub started_at: i64,
    /// True for a 2xx answer.
    pub succeeded: bool,
}

/// One attempt to record: its claim, what it got, and when it is due again
/// (`None`: the schedule is spent, or it succeeded).
pub struct Attempt {
    /// The claim the attempt was made under.
    pub claimed: Claimed,
    /// What it got.
    pub outcome: AttemptOutcome,
    /// The next attempt's time after a failure.
    pub retry_at: Option<i64>,
}

impl Attempt {
    fn status(&self) -> DeliveryStatus {
        match (self.outcome.succeeded, self.retry_at) {
            (true, _) => DeliveryStatus::Succeeded,
            (false, Some(_)) => DeliveryStatus::Pending,
            (false, None) => DeliveryStatus::Failed,
        }
    }
}

/// Records a batch of attempts in one transaction and moves each delivery on:
/// succeeded, due again at its `retry_at`, or failed when the schedule is spent.
/// Only the process holding an attempt's claim writes it (the attempt number must
/// still match): a claim lost to another process (the lease lapsed) records
/// nothing. Then each endpoint's health: a success clears its failure clock; only
/// failures start it, and disable the endpoint once it has run `disable_after_ms`.
/// Returns how many attempts were recorded.
pub async fn record(
    db: &Db,
    attempts: &[Attempt],
    now: i64,
    disable_after_ms: i64,
) -> Result<usize, sqlx::Error> {
    if attempts.is_empty() {
        return Ok(0);
    }
    let mut tx = db.begin_write().await?;
    let moved = move_deliveries(&mut tx, attempts, now).await?;
    let recorded: Vec<&Attempt> = attempts
        .iter()
        .filter(|a| moved.contains(&a.claimed.id))
        .collect();
    insert_attempts(&mut tx, &recorded).await?;
    let mut succeeded = BTreeSet::new();
    let mut failed = BTreeSet::new();
    for attempt in &recorded {
        if attempt.outcome.succeeded {
            succeeded.insert(attempt.claimed.endpoint_id.as_str());
        } else {
            failed.insert(attempt.claimed.endpoint_id.as_str());
        }
    }
    let failing: Vec<&str> = failed.difference(&succeeded).copied().collect();
    let succeeded: Vec<&str> = succeeded.into_iter().collect();
    record_health(&mut tx, &succeeded, &failing, now, disable_after_ms).await?;
    tx.commit().await?;
    Ok(recorded.len())
}

/// One conditional update for the whole batch; returns the deliveries it moved.
///
/// The attempts come as a `VALUES` list joined on the delivery's id (`column1` to
/// `column4` are its id, attempt number, new status and next time, named as both
/// engines name a `VALUES` list's columns). A `CASE id WHEN … END` per column, as
/// before, compared each row against every attempt of the batch: at 256 attempts,
/// 9 ms of PostgreSQL's CPU beside the purchases (docs/WEBHOOKS.md).
async fn move_deliveries(
    tx: &mut Tx,
    attempts: &[Attempt],
    now: i64,
) -> Result<BTreeSet<String>, sqlx::Error> {
    // $1 is the time; each attempt binds id, attempt number, status, next time.
    let sql = format!(
        "UPDATE webhook_deliveries SET status = a.column3, next_attempt_at = a.column4, \
         lease_until = NULL, updated_at = $1 \
         FROM (VALUES {}) AS a \
         WHERE webhook_deliveries.id = a.column1 AND webhook_deliveries.attempts = a.column2 \
         RETURNING webhook_deliveries.id",
        rows_of(2, attempts.len(), 4)
    );
    let mut query = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql)).bind(now);
    for attempt in attempts {
        query = query
            .bind(&attempt.claimed.id)
            .bind(attempt.claimed.attempt)
            .bind(attempt.status())
            .bind(attempt.retry_at.unwrap_or(now));
    }
    Ok(query.fetch_all(&mut **tx).await?.into_iter().collect())
}

/// One multi-row insert of the recorded attempts.
async fn insert_attempts(tx: &mut Tx, recorded: &[&Attempt]) -> Result<(), sqlx::Error> {
    if recorded.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO webhook_attempts (delivery_id, attempt, status_code, latency_ms, \
         response_excerpt, error, started_at) VALUES {} ON CONFLICT DO NOTHING",
        rows_of(1, recorded.len(), 7)
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for attempt in recorded {
        let outcome = &attempt.outcome;
        query = query
            .bind(&attempt.claimed.id)
            .bind(attempt.claimed.attempt)
            .bind(outcome.status_code)
            .bind(outcome.latency_ms)
            .bind(&outcome.response_excerpt)
            .bind(&outcome.error)
            .bind(outcome.started_at);
    }
    query.execute(&mut **tx).await?;
    Ok(())
}

/// Clears the failure clock of `succeeded` endpoints; starts it for `failing` ones
/// and disables those failing for `disable_after_ms`.
async fn record_health(
    tx: &mut Tx,
    succeeded: &[&str],
    failing: &[&str],
    now: i64,
    disable_after_ms: i64,
) -> Result<(), sqlx::Error> {
    if !succeeded.is_empty() {
        let sql = format!(
            "UPDATE webhook_endpoints SET failing_since = NULL \
             WHERE id IN ({}) AND failing_since IS NOT NULL",
            numbered(1, succeeded.len())
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in succeeded {
            query = query.bind(*id);
        }
        query.execute(&mut **tx).await?;
    }
    for id in failing {
        sqlx::query(
            "UPDATE webhook_endpoints SET failing_since = COALESCE(failing_since, $2) \
             WHERE id = $1",
        )
        .bind(*id)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        sqlx::query(
            "UPDATE webhook_endpoints SET enabled = 0, disabled_reason = $3, updated_at = $2 \
             WHERE id = $1 AND enabled = 1 AND failing_since <= $4",
        )
        .bind(*id)
        .bind(now)
        .bind(DisabledReason::Failing)
        .bind(now - disable_after_ms)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn placeholders_number_rows_then_columns() {
        assert_eq!(super::numbered(3, 2), "$3, $4");
        assert_eq!(super::rows_of(1, 2, 2), "($1, $2), ($3, $4)");
    }
}
