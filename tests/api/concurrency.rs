//! Proof of no overselling: concurrent buyers, on one server and on several
//! processes sharing one database, with the invariant checked afterwards:
//! units held by fulfilled and pending orders + units left = units listed.

use std::collections::HashMap;

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Row;

use crate::common::fixtures;
use crate::common::process::ServerProcess;
use crate::common::{
    Backend, Client, TestApp, TestDb, assert_invariant, create_listing, listing_body, race_orders,
};

crate::dual_backend_tests!(
    five_buyers_three_units,
    two_hundred_buyers_fifty_units,
    three_processes_thousand_attempts,
    one_idempotency_key_one_order,
    idempotent_replays_and_reuse,
    random_buys_and_cancels_match_a_model,
);

/// Fires one 1-unit order per token, all at once; counts statuses and error codes.
async fn race(clients: &[Client], tokens: &[String], listing: &str) -> HashMap<String, usize> {
    let pairs = tokens.iter().map(|token| (token.as_str(), listing));
    let mut counts = HashMap::new();
    for outcome in race_orders(clients, pairs).await {
        *counts.entry(outcome).or_insert(0) += 1;
    }
    counts
}

async fn five_buyers_three_units(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let seller = app.signup("seller@example.com").await;
    let listing = create_listing(&app, &seller, &listing_body("scarce", 100, 3)).await;
    let buyers = fixtures::users(app.database(), "b", 5).await;
    let counts = race(std::slice::from_ref(&app.client), &buyers, &listing).await;
    assert_eq!(counts.get("fulfilled"), Some(&3), "{counts:?}");
    assert_eq!(counts.get("insufficient_units"), Some(&2), "{counts:?}");
    let l = app
        .get(&format!("/api/v1/listings/{listing}"), None)
        .await
        .body;
    assert_eq!(l["available_units"], 0);
    assert_eq!(l["status"], "sold_out");
    assert_invariant(app.database(), &listing, 3).await;
    app.assert_ledger_clean().await;
}

async fn two_hundred_buyers_fifty_units(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let seller = app.signup("seller@example.com").await;
    // A price above the instant limit: half the orders reserve and pay, half are instant.
    let cheap = create_listing(&app, &seller, &listing_body("cheap", 100, 25)).await;
    let dear = create_listing(&app, &seller, &listing_body("dear", 900, 25)).await;
    let buyers = fixtures::users(app.database(), "b", 200).await;
    let (a, b) = buyers.split_at(100);
    let (ca, cb) = tokio::join!(
        race(std::slice::from_ref(&app.client), a, &cheap),
        race(std::slice::from_ref(&app.client), b, &dear)
    );
    assert_eq!(ca.get("fulfilled"), Some(&25), "{ca:?}");
    assert_eq!(ca.get("insufficient_units"), Some(&75), "{ca:?}");
    assert_eq!(cb.get("pending_payment"), Some(&25), "{cb:?}");
    assert_eq!(cb.get("insufficient_units"), Some(&75), "{cb:?}");
    assert_eq!(assert_invariant(app.database(), &cheap, 25).await, (0, 25));
    assert_eq!(assert_invariant(app.database(), &dear, 25).await, (0, 25));
    app.assert_ledger_clean().await;
}

async fn three_processes_thousand_attempts(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (_servers, clients) = ServerProcess::start_many(&db.url, 3).await;
    let seller = clients[0].signup("seller@example.com").await;
    let listing = create_listing(&clients[0], &seller, &listing_body("drop", 1, 300)).await;
    let pool = fixtures::connect(&db.url).await;
    // 50 buyers, 20 attempts each: 1000 concurrent attempts spread over 3 processes.
    let buyers = fixtures::users(&pool, "b", 50).await;
    let tokens: Vec<String> = buyers.iter().cycle().take(1000).cloned().collect();
    let counts = race(&clients, &tokens, &listing).await;
    assert_eq!(counts.get("fulfilled"), Some(&300), "{counts:?}");
    assert_eq!(counts.get("insufficient_units"), Some(&700), "{counts:?}");
    assert_eq!(assert_invariant(&pool, &listing, 300).await, (0, 300));
    let sold: i64 = sqlx::query(
        "SELECT CAST(COALESCE(SUM(units), 0) AS BIGINT) FROM orders WHERE status = 'fulfilled'",
    )
    .fetch_one(pool.pool())
    .await
    .unwrap()
    .try_get(0)
    .unwrap();
    assert_eq!(sold, 300);
    crate::common::assert_ledger_clean(&pool).await;
}

