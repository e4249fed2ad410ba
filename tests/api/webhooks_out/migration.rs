//! Migration 0012 over an existing database: keys, grants and payouts made before it
//! stay as they were, and their next changes emit `allowance.low` and `payout.*`.
//! Migration 0025 over one: the allowance levels count each grant at its own rate.

use sqlx::Row;
use udam::db::Db;

use crate::common::{Backend, TestDb, fixtures};

crate::dual_backend_tests!(
    existing_keys_and_payouts_emit_after_0012,
    allowance_levels_count_each_grant_at_its_rate_after_0025,
);

/// (allowance, level) of a key in `webhook_allowance_levels`.
async fn level(db: &Db, key: &str) -> (i64, i64) {
    let row = sqlx::query(
        "SELECT CAST(allowance AS BIGINT) AS allowance, CAST(level AS BIGINT) AS level \
         FROM webhook_allowance_levels WHERE key_id = $1",
    )
    .bind(key)
    .fetch_one(db.pool())
    .await
    .expect("level");
    (
        row.try_get("allowance").expect("allowance"),
        row.try_get("level").expect("level"),
    )
}

async fn allowance_levels_count_each_grant_at_its_rate_after_0025(backend: Backend) {
    let test_db = TestDb::new(backend).await;
    let db = fixtures::connect_migrated_to(&test_db.url, 24).await;
    // A unit sold at 10 requests, then the listing raised to 100; 8 requests taken.
    buyer_and_seller_with_endpoints(&db).await;
    for sql in [
        "INSERT INTO listings (id, seller_id, service_name, description, unit_description, \
         price_cents, currency, available_units, status, api_key_sealed, api_key_key_id, \
         api_key_hint, created_at, updated_at, delivery, upstream_base_url, inject_header, \
         inject_template, requests_per_unit) VALUES ('lst_g', 'usr_s', 'Gw', '', 'call', 100, \
         'usd', 5, 'active', $1, 'k', 'h', 1, 1, 'gateway', 'https://up.example.com', \
         'authorization', 'Bearer {key}', 100)",
        "INSERT INTO orders (id, buyer_id, listing_id, seller_id, service_name, units, \
         unit_price_cents, total_cents, currency, status, payment_status, holds_units, \
         created_at, updated_at) VALUES ('ord_1', 'usr_b', 'lst_g', 'usr_s', 'Gw', 1, 100, \
         100, 'usd', 'fulfilled', 'deferred', 0, 1, 1)",
        "INSERT INTO grants (id, order_id, buyer_id, listing_id, seller_id, units, status, \
         created_at, requests_per_unit) VALUES ('tok_1', 'ord_1', 'usr_b', 'lst_g', 'usr_s', \
         1, 'active', 1, 10)",
        "INSERT INTO gateway_keys (id, buyer_id, listing_id, key_hash, key_hint, used_requests, \
         created_at) VALUES ('gwk_1', 'usr_b', 'lst_g', $1, 'udam_…', 8, 1)",
    ] {
        exec(&db, sql).await;
    }
    assert_eq!(
        level(&db, "gwk_1").await,
        (100, 0),
        "before: the listing's rate"
    );
    db.migrate().await.expect("0025 applies over existing rows");
    assert_eq!(
        level(&db, "gwk_1").await,
        (10, 80),
        "after: the grant's own rate"
    );
}

