//! Migration 0022 over an existing outbox: events written by the old trigger (three
//! rows per order) are fanned out as before, and a new order's one `order.placed`
//! row becomes the same three events, once.

use std::collections::BTreeSet;

use sqlx::Row;
use udam::db::Db;
use udam::webhooks::store::delivery::{Preclaim, claim, fan_out};

use super::migration::{buyer_and_seller_with_endpoints, exec};
use crate::common::{Backend, TestDb, fixtures};

crate::dual_backend_tests!(old_events_and_new_orders_fan_out_after_0022);

/// A fulfilled instant order of one unit of `lst_1`, bought by `usr_b` from `usr_s`.
fn order(id: &str) -> String {
    format!(
        "INSERT INTO orders (id, buyer_id, listing_id, seller_id, service_name, units, \
         unit_price_cents, total_cents, currency, status, payment_status, holds_units, \
         created_at, updated_at) VALUES ('{id}', 'usr_b', 'lst_1', 'usr_s', 'Data', 1, 100, \
         100, 'usd', 'fulfilled', 'deferred', 0, 1, 1)"
    )
}

/// (recipient, type, order) of every outbox event that is not an `order.placed` row.
async fn events(db: &Db) -> BTreeSet<(String, String, String)> {
    sqlx::query(
        "SELECT user_id, event_type, object FROM webhook_outbox \
         WHERE event_type <> 'order.placed'",
    )
    .fetch_all(db.pool())
    .await
    .expect("outbox")
    .iter()
    .map(|r| {
        let object: String = r.try_get("object").expect("object");
        let object: serde_json::Value = serde_json::from_str(&object).expect("json");
        (
            r.try_get("user_id").expect("user"),
            r.try_get("event_type").expect("type"),
            object["id"].as_str().expect("order id").to_owned(),
        )
    })
    .collect()
}

/// Up to `max` deliveries claimed as the fan-out writes them, leased until 1,000.
fn preclaim(max: usize) -> Preclaim {
    Preclaim {
        lease_until: 1_000,
        max,
    }
}

async fn count(db: &Db, sql: &'static str) -> i64 {
    sqlx::query(sql)
        .fetch_one(db.pool())
        .await
        .expect(sql)
        .try_get(0)
        .expect("count")
}

async fn old_events_and_new_orders_fan_out_after_0022(backend: Backend) {
    let test_db = TestDb::new(backend).await;
    let db = fixtures::connect_migrated_to(&test_db.url, 21).await;
    buyer_and_seller_with_endpoints(&db).await;
    exec(
        &db,
        "INSERT INTO webhook_subscriptions (endpoint_id, event_type) VALUES \
         ('whe_b', 'order.fulfilled'), ('whe_s', 'order.created'), ('whe_s', 'order.fulfilled')",
    )
    .await;
    exec(
        &db,
        "INSERT INTO listings (id, seller_id, service_name, description, unit_description, \
         price_cents, currency, available_units, status, api_key_sealed, api_key_key_id, \
         api_key_hint, created_at, updated_at) VALUES ('lst_1', 'usr_s', 'Data', '', 'call', \
         100, 'usd', 5, 'active', $1, 'k', 'h', 1, 1)",
    )
    .await;
    // Before 0022: three events for the order, not yet fanned out.
    exec(&db, order("ord_old")).await;
    let old = events(&db).await;
    assert_eq!(old.len(), 3, "{old:?}");

    db.migrate().await.expect("0022 applies over existing rows");
    assert_eq!(events(&db).await, old, "the upgrade changes no row");

    // After: one row for the new order, expanded by the fan-out into its events.
    exec(&db, order("ord_new")).await;
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM webhook_outbox WHERE event_type = 'order.placed'"
        )
        .await,
        1
    );
    // Two of the six deliveries are claimed as they are written; the claim finds
    // only the other four.
    let fanned = fan_out(&db, 100, 2, preclaim(2)).await.expect("fan-out");
    assert_eq!(fanned.taken, 4);
    assert_eq!(fanned.claimed.len(), 2);
    assert!(fanned.claimed.iter().all(|c| c.attempt == 1));
    let rest = claim(&db, 2, 1_000, 100).await.expect("claim");
    assert_eq!(rest.len(), 4);
    let mut ids: Vec<&str> = fanned
        .claimed
        .iter()
        .chain(&rest)
        .map(|c| c.id.as_str())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 6, "no delivery is claimed twice");
    let want: BTreeSet<(String, String, String)> = ["ord_old", "ord_new"]
        .into_iter()
        .flat_map(|order| {
            [
                ("usr_s", "order.created"),
                ("usr_s", "order.fulfilled"),
                ("usr_b", "order.fulfilled"),
            ]
            .map(|(user, kind)| (user.to_owned(), kind.to_owned(), order.to_owned()))
        })
        .collect();
    assert_eq!(events(&db).await, want);
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM webhook_outbox WHERE fanned_out = 0"
        )
        .await,
        0
    );
    // One delivery per subscribed (event, endpoint): the seller's four, the buyer's two.
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM webhook_deliveries WHERE endpoint_id = 'whe_s'"
        )
        .await,
        4
    );
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM webhook_deliveries WHERE endpoint_id = 'whe_b'"
        )
        .await,
        2
    );
    // Nothing is left to expand or fan out again.
    let again = fan_out(&db, 100, 3, preclaim(100)).await.expect("fan-out");
    assert_eq!((again.taken, again.claimed.len()), (0, 0));
    assert_eq!(events(&db).await.len(), 6);
    db.close().await;
}
