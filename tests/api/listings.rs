//! Listings: validation, ownership, status, browse and pagination, sealing, caching.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Row;
use udam::crypto::{KeyRing, Purpose};

use crate::common::process::ServerProcess;
use crate::common::{
    Backend, Client, ListingId, TEST_MASTER_KEYS, TestApp, TestDb, create_listing, listing_body,
    place_order,
};

crate::dual_backend_tests!(
    create_and_read_never_shows_the_key,
    every_field_is_validated,
    only_the_owner_or_an_admin_changes_a_listing,
    status_follows_units_pause_and_archive,
    browse_searches_sorts_and_filters,
    pagination_survives_concurrent_inserts,
    keys_are_sealed_bound_and_rotatable,
    etag_round_trip,
    writes_invalidate_other_processes,
    a_sale_changes_only_units_and_touches_no_index,
);

async fn create_and_read_never_shows_the_key(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let seller = app.signup("seller@example.com").await;
    let me = app.get("/api/v1/me", Some(&seller)).await;
    let r = app
        .post(
            "/api/v1/listings",
            &listing_body("weather", 250, 100),
            Some(&seller),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let l = &r.body;
    assert!(l["id"].as_str().unwrap().starts_with("lst_"));
    assert_eq!(l["seller_id"], me.body["id"]);
    assert_eq!(l["price_cents"], 250);
    assert_eq!(l["currency"], "usd");
    assert_eq!(l["available_units"], 100);
    assert_eq!(l["status"], "active");
    assert_eq!(l["api_key_hint"], "6789");
    assert!(!r.body.to_string().contains("sk_weather_secret"));

    let id = l["id"].as_str().unwrap();
    let public = app.get(&format!("/api/v1/listings/{id}"), None).await;
    assert_eq!(public.status, StatusCode::OK);
    assert_eq!(public.body["service_name"], "weather");
    assert!(!public.body.to_string().contains("sk_weather_secret"));
    assert_eq!(
        app.get("/api/v1/listings/lst_nope", None).await.status,
        StatusCode::NOT_FOUND
    );

    let anonymous = app
        .post("/api/v1/listings", &listing_body("x", 1, 1), None)
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);

    let defaults = app
        .post(
            "/api/v1/listings",
            &json!({"service_name": "Min", "price_cents": 0, "available_units": 0, "api_key": "k"}),
            Some(&seller),
        )
        .await;
    assert_eq!(defaults.status, StatusCode::CREATED);
    assert_eq!(defaults.body["currency"], "usd");
    assert_eq!(defaults.body["unit_description"], "per unit");
    assert_eq!(defaults.body["api_key_hint"], "****");
}

async fn every_field_is_validated(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let seller = app.signup("v@example.com").await;
    let base = listing_body("valid", 100, 10);
    let with = |field: &str, value: Value| {
        let mut b = base.clone();
        b[field] = value;
        b
    };
    let cases = [
        (with("service_name", json!("")), "service_name"),
        (with("service_name", json!("x".repeat(201))), "service_name"),
        (
            with("description", json!("d".repeat(10_001))),
            "description",
        ),
        (with("unit_description", json!("")), "unit_description"),
        (with("price_cents", json!(-1)), "price_cents"),
        (with("price_cents", json!(1.5)), "price_cents"),
        (with("price_cents", json!("100")), "price_cents"),
        (with("currency", json!("xyz")), "currency"),
        (with("available_units", json!(-1)), "available_units"),
        (
            with("available_units", json!(1_000_000_001i64)),
            "available_units",
        ),
        (with("api_key", json!("")), "api_key"),
        (with("api_key", json!("k".repeat(4097))), "api_key"),
        (with("surprise", json!(1)), "surprise"),
    ];
    for (body, field) in cases {
        let r = app.post("/api/v1/listings", &body, Some(&seller)).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field}: {:?}",
            r.body
        );
        assert_eq!(r.body["error"]["field"], field, "{:?}", r.body);
    }
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM listings WHERE $1 = $1", "")
            .await,
        0
    );
    let ok = app
        .post(
            "/api/v1/listings",
            &with("currency", json!("JPY")),
            Some(&seller),
        )
        .await;
    assert_eq!(ok.status, StatusCode::CREATED);
    assert_eq!(ok.body["currency"], "jpy");
    let id = ok.body["id"].as_str().unwrap();
    let bad_patch = app
        .patch(
            &format!("/api/v1/listings/{id}"),
            &json!({"status": "archived"}),
            Some(&seller),
        )
        .await;
    assert_eq!(bad_patch.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad_patch.body["error"]["field"], "status");
}

