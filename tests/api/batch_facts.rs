//! The combined statement (PostgreSQL, `orders::purchase::batch::combined`): a
//! process writes purchases in one statement at the price, currency and seller it
//! remembers of their listing. These tests change the listing
//! under it and sell it out under it, and check that every order is
//! placed at the listing's facts of the moment and the journal agrees (the held lock
//! is `group_commit::a_held_lock_fails_a_known_listing_fast`). On SQLite the same
//! purchases run one at a time, priced from the facts the process remembers of the
//! listing, and a changed listing is found by the take refusing.

use reqwest::StatusCode;
use serde_json::json;

use crate::common::{
    Backend, Client, TestApp, assert_invariant as invariant, create_listing, fixtures,
    listing_body, order,
};

crate::dual_backend_tests!(
    purchases_follow_a_changed_listing,
    a_known_listing_sells_out_exactly,
);

/// A counter series of the app's `/metrics` (0 before its first count).
async fn counted(app: &TestApp, series: &str) -> f64 {
    let metrics = app.metrics.as_ref().expect("metrics listener");
    metrics.metric_sum(series).await
}

/// How many batches were written each way (`udam_purchase_batch_writes_total`).
async fn writes(app: &TestApp, way: &str) -> f64 {
    counted(
        app,
        &format!("udam_purchase_batch_writes_total{{way=\"{way}\"}}"),
    )
    .await
}

/// How many purchases read their listing first, and why
/// (`udam_purchase_listing_reads_total`).
async fn reads(app: &TestApp, why: &str) -> f64 {
    counted(
        app,
        &format!("udam_purchase_listing_reads_total{{why=\"{why}\"}}"),
    )
    .await
}

/// Buys one unit; returns the order's unit price.
async fn buy_one(client: &Client, buyer: &str, listing: &str) -> i64 {
    let r = order(client, buyer, listing, 1).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["order"]["status"], "fulfilled");
    r.body["order"]["unit_price_cents"].as_i64().expect("price")
}

/// A repriced, paused and resumed listing: each purchase is placed at the listing's
/// price of the moment, the buyer owes exactly the sum of the prices, and on
/// PostgreSQL every purchase went in one statement but those at stale facts, which
/// refused themselves and went the transaction way. On SQLite only the first
/// purchase and those after a change read the listing.
async fn purchases_follow_a_changed_listing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let seller = app.signup("seller@example.com").await;
    let buyer = app.signup("buyer@example.com").await;
    let listing = create_listing(&app, &seller, &listing_body("moving", 100, 50)).await;
    let path = format!("/api/v1/listings/{listing}");
    let mut paid = Vec::new();
    for _ in 0..3 {
        paid.push(buy_one(&app.client, &buyer, &listing).await);
    }
    let r = app
        .patch(&path, &json!({"price_cents": 150}), Some(&seller))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    for _ in 0..2 {
        paid.push(buy_one(&app.client, &buyer, &listing).await);
    }
    let r = app
        .patch(&path, &json!({"status": "paused"}), Some(&seller))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = order(&app.client, &buyer, &listing, 1).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.body);
    assert_eq!(r.error_code(), "listing_unavailable");
    let r = app
        .patch(
            &path,
            &json!({"status": "active", "price_cents": 90}),
            Some(&seller),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    paid.push(buy_one(&app.client, &buyer, &listing).await);
    assert_eq!(paid, vec![100, 100, 100, 150, 150, 90]);

    let owed = app.get("/api/v1/balance", Some(&buyer)).await.body["items"].clone();
    assert_eq!(owed, json!([{"currency": "usd", "owed_cents": 690}]));
    let stored = app
        .scalar(
            "SELECT CAST(SUM(total_cents) AS BIGINT) FROM orders WHERE listing_id = $1",
            &listing,
        )
        .await;
    assert_eq!(stored, 690);
    assert_eq!(invariant(app.database(), &listing, 50).await, (44, 6));
    if backend == Backend::Postgres {
        // One statement: the three at 100 (the first read the listing first), the
        // second at 150 and the one at 90 (read again after the pause forgot it).
        // Refused: the first after the reprice and the one while paused, each at
        // stale facts; their listing's transaction then bought at 150, and found the
        // listing paused (the purchase then ran one at a time and was told so).
        let ways = [
            writes(&app, "one_statement").await,
            writes(&app, "refused").await,
            writes(&app, "transaction").await,
        ];
        assert_eq!(
            ways,
            [5.0, 2.0, 2.0],
            "reads: {}, {}",
            reads(&app, "unknown").await,
            reads(&app, "refused").await
        );
    } else {
        // Read: the first purchase (nothing known), the first after the reprice and
        // the one refused while paused (each take refused at the remembered facts),
        // and the first after the resume (a paused listing is forgotten). The other
        // three were priced from what the process remembered.
        assert_eq!(reads(&app, "unknown").await, 2.0);
        assert_eq!(reads(&app, "refused").await, 2.0);
    }
    app.assert_ledger_clean().await;
}

/// 60 buyers race for the last 40 units of a listing whose facts the process knows:
/// exactly 40 are served, each charged once; a batch that wants more than is left
/// refuses itself and is served in arrival order by a transaction.
async fn a_known_listing_sells_out_exactly(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let seller = app.signup("seller@example.com").await;
    let first = app.signup("first@example.com").await;
    let listing = create_listing(&app, &seller, &listing_body("last", 3, 41)).await;
    buy_one(&app.client, &first, &listing).await;
    let buyers = fixtures::users(app.database(), "racer", 60).await;
    let outcomes = futures::future::join_all(buyers.iter().map(|buyer| async {
        let r = order(&app.client, buyer, &listing, 1).await;
        match r.status {
            StatusCode::CREATED => "fulfilled".to_owned(),
            _ => r.error_code().to_owned(),
        }
    }))
    .await;
    let fulfilled = outcomes.iter().filter(|o| *o == "fulfilled").count();
    let sold_out = outcomes
        .iter()
        .filter(|o| *o == "insufficient_units")
        .count();
    assert_eq!((fulfilled, sold_out), (40, 20), "{outcomes:?}");
    assert_eq!(invariant(app.database(), &listing, 41).await, (0, 41));
    let charged = app
        .scalar(
            "SELECT CAST(SUM(owed_cents) AS BIGINT) FROM balances WHERE currency = $1",
            "usd",
        )
        .await;
    assert_eq!(
        charged,
        41 * 3,
        "each served buyer charged once, nobody else"
    );
    if backend == Backend::Postgres {
        assert!(writes(&app, "one_statement").await + writes(&app, "refused").await >= 1.0);
    }
    app.assert_ledger_clean().await;
}
