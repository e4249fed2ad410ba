//! Migration 0006 carries existing listings forward as `key` delivery.

use std::path::Path;

use sqlx::Row;

use crate::common::{Backend, TestDb, fixtures};

crate::dual_backend_tests!(existing_listings_become_key_delivery);

async fn existing_listings_become_key_delivery(backend: Backend) {
    let test_db = TestDb::new(backend).await;
    let db = fixtures::connect(&test_db.url).await;
    let folder = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(folder);
    let migrator = sqlx::migrate::Migrator::new(dir.as_path()).await.unwrap();
    // Every migration before the gateway's.
    migrator
        .run_to(5, db.pool())
        .await
        .expect("migrations before 0006");
    sqlx::query(
        "INSERT INTO users (id, email, password_hash, is_admin, created_at) \
         VALUES ('usr_s', 's@example.com', 'x', 0, 1)",
    )
    .execute(db.pool())
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO listings (id, seller_id, service_name, description, unit_description, \
         price_cents, currency, available_units, status, api_key_sealed, api_key_key_id, \
         api_key_hint, created_at, updated_at) VALUES \
         ('lst_old', 'usr_s', 'Old', '', 'call', 100, 'usd', 5, 'active', $1, 'k', 'h', 1, 1)",
    )
    .bind(vec![0u8; 4])
    .execute(db.pool())
    .await
    .unwrap();
    db.migrate().await.expect("0006 applies over existing rows");
    let row = sqlx::query(
        "SELECT delivery, meter, requests_per_unit, upstream_base_url FROM listings WHERE id = 'lst_old'",
    )
    .fetch_one(db.pool())
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
            .execute(db.pool())
            .await;
    assert!(refused.is_err());
}