async fn only_the_owner_or_an_admin_changes_a_listing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let seller = app.signup("owner@example.com").await;
    let other = app.signup("other@example.com").await;
    let id = create_listing(&app, &seller, &listing_body("owned", 100, 10)).await;
    let path = format!("/api/v1/listings/{id}");
    let before = app.get(&path, None).await.body;

    let r = app
        .patch(&path, &json!({"price_cents": 1}), Some(&other))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.error_code(), "forbidden");
    assert_eq!(
        app.delete(&path, Some(&other)).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.patch(&path, &json!({"price_cents": 1}), None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.delete(&path, None).await.status,
        StatusCode::UNAUTHORIZED
    );
    let after = app.get(&path, None).await.body;
    assert_eq!(
        before, after,
        "a refused change leaves the listing as it was"
    );

    let r = app
        .patch(
            &path,
            &json!({"price_cents": 175, "description": "new text"}),
            Some(&seller),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["price_cents"], 175);
    assert_eq!(r.body["description"], "new text");
    assert_eq!(r.body["available_units"], 10, "untouched fields stay");

    sqlx::query("UPDATE users SET is_admin = 1 WHERE email = 'other@example.com'")
        .execute(app.database().writes())
        .await
        .unwrap();
    let r = app
        .patch(&path, &json!({"status": "paused"}), Some(&other))
        .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "an administrator may change any listing"
    );
    assert_eq!(r.body["status"], "paused");
}

async fn status_follows_units_pause_and_archive(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let seller = app.signup("s@example.com").await;
    let id = create_listing(&app, &seller, &listing_body("empty", 100, 0)).await;
    let path = format!("/api/v1/listings/{id}");
    assert_eq!(app.get(&path, None).await.body["status"], "sold_out");
    let r = app
        .patch(&path, &json!({"available_units": 5}), Some(&seller))
        .await;
    assert_eq!(r.body["status"], "active");
    let browse = |app: &TestApp| {
        let app = app.client.clone();
        async move {
            app.get("/api/v1/listings", None).await.body["items"]
                .as_array()
                .unwrap()
                .len()
        }
    };
    assert_eq!(browse(&app).await, 1);
    app.patch(&path, &json!({"status": "paused"}), Some(&seller))
        .await;
    assert_eq!(browse(&app).await, 0, "paused listings leave browse");
    app.patch(&path, &json!({"status": "active"}), Some(&seller))
        .await;
    assert_eq!(browse(&app).await, 1);
    assert_eq!(
        app.delete(&path, Some(&seller)).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(browse(&app).await, 0, "archived listings leave browse");
    assert_eq!(
        app.get(&path, None).await.status,
        StatusCode::NOT_FOUND,
        "archived is gone"
    );
    let r = app
        .patch(&path, &json!({"status": "active"}), Some(&seller))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.error_code(), "listing_archived");
}

