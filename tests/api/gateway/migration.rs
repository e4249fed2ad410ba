//! Migration 0006 carries existing listings forward as `key` delivery; migration 0013
//! carries gateway listings and their sold grants forward unchanged.

use std::path::Path;

use sqlx::Row;

use crate::common::{Backend, TestDb, fixtures};

crate::dual_backend_tests!(
    existing_listings_become_key_delivery,
    gateway_grants_sold_before_0013_keep_their_allowance,
);

/// The migrator of the backend's folder.
async fn migrator(backend: Backend) -> sqlx::migrate::Migrator {
    let folder = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(folder);
    sqlx::migrate::Migrator::new(dir.as_path()).await.unwrap()
}

async fn gateway_grants_sold_before_0013_keep_their_allowance(backend: Backend) {
    let test_db = TestDb::new(backend).await;
    let db = fixtures::connect(&test_db.url).await;
    // Every migration before 0013.
    migrator(backend)
        .await
        .run_to(12, db.writes())
        .await
        .expect("migrations before 0013");
    fixtures::insert_users(db.writes(), &["usr_s", "usr_b"]).await;
    for sql in [
        "INSERT INTO listings (id, seller_id, service_name, description, unit_description, \
         price_cents, currency, available_units, status, api_key_sealed, api_key_key_id, \
         api_key_hint, created_at, updated_at, delivery, upstream_base_url, inject_header, \
         inject_template, requests_per_unit, meter) VALUES \
         ('lst_gw', 'usr_s', 'Old gateway', '', 'call', 100, 'usd', 5, 'active', $1, 'k', 'h', \
          1, 1, 'gateway', 'https://api.example.com', 'Authorization', 'Bearer {key}', 10, 'all')",
        "INSERT INTO orders (id, buyer_id, listing_id, seller_id, service_name, units, \
         unit_price_cents, total_cents, currency, status, payment_status, holds_units, \
         created_at, updated_at) VALUES ('ord_1', 'usr_b', 'lst_gw', 'usr_s', 'Old gateway', \
         3, 100, 300, 'usd', 'fulfilled', 'deferred', 1, 1, 1)",
        "INSERT INTO grants (id, order_id, buyer_id, listing_id, seller_id, units, status, \
         created_at) VALUES ('tok_1', 'ord_1', 'usr_b', 'lst_gw', 'usr_s', 3, 'active', 1)",
        "INSERT INTO gateway_keys (id, buyer_id, listing_id, key_hash, key_hint, \
         used_requests, created_at) VALUES ('gwk_1', 'usr_b', 'lst_gw', $1, 'udam_…abcd', 7, 1)",
    ] {
        sqlx::query(sql)
            .bind(vec![1u8; 32])
            .execute(db.writes())
            .await
            .unwrap();
    }
    db.migrate().await.expect("0013 applies over existing rows");
    let key = udam::gateway::store::key_of(&db, "usr_b", "lst_gw")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((key.used_requests, key.allowed_requests), (7, 30));
    let extras = udam::listings::store::gateway_extras(&db, "lst_gw")
        .await
        .unwrap();
    assert_eq!(extras.rate_limit_per_minute, None);
    assert_eq!(extras.route_costs, None);
    let row = sqlx::query("SELECT requests_per_unit FROM grants WHERE id = 'tok_1'")
        .fetch_one(db.writes())
        .await
        .unwrap();
    assert_eq!(
        row.try_get::<Option<i64>, _>("requests_per_unit").unwrap(),
        None
    );
}

async fn existing_listings_become_key_delivery(backend: Backend) {
    let test_db = TestDb::new(backend).await;
    // Every migration before the gateway's.
    let db = fixtures::connect_migrated_to(&test_db.url, 5).await;
    fixtures::insert_users(db.writes(), &["usr_s"]).await;
    sqlx::query(
        "INSERT INTO listings (id, seller_id, service_name, description, unit_description, \
         price_cents, currency, available_units, status, api_key_sealed, api_key_key_id, \
         api_key_hint, created_at, updated_at) VALUES \
         ('lst_old', 'usr_s', 'Old', '', 'call', 100, 'usd', 5, 'active', $1, 'k', 'h', 1, 1)",
    )
    .bind(vec![0u8; 4])
    .execute(db.writes())
    .await
    .unwrap();
    db.migrate().await.expect("0006 applies over existing rows");
    let row = sqlx::query(
        "SELECT delivery, meter, requests_per_unit, upstream_base_url FROM listings WHERE id = 'lst_old'",
    )
    .fetch_one(db.writes())
    .await
    .unwrap();
    assert_eq!(row.try_get::<String, _>("delivery").unwrap(), "key");
    assert_eq!(row.try_get::<String, _>("meter").unwrap(), "all");
    assert_eq!(
        row.try_get::<Option<i64>, _>("requests_per_unit").unwrap(),
        None
    );
    assert_eq!(
        row.try_get::<Option<String>, _>("upstream_base_url")
            .unwrap(),
        None
    );
    let listing = udam::listings::store::get(&db, "lst_old")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(listing.delivery, udam::vocab::Delivery::Key);
    // A gateway value the vocabulary does not hold is refused by the database.
    let refused =
        sqlx::query("UPDATE listings SET delivery = 'carrier_pigeon' WHERE id = 'lst_old'")
            .execute(db.writes())
            .await;
    assert!(refused.is_err());
}
