//! Proofs for the group-commit purchase path: many buyers of one hot listing at
//! once, so that on PostgreSQL their purchases are combined into shared
//! transactions. Each test checks the exact counts a user would see, the
//! invariant (units held by orders + units left = units listed, never below
//! zero, one grant per fulfilled order), every buyer's balance against the
//! unpaid cap, and, on PostgreSQL, that purchases really did share transactions.
//! On SQLite the same races run through the one-at-a-time path.

use std::collections::HashMap;

use futures::future::join_all;
use reqwest::StatusCode;
use sqlx::Row;

use crate::common::fixtures;
use crate::common::process::ServerProcess;
use crate::common::{
    Backend, Client, TestApp, TestDb, assert_invariant as invariant, create_listing, listing_body,
    order,
};

crate::dual_backend_tests!(
    hot_listing_more_buyers_than_units,
    batch_keeps_every_buyers_cap,
    one_buyer_racing_its_own_cap,
    three_processes_on_one_hot_listing,
    same_buyers_everywhere_never_deadlock,
);

/// On PostgreSQL: how many transactions wrote the listing's fulfilled orders.
/// Orders committed together share their inserting transaction id (`xmin`).
async fn transactions_of_fulfilled(db: &udam::db::Db, listing: &str) -> i64 {
    sqlx::query(
        "SELECT COUNT(DISTINCT CAST(xmin AS TEXT)) FROM orders \
         WHERE listing_id = $1 AND status = 'fulfilled'",
    )
    .bind(listing)
    .fetch_one(db.pool())
    .await
    .unwrap()
    .try_get(0)
    .unwrap()
}

/// Fires one 1-unit order per token, all at once; returns each outcome in token
/// order (the order status, or the error code).
async fn race(clients: &[Client], tokens: &[String], listing: &str) -> Vec<String> {
    let attempts = tokens.iter().enumerate().map(|(i, token)| {
        let client = clients[i % clients.len()].clone();
        let token = token.clone();
        let listing = listing.to_owned();
        async move {
            let r = order(&client, &token, &listing, 1).await;
            match r.status {
                StatusCode::CREATED => r.body["order"]["status"].as_str().unwrap().to_owned(),
                _ => r.error_code().to_owned(),
            }
        }
    });
    join_all(attempts).await
}

fn tally(outcomes: &[String]) -> HashMap<&str, usize> {
    let mut counts = HashMap::new();
    for o in outcomes {
        *counts.entry(o.as_str()).or_insert(0) += 1;
    }
    counts
}

/// The user id behind a fixture token.
async fn user_of(db: &udam::db::Db, token: &str) -> String {
    sqlx::query("SELECT user_id FROM sessions WHERE token_hash = $1")
        .bind(udam::accounts::sessions::hash_token(token))
        .fetch_one(db.pool())
        .await
        .unwrap()
        .try_get(0)
        .unwrap()
}

/// What a user owes in usd (0 without a balance row).
async fn owed(db: &udam::db::Db, user: &str) -> i64 {
    sqlx::query(
        "SELECT CAST(COALESCE(SUM(owed_cents), 0) AS BIGINT) FROM balances \
         WHERE user_id = $1 AND currency = 'usd'",
    )
    .bind(user)
    .fetch_one(db.pool())
    .await
    .unwrap()
    .try_get(0)
    .unwrap()
}

/// 150 distinct buyers race for 100 units: whole batches succeed until one wants
/// more than is left; that one falls back to one-at-a-time purchases, which sell
/// exactly the rest.
async fn hot_listing_more_buyers_than_units(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let seller = app.signup("seller@example.com").await;
    let listing = create_listing(&app, &seller, &listing_body("hot", 1, 100)).await;
    let buyers = fixtures::users(app.database(), "b", 150).await;
    let outcomes = race(std::slice::from_ref(&app.client), &buyers, &listing).await;
    let counts = tally(&outcomes);
    assert_eq!(counts.get("fulfilled"), Some(&100), "{counts:?}");
    assert_eq!(counts.get("insufficient_units"), Some(&50), "{counts:?}");
    assert_eq!(invariant(app.database(), &listing, 100).await, (0, 100));
    // Each fulfilled buyer owes exactly one unit's price, and nobody else owes.
    for (token, outcome) in buyers.iter().zip(&outcomes) {
        let user = user_of(app.database(), token).await;
        let expected = if outcome == "fulfilled" { 1 } else { 0 };
        assert_eq!(owed(app.database(), &user).await, expected, "{outcome}");
    }
    // Every order answered 201 is stored, with the listing's data.
    let stored = app
        .scalar(
            "SELECT COUNT(*) FROM orders WHERE listing_id = $1 AND status = 'fulfilled' \
             AND units = 1 AND unit_price_cents = 1 AND total_cents = 1 AND currency = 'usd' \
             AND payment_status = 'deferred'",
            &listing,
        )
        .await;
    assert_eq!(stored, 100);
    if backend == Backend::Postgres {
        let txs = transactions_of_fulfilled(app.database(), &listing).await;
        assert!(
            txs < 100,
            "150 concurrent buyers must share transactions; {txs} transactions wrote 100 orders"
        );
    }
}