async fn browse_searches_sorts_and_filters(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let a = app.signup("a@example.com").await;
    let b = app.signup("b@example.com").await;
    create_listing(&app, &a, &listing_body("Weather", 300, 5)).await;
    create_listing(&app, &a, &listing_body("Stocks", 100, 5)).await;
    create_listing(&app, &b, &listing_body("Weather-Pro_100%", 200, 5)).await;
    // Distinct creation times, so "newest first" has one right answer.
    for (i, name) in ["Weather", "Stocks", "Weather-Pro_100%"].iter().enumerate() {
        sqlx::query("UPDATE listings SET created_at = $1 WHERE service_name = $2")
            .bind(1_000_000 + i as i64)
            .bind(*name)
            .execute(app.database().writes())
            .await
            .unwrap();
    }
    let names = |r: &crate::common::Resp| -> Vec<String> {
        r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["service_name"].as_str().unwrap().to_owned())
            .collect()
    };
    let r = app.get("/api/v1/listings?sort=price_asc", None).await;
    assert_eq!(names(&r), ["Stocks", "Weather-Pro_100%", "Weather"]);
    let r = app.get("/api/v1/listings?sort=price_desc", None).await;
    assert_eq!(names(&r), ["Weather", "Weather-Pro_100%", "Stocks"]);
    let r = app.get("/api/v1/listings", None).await;
    assert_eq!(
        names(&r),
        ["Weather-Pro_100%", "Stocks", "Weather"],
        "newest first"
    );
    let r = app.get("/api/v1/listings?q=WEATHER", None).await;
    assert_eq!(names(&r).len(), 2);
    let r = app.get("/api/v1/listings?q=100%25", None).await;
    assert_eq!(names(&r), ["Weather-Pro_100%"], "% is matched literally");
    let r = app.get("/api/v1/listings?q=_", None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(names(&r).is_empty(), "punctuation alone is no word");
    let seller_b = app.get("/api/v1/me", Some(&b)).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .get(&format!("/api/v1/listings?seller_id={seller_b}"), None)
        .await;
    assert_eq!(names(&r), ["Weather-Pro_100%"]);
    for bad in [
        "limit=0",
        "limit=101",
        "limit=x",
        "sort=cheap",
        "cursor=zzz",
    ] {
        let r = app.get(&format!("/api/v1/listings?{bad}"), None).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert_eq!(r.error_code(), "validation_failed");
    }
}

async fn pagination_survives_concurrent_inserts(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let seller = app.signup("p@example.com").await;
    let mut initial = HashSet::new();
    for i in 0..30 {
        initial.insert(
            create_listing(&app, &seller, &listing_body(&format!("svc{i}"), i % 7, 1))
                .await
                .to_string(),
        );
    }
    for sort in ["newest", "price_asc", "price_desc"] {
        let inserter = {
            let client = app.client.clone();
            let seller = seller.clone();
            tokio::spawn(async move {
                for i in 0..10 {
                    create_listing(
                        &client,
                        &seller,
                        &listing_body(&format!("new{sort}{i}"), 3, 1),
                    )
                    .await;
                }
            })
        };
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("/api/v1/listings?limit=7&sort={sort}&cursor={c}"),
                None => format!("/api/v1/listings?limit=7&sort={sort}"),
            };
            let r = app.get(&path, None).await;
            assert_eq!(r.status, StatusCode::OK);
            for item in r.body["items"].as_array().unwrap() {
                seen.push(item["id"].as_str().unwrap().to_owned());
            }
            match r.body["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        inserter.await.unwrap();
        let unique: HashSet<_> = seen.iter().cloned().collect();
        assert_eq!(
            unique.len(),
            seen.len(),
            "{sort}: no item repeats across pages"
        );
        assert!(
            initial.is_subset(&unique),
            "{sort}: no pre-existing item is skipped"
        );
    }
}