async fn one_idempotency_key_one_order(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let seller = app.signup("seller@example.com").await;
    let buyer = app.signup("buyer@example.com").await;
    let listing = create_listing(&app, &seller, &listing_body("idem", 100, 50)).await;
    let body = json!({"listing_id": listing, "units": 1});
    let attempts = (0..10).map(|_| {
        let app = app.client.clone();
        let buyer = buyer.clone();
        let body = body.clone();
        async move {
            app.send(
                app.http
                    .post(format!("{}/api/v1/orders", app.base))
                    .bearer_auth(buyer)
                    .header("idempotency-key", "same-key-1")
                    .json(&body),
            )
            .await
        }
    });
    let results = join_all(attempts).await;
    let orders = app
        .scalar(
            "SELECT COUNT(*) FROM orders WHERE listing_id = $1",
            &listing,
        )
        .await;
    assert_eq!(
        orders, 1,
        "ten concurrent requests with one key make one order"
    );
    let mut ids = std::collections::HashSet::new();
    for r in &results {
        match r.status {
            StatusCode::CREATED => {
                ids.insert(r.body["order"]["id"].as_str().unwrap().to_owned());
            }
            StatusCode::CONFLICT => assert_eq!(r.error_code(), "idempotency_in_progress"),
            other => panic!("unexpected {other}: {:?}", r.body),
        }
    }
    assert_eq!(ids.len(), 1, "every success names the same order");
    app.assert_ledger_clean().await;
}

async fn idempotent_replays_and_reuse(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let seller = app.signup("seller@example.com").await;
    let a = app.signup("a@example.com").await;
    let b = app.signup("b@example.com").await;
    let listing = create_listing(&app, &seller, &listing_body("idem", 100, 50)).await;
    let send = |token: &str, key: &str, units: i64| {
        let app = app.client.clone();
        let req = app
            .http
            .post(format!("{}/api/v1/orders", app.base))
            .bearer_auth(token)
            .header("idempotency-key", key)
            .json(&json!({"listing_id": listing, "units": units}));
        async move { app.send(req).await }
    };
    let first = send(&a, "k1", 1).await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert!(first.header("idempotent-replayed").is_none());
    let replay = send(&a, "k1", 1).await;
    assert_eq!(replay.status, StatusCode::CREATED);
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(replay.body, first.body, "the first answer, replayed");
    let reuse = send(&a, "k1", 2).await;
    assert_eq!(reuse.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reuse.error_code(), "idempotency_key_reuse");
    let other_user = send(&b, "k1", 1).await;
    assert_eq!(
        other_user.status,
        StatusCode::CREATED,
        "keys are scoped to the user"
    );
    assert!(other_user.header("idempotent-replayed").is_none());
    assert_ne!(other_user.body["order"]["id"], first.body["order"]["id"]);
    // A refused order is replayed as refused too.
    let too_many = send(&a, "k2", 51).await;
    assert_eq!(too_many.error_code(), "insufficient_units");
    let again = send(&a, "k2", 51).await;
    assert_eq!(again.error_code(), "insufficient_units");
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    // A refusal the same request may pass later (here a body refused against the
    // server's limits) keeps no answer: the key is free again, not replayed.
    let zero = send(&a, "k3", 0).await;
    assert_eq!(zero.error_code(), "validation_failed");
    let again = send(&a, "k3", 0).await;
    assert_eq!(again.error_code(), "validation_failed");
    assert!(again.header("idempotent-replayed").is_none());
    let bad_key = send(&a, &"x".repeat(300), 1).await;
    assert_eq!(bad_key.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        app.scalar(
            "SELECT COUNT(*) FROM orders WHERE listing_id = $1",
            &listing
        )
        .await,
        2
    );
    app.assert_ledger_clean().await;
}

/// SplitMix64: a tiny seeded generator, so a failing run replays from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap_or(0)
    }
}

/// What the marketplace should hold, kept by the test.
struct Model {
    /// Units left per listing.
    left: [i64; 2],
    /// What each buyer owes (usd).
    owed: Vec<i64>,
    /// Orders awaiting payment: (id, buyer, listing, units).
    pending: Vec<(String, usize, usize, i64)>,
    /// Fulfilled orders: (id, buyer).
    fulfilled: Vec<(String, usize)>,
    /// Keyed requests sent: (key, buyer, body, status, order id or error code).
    sent: Vec<(String, usize, Value, StatusCode, String)>,
}