/// A batch charges every buyer's balance through the cap check: buyers already
/// near their cap are sent to checkout, the others are fulfilled, and no balance
/// ever passes the cap.
async fn batch_keeps_every_buyers_cap(backend: Backend) {
    let app = TestApp::spawn_with(backend, &["--unpaid-cap-cents", "300"]).await;
    let seller = app.signup("seller@example.com").await;
    let listing = create_listing(&app, &seller, &listing_body("capped", 100, 100)).await;
    let buyers = fixtures::users(app.database(), "b", 40).await;
    let mut users = Vec::new();
    for token in &buyers {
        users.push(user_of(app.database(), token).await);
    }
    // Every other buyer already owes 250 of the 300 allowed: one more unit at 100
    // would pass the cap.
    for user in users.iter().step_by(2) {
        sqlx::query("INSERT INTO balances (user_id, currency, owed_cents) VALUES ($1, 'usd', 250)")
            .bind(user)
            .execute(app.database().pool())
            .await
            .unwrap();
    }
    let outcomes = race(std::slice::from_ref(&app.client), &buyers, &listing).await;
    for (i, (user, outcome)) in users.iter().zip(&outcomes).enumerate() {
        let near_cap = i % 2 == 0;
        let expected = if near_cap {
            "pending_payment"
        } else {
            "fulfilled"
        };
        assert_eq!(outcome, expected, "buyer {i}");
        let expected_owed = if near_cap { 250 } else { 100 };
        assert_eq!(owed(app.database(), user).await, expected_owed, "buyer {i}");
    }
    // Pending orders hold their units too: 40 units taken in all.
    assert_eq!(invariant(app.database(), &listing, 100).await, (60, 40));
}

/// One buyer fires 12 purchases at once with room under the cap for exactly 3:
/// exactly 3 are fulfilled and owed, the other 9 go to checkout, and the balance
/// ends exactly at the cap.
async fn one_buyer_racing_its_own_cap(backend: Backend) {
    let app = TestApp::spawn_with(backend, &["--unpaid-cap-cents", "300"]).await;
    let seller = app.signup("seller@example.com").await;
    let listing = create_listing(&app, &seller, &listing_body("mine", 100, 50)).await;
    let buyer = fixtures::users(app.database(), "b", 1).await;
    let user = user_of(app.database(), &buyer[0]).await;
    let tokens = vec![buyer[0].clone(); 12];
    let outcomes = race(std::slice::from_ref(&app.client), &tokens, &listing).await;
    let counts = tally(&outcomes);
    assert_eq!(counts.get("fulfilled"), Some(&3), "{counts:?}");
    assert_eq!(counts.get("pending_payment"), Some(&9), "{counts:?}");
    assert_eq!(owed(app.database(), &user).await, 300);
    assert_eq!(invariant(app.database(), &listing, 50).await, (38, 12));
}

/// Three server processes, each combining its own purchases, race 240 distinct
/// buyers for 150 units of one listing: exactly 150 are sold.
async fn three_processes_on_one_hot_listing(backend: Backend) {
    let db = TestDb::new(backend).await;
    let servers = [
        ServerProcess::start(&db.url, &[], &[]).await,
        ServerProcess::start(&db.url, &[], &[]).await,
        ServerProcess::start(&db.url, &[], &[]).await,
    ];
    let clients: Vec<Client> = servers.iter().map(|s| s.client.clone()).collect();
    let seller = clients[0].signup("seller@example.com").await;
    let listing = create_listing(&clients[0], &seller, &listing_body("drop", 1, 150)).await;
    let pool = fixtures::connect(&db.url).await;
    let buyers = fixtures::users(&pool, "b", 240).await;
    let outcomes = race(&clients, &buyers, &listing).await;
    let counts = tally(&outcomes);
    assert_eq!(counts.get("fulfilled"), Some(&150), "{counts:?}");
    assert_eq!(counts.get("insufficient_units"), Some(&90), "{counts:?}");
    assert_eq!(invariant(&pool, &listing, 150).await, (0, 150));
    let owing: i64 =
        sqlx::query("SELECT COUNT(*) FROM balances WHERE currency = 'usd' AND owed_cents = 1")
            .fetch_one(pool.pool())
            .await
            .unwrap()
            .try_get(0)
            .unwrap();
    assert_eq!(owing, 150, "each fulfilled buyer owes one unit, once");
    if backend == Backend::Postgres {
        let txs = transactions_of_fulfilled(&pool, &listing).await;
        assert!(
            txs < 150,
            "{txs} transactions wrote 150 orders: no batching"
        );
    }
}

/// The same few buyers buy from three processes at once, many times each: their
/// purchases meet in batches and, when a batch cannot take a buyer twice, in
/// single purchases, all locking the same balance rows and the same listing.
/// Every attempt must get an answer a user expects (no 500 from a deadlock, no
/// timeout), and exactly the listed units are sold.
async fn same_buyers_everywhere_never_deadlock(backend: Backend) {
    let db = TestDb::new(backend).await;
    let servers = [
        ServerProcess::start(&db.url, &[], &[]).await,
        ServerProcess::start(&db.url, &[], &[]).await,
        ServerProcess::start(&db.url, &[], &[]).await,
    ];
    let clients: Vec<Client> = servers.iter().map(|s| s.client.clone()).collect();
    let seller = clients[0].signup("seller@example.com").await;
    let listing = create_listing(&clients[0], &seller, &listing_body("busy", 1, 400)).await;
    let pool = fixtures::connect(&db.url).await;
    // 8 buyers, 75 attempts each, interleaved over the processes.
    let buyers = fixtures::users(&pool, "b", 8).await;
    let tokens: Vec<String> = buyers.iter().cycle().take(600).cloned().collect();
    let outcomes = race(&clients, &tokens, &listing).await;
    let counts = tally(&outcomes);
    assert_eq!(counts.get("fulfilled"), Some(&400), "{counts:?}");
    assert_eq!(counts.get("insufficient_units"), Some(&200), "{counts:?}");
    assert_eq!(invariant(&pool, &listing, 400).await, (0, 400));
    let mut total_owed = 0;
    for token in &buyers {
        total_owed += owed(&pool, &user_of(&pool, token).await).await;
    }
    assert_eq!(
        total_owed, 400,
        "one cent owed per unit sold, no more, no less"
    );
}