async fn keys_are_sealed_bound_and_rotatable(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let seller = app.signup("k@example.com").await;
    let one = create_listing(&app, &seller, &listing_body("one", 1, 1)).await;
    let two = create_listing(&app, &seller, &listing_body("two", 1, 1)).await;
    let pool = app.database().writes();
    let raw = |id: ListingId| async move {
        let row = sqlx::query("SELECT api_key_key_id, api_key_sealed FROM listings WHERE id = $1")
            .bind(id.to_string())
            .fetch_one(pool)
            .await
            .unwrap();
        (
            row.try_get::<String, _>(0).unwrap(),
            row.try_get::<Vec<u8>, _>(1).unwrap(),
        )
    };
    let (key_id, blob) = raw(one.clone()).await;
    assert_eq!(key_id, "test1");
    let plaintext = b"sk_one_secret_0123456789";
    assert!(
        !blob.windows(plaintext.len()).any(|w| w == plaintext),
        "no plaintext at rest"
    );
    let ring = KeyRing::parse(TEST_MASTER_KEYS).unwrap();
    let opened = ring
        .open(Purpose::ListingApiKey, &one, &key_id, &blob)
        .unwrap();
    assert_eq!(opened.expose(), "sk_one_secret_0123456789");
    assert!(
        ring.open(Purpose::ListingApiKey, &two, &key_id, &blob)
            .is_err(),
        "bound to its row"
    );
    let mut altered = blob.clone();
    let last = altered.len() - 1;
    altered[last] ^= 1;
    assert!(
        ring.open(Purpose::ListingApiKey, &one, &key_id, &altered)
            .is_err()
    );
    assert!(
        ring.open(Purpose::ListingApiKey, &one, "gone", &blob)
            .is_err()
    );

    // Copy one's ciphertext onto two's row: two's key must now fail to open.
    sqlx::query("UPDATE listings SET api_key_sealed = $1 WHERE id = $2")
        .bind(blob.clone())
        .bind(two.as_str())
        .execute(pool)
        .await
        .unwrap();
    let (k2, b2) = raw(two.clone()).await;
    assert!(ring.open(Purpose::ListingApiKey, &two, &k2, &b2).is_err());

    // Rotation: a new key in front; every row re-sealed under it and still readable.
    let new_spec = udam::crypto::generate_key_spec("k2").unwrap();
    let rotated = KeyRing::parse(&format!("{new_spec},{TEST_MASTER_KEYS}")).unwrap();
    let report = udam::listings::rotate::rotate_all(app.database(), &rotated, false)
        .await
        .unwrap();
    assert_eq!(report.resealed, 1);
    assert_eq!(
        report.failed, 1,
        "the swapped row cannot be opened and is left alone"
    );
    let (key_id, blob) = raw(one.clone()).await;
    assert_eq!(key_id, "k2");
    assert_eq!(
        rotated
            .open(Purpose::ListingApiKey, &one, &key_id, &blob)
            .unwrap()
            .expose(),
        "sk_one_secret_0123456789"
    );
    let again = udam::listings::rotate::rotate_all(app.database(), &rotated, false)
        .await
        .unwrap();
    assert_eq!(again.resealed, 0, "a second run has nothing left to do");
}

async fn etag_round_trip(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let seller = app.signup("e@example.com").await;
    let id = create_listing(&app, &seller, &listing_body("etag", 100, 3)).await;
    for path in [
        "/api/v1/listings".to_owned(),
        format!("/api/v1/listings/{id}"),
    ] {
        let first = app.get(&path, None).await;
        let etag = first.header("etag").expect("etag").to_owned();
        let again = app
            .send(
                app.http
                    .get(format!("{}{path}", app.base))
                    .header("if-none-match", &etag),
            )
            .await;
        assert_eq!(again.status, StatusCode::NOT_MODIFIED, "{path}");
        app.patch(
            &format!("/api/v1/listings/{id}"),
            &json!({"price_cents": 101 + etag.len() as i64}),
            Some(&seller),
        )
        .await;
        let changed = app
            .send(
                app.http
                    .get(format!("{}{path}", app.base))
                    .header("if-none-match", &etag),
            )
            .await;
        assert_eq!(
            changed.status,
            StatusCode::OK,
            "{path}: a write invalidates"
        );
        assert_ne!(changed.header("etag").unwrap(), etag);
    }
}