/// Random purchases (instant and reserved), cancels, and replays of earlier keys,
/// against two server processes on one database, each step compared with [`Model`]:
/// units left, every buyer's balance, every answer. Prints its seed;
/// `UDAM_MODEL_SEED=<seed>` replays a run.
async fn random_buys_and_cancels_match_a_model(backend: Backend) {
    const PRICES: [i64; 2] = [100, 900];
    const LISTED: [i64; 2] = [60, 25];
    const CAP: i64 = 2000;
    const STEPS: usize = 200;
    let seed = std::env::var("UDAM_MODEL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| u64::from_le_bytes(udam::ids::random_bytes::<8>()));
    println!("model seed: {seed} (UDAM_MODEL_SEED={seed} replays it)");
    let mut rng = Rng(seed);
    let db = TestDb::new(backend).await;
    let (_servers, clients) = ServerProcess::start_many(&db.url, 2).await;
    let seller = clients[0].signup("seller@example.com").await;
    let listings = [
        create_listing(
            &clients[0],
            &seller,
            &listing_body("small", PRICES[0], LISTED[0]),
        )
        .await,
        create_listing(
            &clients[1],
            &seller,
            &listing_body("large", PRICES[1], LISTED[1]),
        )
        .await,
    ];
    let pool = fixtures::connect(&db.url).await;
    let buyers = fixtures::users(&pool, "m", 4).await;
    let mut model = Model {
        left: LISTED,
        owed: vec![0; buyers.len()],
        pending: Vec::new(),
        fulfilled: Vec::new(),
        sent: Vec::new(),
    };
    for step in 0..STEPS {
        let client = &clients[rng.below(clients.len())];
        let context = format!("seed {seed}, step {step}");
        match rng.below(10) {
            // Buy: mostly the small listing (instant until the cap), sometimes the large.
            0..=5 => {
                let li = usize::from(rng.below(4) == 0);
                let b = rng.below(buyers.len());
                let units = i64::try_from(1 + rng.below(3)).unwrap_or(1);
                let key = format!("op-{step}");
                let body = json!({"listing_id": listings[li].as_str(), "units": units});
                let r = keyed(client, &buyers[b], &key, &body).await;
                let total = units * PRICES[li];
                let outcome = if model.left[li] < units {
                    assert_eq!(
                        r.error_code(),
                        "insufficient_units",
                        "{context}: {:?}",
                        r.body
                    );
                    r.error_code().to_owned()
                } else {
                    assert_eq!(r.status, StatusCode::CREATED, "{context}: {:?}", r.body);
                    let id = r.body["order"]["id"].as_str().unwrap().to_owned();
                    model.left[li] -= units;
                    if total <= 500 && model.owed[b] + total <= CAP {
                        assert_eq!(r.body["order"]["status"], "fulfilled", "{context}");
                        model.owed[b] += total;
                        model.fulfilled.push((id.clone(), b));
                    } else {
                        assert_eq!(r.body["order"]["status"], "pending_payment", "{context}");
                        model.pending.push((id.clone(), b, li, units));
                    }
                    id
                };
                model.sent.push((key, b, body, r.status, outcome));
            }
            // Cancel an order awaiting payment: its units come back.
            6 | 7 if !model.pending.is_empty() => {
                let (id, b, li, units) = model.pending.remove(rng.below(model.pending.len()));
                let r = client
                    .post(
                        &format!("/api/v1/orders/{id}/cancel"),
                        &json!({}),
                        Some(&buyers[b]),
                    )
                    .await;
                assert_eq!(r.status, StatusCode::OK, "{context}: {:?}", r.body);
                model.left[li] += units;
            }
            // Cancelling a fulfilled order is refused and changes nothing.
            6 | 7 if !model.fulfilled.is_empty() => {
                let (id, b) = &model.fulfilled[rng.below(model.fulfilled.len())];
                let r = client
                    .post(
                        &format!("/api/v1/orders/{id}/cancel"),
                        &json!({}),
                        Some(&buyers[*b]),
                    )
                    .await;
                assert_eq!(r.error_code(), "order_not_pending", "{context}");
            }
            // Replay an earlier keyed request, maybe on the other process: the first
            // answer again, nothing bought.
            _ if !model.sent.is_empty() => {
                let (key, b, body, status, outcome) = &model.sent[rng.below(model.sent.len())];
                let r = keyed(client, &buyers[*b], key, body).await;
                assert_eq!(
                    r.status, *status,
                    "{context}: replay of {key}: {:?}",
                    r.body
                );
                assert_eq!(r.header("idempotent-replayed"), Some("true"), "{context}");
                let again = r.body["order"]["id"]
                    .as_str()
                    .unwrap_or_else(|| r.error_code())
                    .to_owned();
                assert_eq!(&again, outcome, "{context}: replay of {key}");
            }
            _ => {}
        }
        for (li, listing) in listings.iter().enumerate() {
            let left: i64 = sqlx::query("SELECT available_units FROM listings WHERE id = $1")
                .bind(listing.as_str())
                .fetch_one(pool.writes())
                .await
                .unwrap()
                .try_get("available_units")
                .unwrap();
            assert_eq!(
                left, model.left[li],
                "{context}: units left of listing {li}"
            );
        }
        for (b, token) in buyers.iter().enumerate() {
            let items = client.get("/api/v1/balance", Some(token)).await.body["items"].clone();
            let owed = items[0]["owed_cents"].as_i64().unwrap_or(0);
            assert_eq!(owed, model.owed[b], "{context}: buyer {b} owes");
        }
    }
    for (li, listing) in listings.iter().enumerate() {
        assert_invariant(&pool, listing, LISTED[li]).await;
    }
    crate::common::assert_ledger_clean(&pool).await;
}

/// `POST /api/v1/orders` with an Idempotency-Key.
async fn keyed(client: &Client, token: &str, key: &str, body: &Value) -> crate::common::Resp {
    client
        .send(
            client
                .http
                .post(format!("{}/api/v1/orders", client.base))
                .bearer_auth(token)
                .header("idempotency-key", key)
                .json(body),
        )
        .await
}
