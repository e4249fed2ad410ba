//! Migration 0024 over existing listings: the in-stock filter moves to the
//! generated `in_stock` column and sales stop moving `updated_at`. A database left
//! by the previous release (migrations up to 0023) keeps every listing as it was,
//! and browsing and searching in stock list exactly the listings that have units.

use reqwest::StatusCode;
use sqlx::Row;

use crate::common::{Backend, TestApp, TestDb, fixtures};

crate::dual_backend_tests!(in_stock_listings_stay_found_after_0024);

/// Ids of `path`'s listings, in the order listed.
async fn listed(app: &TestApp, path: &str) -> Vec<String> {
    let r = app.get(path, None).await;
    assert_eq!(r.status, StatusCode::OK, "{path}: {:?}", r.body);
    r.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|l| l["id"].as_str().expect("id").to_owned())
        .collect()
}

async fn in_stock_listings_stay_found_after_0024(backend: Backend) {
    let test_db = TestDb::new(backend).await;
    let db = fixtures::connect_migrated_to(&test_db.url, 23).await;
    fixtures::insert_users(db.writes(), &["usr_s"]).await;
    // (id, units, created_at, updated_at): one sold out between two in stock.
    let rows = [
        ("lst_full", 5, 10, 17),
        ("lst_gone", 0, 20, 28),
        ("lst_last", 1, 30, 31),
    ];
    for (id, units, created, updated) in rows {
        sqlx::query(
            "INSERT INTO listings (id, seller_id, service_name, description, \
             unit_description, price_cents, currency, available_units, status, \
             api_key_sealed, api_key_key_id, api_key_hint, created_at, updated_at) VALUES \
             ($1, 'usr_s', 'Tide gauge', 'sea level', 'call', 100, 'usd', $2, 'active', \
             $3, 'k', 'h', $4, $5)",
        )
        .bind(id)
        .bind(units)
        .bind(vec![0u8; 4])
        .bind(created)
        .bind(updated)
        .execute(db.writes())
        .await
        .unwrap();
    }
    db.migrate().await.expect("0024 applies over existing rows");
    for (id, units, created, updated) in rows {
        let row = sqlx::query(
            "SELECT available_units, created_at, updated_at, \
             CAST(CASE WHEN in_stock THEN 1 ELSE 0 END AS BIGINT) AS in_stock FROM listings WHERE id = $1",
        )
        .bind(id)
        .fetch_one(db.pool())
        .await
        .unwrap();
        let read: (i64, i64, i64, i64) = (
            row.try_get("available_units").unwrap(),
            row.try_get("created_at").unwrap(),
            row.try_get("updated_at").unwrap(),
            row.try_get("in_stock").unwrap(),
        );
        assert_eq!(
            read,
            (units, created, updated, i64::from(units > 0)),
            "{id}"
        );
    }
    drop(db);
    let app = TestApp::spawn_on(test_db, &[]).await;
    let in_stock = vec!["lst_last".to_owned(), "lst_full".to_owned()];
    assert_eq!(
        listed(&app, "/api/v1/listings?in_stock=true").await,
        in_stock
    );
    assert_eq!(
        listed(&app, "/api/v1/listings?in_stock=true&q=tide").await,
        in_stock
    );
    assert_eq!(listed(&app, "/api/v1/listings").await.len(), 3);
}