/// Runs `sql`, binding a stand-in ciphertext or hash to `$1` when it names one.
pub(super) async fn exec(db: &Db, sql: impl Into<String>) {
    let sql: String = sql.into();
    let query = sqlx::query(sqlx::AssertSqlSafe(sql.clone()));
    let query = if sql.contains("$1") {
        query.bind(vec![0u8; 4])
    } else {
        query
    };
    query
        .execute(db.writes())
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// A buyer `usr_b` and a seller `usr_s`, each with an enabled endpoint (`whe_b`,
/// `whe_s`; no subscriptions), written as SQL so that it fits any schema version.
pub(super) async fn buyer_and_seller_with_endpoints(db: &Db) {
    fixtures::insert_users(db.writes(), &["usr_b", "usr_s"]).await;
    exec(
        db,
        "INSERT INTO webhook_endpoints (id, user_id, url, description, enabled, secret_sealed, \
         secret_key_id, created_at, updated_at) VALUES \
         ('whe_b', 'usr_b', 'https://b.example.com/', '', 1, $1, 'k', 1, 1), \
         ('whe_s', 'usr_s', 'https://s.example.com/', '', 1, $1, 'k', 1, 1)",
    )
    .await;
}

async fn types(db: &Db) -> Vec<String> {
    sqlx::query("SELECT event_type FROM webhook_outbox ORDER BY seq")
        .fetch_all(db.pool())
        .await
        .expect("outbox")
        .iter()
        .map(|r| r.try_get("event_type").expect("type"))
        .collect()
}

async fn existing_keys_and_payouts_emit_after_0012(backend: Backend) {
    let test_db = TestDb::new(backend).await;
    let db = fixtures::connect_migrated_to(&test_db.url, 10).await;
    // A buyer with an endpoint, 17 of 20 gateway requests taken; a seller with an
    // endpoint and a pending payout.
    buyer_and_seller_with_endpoints(&db).await;
    exec(
        &db,
        "INSERT INTO listings (id, seller_id, service_name, description, unit_description, \
         price_cents, currency, available_units, status, api_key_sealed, api_key_key_id, \
         api_key_hint, created_at, updated_at, delivery, upstream_base_url, inject_header, \
         inject_template, requests_per_unit) VALUES ('lst_g', 'usr_s', 'Gw', '', 'call', 100, \
         'usd', 5, 'active', $1, 'k', 'h', 1, 1, 'gateway', 'https://up.example.com', \
         'authorization', 'Bearer {key}', 10)",
    )
    .await;
    exec(
        &db,
        "INSERT INTO orders (id, buyer_id, listing_id, seller_id, service_name, units, \
         unit_price_cents, total_cents, currency, status, payment_status, holds_units, \
         created_at, updated_at) VALUES ('ord_1', 'usr_b', 'lst_g', 'usr_s', 'Gw', 2, 100, \
         200, 'usd', 'fulfilled', 'deferred', 0, 1, 1)",
    )
    .await;
    exec(
        &db,
        "INSERT INTO grants (id, order_id, buyer_id, listing_id, seller_id, units, status, \
         created_at) VALUES ('tok_1', 'ord_1', 'usr_b', 'lst_g', 'usr_s', 2, 'active', 1)",
    )
    .await;
    exec(
        &db,
        "INSERT INTO gateway_keys (id, buyer_id, listing_id, key_hash, key_hint, used_requests, \
         created_at) VALUES ('gwk_1', 'usr_b', 'lst_g', $1, 'udam_…', 17, 1)",
    )
    .await;
    exec(
        &db,
        "INSERT INTO payouts (id, seller_id, currency, amount_cents, status, provider, \
         created_at, updated_at) VALUES ('po_1', 'usr_s', 'usd', 180, 'pending', 'dev', 1, 1)",
    )
    .await;
    let before = types(&db).await;

    db.migrate().await.expect("0012 applies over existing rows");
    let row = sqlx::query("SELECT used_requests FROM gateway_keys WHERE id = 'gwk_1'")
        .fetch_one(db.writes())
        .await
        .expect("key");
    assert_eq!(row.try_get::<i64, _>("used_requests").expect("used"), 17);
    assert_eq!(types(&db).await, before, "the upgrade itself emits nothing");

    // The next request taken (18 of 20) reaches 90 %; the payout is sent.
    exec(
        &db,
        "UPDATE gateway_keys SET used_requests = used_requests + 1 WHERE id = 'gwk_1'",
    )
    .await;
    exec(
        &db,
        "UPDATE payouts SET status = 'paid', provider_transfer_id = 'tr_1' WHERE id = 'po_1'",
    )
    .await;
    let after = types(&db).await;
    assert_eq!(after[before.len()..], ["allowance.low", "payout.paid"]);
    let object: String = sqlx::query(
        "SELECT object FROM webhook_outbox WHERE event_type = 'allowance.low' AND user_id = 'usr_b'",
    )
    .fetch_one(db.writes())
    .await
    .expect("event")
    .try_get("object")
    .expect("object");
    let object: serde_json::Value = serde_json::from_str(&object).expect("json");
    assert_eq!(
        (
            &object["threshold_percent"],
            &object["used"],
            &object["allowance"]
        ),
        (&90.into(), &18.into(), &20.into())
    );
}
