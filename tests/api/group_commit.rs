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
    order, race_orders,
};

crate::dual_backend_tests!(
    hot_listing_more_buyers_than_units,
    batch_keeps_every_buyers_cap,
    one_buyer_racing_its_own_cap,
    three_processes_on_one_hot_listing,
    same_buyers_everywhere_never_deadlock,
    purchases_whose_requests_are_gone_never_commit,
    a_held_listing_lock_fails_purchases_fast,
    a_held_lock_fails_a_known_listing_fast,
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
    race_orders(
        clients,
        tokens.iter().map(|token| (token.as_str(), listing)),
    )
    .await
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
    app.assert_ledger_clean().await;
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
    // Every other buyer already owes 250 of the 300 allowed (a real instant order,
    // so the ledger holds the debt too): one more unit at 100 would pass the cap.
    let earlier = create_listing(&app, &seller, &listing_body("earlier", 250, 100)).await;
    for token in buyers.iter().step_by(2) {
        let r = order(&app.client, token, &earlier, 1).await;
        assert_eq!(r.body["order"]["status"], "fulfilled", "{:?}", r.body);
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
    app.assert_ledger_clean().await;
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
    app.assert_ledger_clean().await;
}

/// Three server processes, each combining its own purchases, race 240 distinct
/// buyers for 150 units of one listing: exactly 150 are sold.
async fn three_processes_on_one_hot_listing(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (_servers, clients) = ServerProcess::start_many(&db.url, 3).await;
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
    crate::common::assert_ledger_clean(&pool).await;
}

/// The same few buyers buy from three processes at once, many times each: their
/// purchases meet in batches and, when a batch cannot take a buyer twice, in
/// single purchases, all locking the same balance rows and the same listing.
/// Every attempt must get an answer a user expects (no 500 from a deadlock, no
/// timeout), and exactly the listed units are sold.
async fn same_buyers_everywhere_never_deadlock(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (_servers, clients) = ServerProcess::start_many(&db.url, 3).await;
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
    crate::common::assert_ledger_clean(&pool).await;
}

/// Holds the listing's row (PostgreSQL: `FOR UPDATE`) or the whole database (SQLite:
/// its one write lock) in an open transaction, so purchases wait.
async fn hold_listing(db: &udam::db::Db, listing: &str) -> udam::db::Tx {
    let mut tx = db.begin_write().await.unwrap();
    if db.backend() == Backend::Postgres {
        sqlx::query("SELECT id FROM listings WHERE id = $1 FOR UPDATE")
            .bind(listing)
            .fetch_one(&mut *tx)
            .await
            .unwrap();
    }
    tx
}

/// Polls (2 s at most) until a PostgreSQL session of this database waits for a lock.
async fn until_a_purchase_waits(db: &udam::db::Db) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        let waiting: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(db.pool())
        .await
        .unwrap()
        .try_get("n")
        .unwrap();
        if waiting > 0 {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "no purchase waits");
        tokio::task::yield_now().await;
    }
}

/// Defect 6: purchases queued behind a stuck listing whose requests timed out (503)
/// are dropped before a batch forms, never committed once the lock goes. Only the
/// purchase already inside the database when its client left may still commit.
async fn purchases_whose_requests_are_gone_never_commit(backend: Backend) {
    let app = TestApp::spawn_with(backend, &["--request-timeout", "1s"]).await;
    let seller = app.signup("seller@example.com").await;
    let listing = create_listing(&app, &seller, &listing_body("stuck", 1, 100)).await;
    let buyers = fixtures::users(app.database(), "b", 9).await;
    let (first, rest) = buyers.split_at(1);
    let (rest, probe) = rest.split_at(7);
    let held = hold_listing(app.database(), &listing).await;
    let lone = {
        let client = app.client.clone();
        let (token, listing) = (first[0].clone(), listing.to_string());
        tokio::spawn(async move { order(&client, &token, &listing, 1).await })
    };
    if backend == Backend::Postgres {
        // The first purchase's batch is in the database, waiting for the row.
        until_a_purchase_waits(app.database()).await;
    }
    let queued = join_all(rest.iter().map(|t| order(&app.client, t, &listing, 1))).await;
    for r in queued.iter().chain([&lone.await.unwrap()]) {
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{:?}", r.body);
    }
    held.commit().await.unwrap();
    // The batcher serves a listing's batches in turn: once the probe is answered,
    // every earlier purchase of the listing has been committed or dropped.
    let r = order(&app.client, &probe[0], &listing, 1).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let fulfilled = app
        .scalar(
            "SELECT COUNT(*) FROM orders WHERE listing_id = $1 AND status = 'fulfilled'",
            &listing,
        )
        .await;
    assert!(
        (1..=2).contains(&fulfilled),
        "{fulfilled} orders: purchases whose clients were gone were committed"
    );
    assert_eq!(
        invariant(app.database(), &listing, 100).await,
        (100 - fulfilled, fulfilled)
    );
    app.assert_ledger_clean().await;
}

/// On PostgreSQL a purchase waits at most 2 s for a lock (`lock_timeout`): with the
/// listing's row held, a purchase is answered 503 `unavailable` while the lock is
/// still held, and nothing is bought. (SQLite serializes writers with its busy
/// timeout instead; there is no row lock to wait for.)
async fn a_held_listing_lock_fails_purchases_fast(backend: Backend) {
    held_lock_fails_purchases_fast(backend, 0).await;
}

/// The same after a purchase, so the process knows the listing and writes its next
/// batch as one statement outside an explicit transaction: the native pool's session
/// timeouts bound it as `PURCHASE_BEGIN`'s bound a transaction.
async fn a_held_lock_fails_a_known_listing_fast(backend: Backend) {
    held_lock_fails_purchases_fast(backend, 1).await;
}

/// Holds the row of a listing of 10 units after `bought` purchases of one unit, and
/// checks that the next purchase is answered 503 in time and buys nothing.
async fn held_lock_fails_purchases_fast(backend: Backend, bought: i64) {
    if backend == Backend::Sqlite {
        return;
    }
    let app = TestApp::spawn(backend).await;
    let seller = app.signup("seller@example.com").await;
    let buyer = app.signup("buyer@example.com").await;
    let listing = create_listing(&app, &seller, &listing_body("locked", 100, 10)).await;
    for _ in 0..bought {
        let r = order(&app.client, &buyer, &listing, 1).await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    }
    let held = hold_listing(app.database(), &listing).await;
    let started = std::time::Instant::now();
    let r = order(&app.client, &buyer, &listing, 1).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{:?}", r.body);
    assert_eq!(r.error_code(), "unavailable");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "answered within the lock timeouts, not the 30 s request timeout"
    );
    held.commit().await.unwrap();
    assert_eq!(
        invariant(app.database(), &listing, 10).await,
        (10 - bought, bought)
    );
    let owed = match bought {
        0 => serde_json::json!([]),
        n => serde_json::json!([{"currency": "usd", "owed_cents": 100 * n}]),
    };
    assert_eq!(
        app.get("/api/v1/balance", Some(&buyer)).await.body["items"],
        owed
    );
    app.assert_ledger_clean().await;
}