async fn writes_invalidate_other_processes(backend: Backend) {
    let db = TestDb::new(backend).await;
    let one = ServerProcess::start(&db.url, &[], &[]).await;
    let two = ServerProcess::start(&db.url, &[], &[]).await;
    let seller = one.signup("x@example.com").await;
    let id = create_listing(&one, &seller, &listing_body("cross", 100, 3)).await;
    let path = format!("/api/v1/listings/{id}");
    // Warm server two's cache for the listing and the first page.
    assert_eq!(two.get(&path, None).await.body["price_cents"], 100);
    assert_eq!(
        two.get("/api/v1/listings", None).await.body["items"][0]["price_cents"],
        100
    );
    let written = Instant::now();
    let r = one
        .patch(&path, &json!({"price_cents": 555}), Some(&seller))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    poll_shown(&two, &path, "price_cents", 555, written).await;
    // The stated bound is one poll interval (250 ms) plus a query; allow for a slow CI.
    assert!(
        written.elapsed() < Duration::from_millis(1500),
        "took {:?}",
        written.elapsed()
    );
    // A sale leaves `updated_at` alone; server two finds it through its order.
    let buyer = one.signup("buyer@example.com").await;
    let sold = Instant::now();
    place_order(&one, &buyer, &id, 1).await;
    poll_shown(&two, &path, "available_units", 2, sold).await;
    assert!(
        sold.elapsed() < Duration::from_millis(1500),
        "took {:?}",
        sold.elapsed()
    );
}

/// Polls the listing at `path` on `server`, and the first page, until both show
/// `field` at `value` (at most 2 s from `since`).
async fn poll_shown(server: &Client, path: &str, field: &str, value: i64, since: Instant) {
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    loop {
        tick.tick().await;
        let detail = server.get(path, None).await.body[field].clone();
        let page = server.get("/api/v1/listings", None).await.body["items"][0][field].clone();
        if detail == value && page == value {
            return;
        }
        assert!(
            since.elapsed() < Duration::from_secs(2),
            "still stale: {field} shown as {detail} and {page}, not {value}"
        );
    }
}

/// A sale takes units and changes nothing else of its listing (`updated_at` stays:
/// it means the seller's last change). On PostgreSQL each sale's update of the
/// listing is a heap-only (HOT) update, which writes no index entry (migration
/// 0024): the table's statistics, flushed when the server's connections end, count
/// every update as HOT. A sale that sells out the listing changes the in-stock flag,
/// which is indexed, so the listing keeps units here.
async fn a_sale_changes_only_units_and_touches_no_index(backend: Backend) {
    const SALES: i64 = 6;
    let db = TestDb::new(backend).await;
    let server = ServerProcess::start(&db.url, &[], &[]).await;
    let seller = server.signup("seller@example.com").await;
    let buyer = server.signup("buyer@example.com").await;
    let id = create_listing(&server, &seller, &listing_body("hot", 100, 50)).await;
    let path = format!("/api/v1/listings/{id}");
    let before = server.get(&path, None).await.body;
    for _ in 0..SALES {
        place_order(&server, &buyer, &id, 1).await;
    }
    let after = server.get(&path, Some(&seller)).await.body;
    assert_eq!(after["available_units"], 50 - SALES);
    assert_eq!(after["updated_at"], before["updated_at"]);
    assert!(server.terminate().await, "the server exits cleanly");
    if backend != Backend::Postgres {
        return;
    }
    let conn = udam::db::Db::connect(&db.url, 1).await.expect("connect");
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    let (updates, hot) = loop {
        tick.tick().await;
        let row = sqlx::query(
            "SELECT CAST(n_tup_upd AS BIGINT) AS updates, \
             CAST(n_tup_hot_upd AS BIGINT) AS hot \
             FROM pg_stat_user_tables WHERE relname = 'listings'",
        )
        .fetch_one(conn.pool())
        .await
        .expect("statistics");
        let updates: i64 = row.try_get("updates").unwrap();
        if updates >= SALES || Instant::now() > deadline {
            break (updates, row.try_get::<i64, _>("hot").unwrap());
        }
    };
    assert_eq!(updates, SALES, "one update of the listing per sale");
    assert_eq!(hot, SALES, "every sale's update of its listing is HOT");
}
