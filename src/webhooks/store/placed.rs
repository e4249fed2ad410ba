//! `order.placed`: the one outbox row a new order writes (migration 0022), expanded by
//! the fan-out into the order's events.
//!
//! Why one row: the row is written inside the purchase's transaction, before the
//! commit the buyer waits for. Three rows per order (the seller's `order.created` and
//! `order.fulfilled`, the buyer's `order.fulfilled`) cost a purchase measurably more
//! with endpoints enabled than without (docs/WEBHOOKS.md, "Purchase latency"). The
//! expansion writes those same events here, in the fan-out's transaction, where no
//! buyer waits.

use std::collections::BTreeSet;

use serde::Deserialize;

use super::super::EventType;
use crate::db::Tx;
use crate::vocab::OrderStatus;

/// The outbox's own kind for a new order; no endpoint subscribes to it and no payload
/// carries it. The trigger of migration 0022 writes the same text.
pub(super) const ORDER_PLACED: &str = "order.placed";

/// A claimed `order.placed` row.
#[derive(sqlx::FromRow)]
struct PlacedRow {
    id: String,
    object: String,
    created_at: i64,
}

/// The order fields that decide its events (the object holds the whole order).
#[derive(Deserialize)]
struct PlacedOrder {
    buyer_id: String,
    seller_id: String,
    status: OrderStatus,
}

impl PlacedOrder {
    /// Its events, in the order the trigger of migration 0015 wrote them: the seller's
    /// `order.created`, and when fulfilled, the seller's `order.fulfilled` and the
    /// buyer's.
    fn events(&self) -> Vec<(&str, EventType)> {
        let mut events = vec![(self.seller_id.as_str(), EventType::OrderCreated)];
        if self.status == OrderStatus::Fulfilled {
            events.push((self.seller_id.as_str(), EventType::OrderFulfilled));
            if self.buyer_id != self.seller_id {
                events.push((self.buyer_id.as_str(), EventType::OrderFulfilled));
            }
        }
        events
    }
}

/// Claims the `order.placed` rows among `ids` that no fan-out has taken yet, and
/// writes their events as new outbox rows, already marked fanned out (for recipients
/// with an enabled endpoint, as the triggers write every event); returns the new
/// events' ids, whose deliveries the caller writes in `tx`.
///
/// The claim marks the rows fanned out first, so a second process fanning out the
/// same rows waits on their row locks (PostgreSQL; SQLite has one writer), finds them
/// taken and expands nothing: an order's events are written once.
pub(super) async fn expand(tx: &mut Tx, ids: &[String]) -> Result<Vec<String>, sqlx::Error> {
    let placeholders = super::delivery::numbered(2, ids.len());
    let sql = format!(
        "UPDATE webhook_outbox SET fanned_out = 1 \
         WHERE id IN ({placeholders}) AND event_type = $1 AND fanned_out = 0 \
         RETURNING id, object, created_at"
    );
    let mut query = sqlx::query_as::<_, PlacedRow>(sqlx::AssertSqlSafe(sql)).bind(ORDER_PLACED);
    for id in ids {
        query = query.bind(id);
    }
    let mut placed = query.fetch_all(&mut **tx).await?;
    if placed.is_empty() {
        return Ok(Vec::new());
    }
    // RETURNING gives no order; the events follow the orders' times.
    placed.sort_by_key(|row| row.created_at);
    let mut events = Vec::new();
    for row in &placed {
        // Our own trigger wrote it, so this is a defect; one row must not hold up
        // every later event, so it is logged and left out.
        let order: PlacedOrder = match serde_json::from_str(&row.object) {
            Ok(order) => order,
            Err(err) => {
                tracing::error!(event = %row.id, error = %err, "unreadable order.placed outbox row; its events are not sent");
                continue;
            }
        };
        for (recipient, event_type) in order.events() {
            events.push((recipient.to_owned(), event_type, row));
        }
    }
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let listening = with_enabled_endpoint(tx, events.iter().map(|e| e.0.as_str())).await?;
    events.retain(|(recipient, _, _)| listening.contains(recipient));
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let new_ids: Vec<String> = events.iter().map(|_| crate::ids::new_id("evt")).collect();
    // Written fanned out: the caller fans them out in this same transaction, and a
    // row updated right after its insert would cost the outbox a second version and
    // its index entries for nothing.
    let values = (0..events.len())
        .map(|row| {
            let first = 1 + row * 5;
            let columns = super::delivery::numbered(first, 5);
            format!("({columns}, 1)")
        })
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "INSERT INTO webhook_outbox (id, user_id, event_type, object, created_at, fanned_out) \
         VALUES {values}"
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for (id, (recipient, event_type, row)) in new_ids.iter().zip(&events) {
        query = query
            .bind(id)
            .bind(recipient)
            .bind(*event_type)
            .bind(&row.object)
            .bind(row.created_at);
    }
    query.execute(&mut **tx).await?;
    Ok(new_ids)
}

/// Which of `users` have an enabled endpoint.
async fn with_enabled_endpoint<'a>(
    tx: &mut Tx,
    users: impl Iterator<Item = &'a str>,
) -> Result<BTreeSet<String>, sqlx::Error> {
    let users: BTreeSet<&str> = users.collect();
    let placeholders = super::delivery::numbered(1, users.len());
    let sql = format!(
        "SELECT DISTINCT user_id FROM webhook_endpoints \
         WHERE enabled = 1 AND user_id IN ({placeholders})"
    );
    let mut query = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql));
    for user in users {
        query = query.bind(user);
    }
    Ok(query.fetch_all(&mut **tx).await?.into_iter().collect())
}
