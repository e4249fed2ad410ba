//! The PostgreSQL combiners flooded with distinct keys at once, against a real
//! `udam serve`: purchases of many listings by many buyers (the group-commit
//! queues) and lookups of many distinct session tokens (the lookup batches).
//! No batch passes its size bound, waiters are only the requests in flight, the
//! process stays within its budget, and every request gets its own exact answer.
//! SQLite has no combiner: the same floods run through its one-at-a-time paths
//! and must give the same answers.

use futures::future::join_all;
use reqwest::StatusCode;
use sqlx::Row;

use super::spawn::{Launch, Udam};
use crate::common::{
    Backend, TestDb, assert_invariant, assert_ledger_clean, create_listing, fixtures, listing_body,
    order,
};
use crate::dual_backend_tests;

/// `orders::purchase::batch::MAX_BATCH`: most purchases one statement serves.
const PURCHASE_BATCH: f64 = 256.0;
/// Buyers, each buying the hot listing and one of the others at the same moment.
const BUYERS: usize = 320;
/// Listings besides the hot one.
const SPREAD: usize = 80;
/// Distinct tokens looked up at once: valid sessions and unknown tokens.
const SESSIONS: usize = 400;
const UNKNOWN_TOKENS: usize = 1_100;
/// The queues hold nothing but their waiters, which are requests in flight.
const NO_STRUCTURE_KIB: u64 = 0;

/// Largest number of orders any one transaction inserted (PostgreSQL's `xmin`).
async fn largest_commit(db: &udam::db::Db) -> i64 {
    sqlx::query(
        "SELECT CAST(MAX(n) AS BIGINT) AS largest FROM \
         (SELECT COUNT(*) AS n FROM orders GROUP BY CAST(xmin AS TEXT)) AS per_commit",
    )
    .fetch_one(db.pool())
    .await
    .expect("orders per commit")
    .try_get("largest")
    .expect("largest")
}

/// 320 buyers each buy the hot listing and one of 80 others, all 640 purchases
/// at once: every one is fulfilled, nothing is oversold, no batch is larger
/// than 256, and on PostgreSQL the hot listing's purchases were combined.
async fn purchase_flood_of_many_listings_and_buyers(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = Udam::start(backend, &db.url, Launch::default()).await;
    let pool = fixtures::connect(&db.url).await;
    let seller = fixtures::users(&pool, "seller", 1).await.remove(0);
    let buyers = fixtures::users(&pool, "buyer", BUYERS).await;
    let hot = create_listing(&server.client, &seller, &listing_body("hot", 1, 1_000)).await;
    let mut spread = Vec::new();
    for i in 0..SPREAD {
        let body = listing_body(&format!("spread{i}"), 1, 100);
        spread.push(
            create_listing(&server.client, &seller, &body)
                .await
                .to_string(),
        );
    }
    let hot = hot.to_string();
    let purchases = buyers.iter().enumerate().flat_map(|(i, token)| {
        [hot.clone(), spread[i % SPREAD].clone()].map(|listing| {
            let (client, token) = (server.client.clone(), token.clone());
            async move { order(&client, &token, &listing, 1).await }
        })
    });
    for answer in join_all(purchases).await {
        assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
        assert_eq!(answer.body["order"]["status"], "fulfilled");
    }
    assert_eq!(
        assert_invariant(&pool, &hot, 1_000).await,
        (1_000 - 320, 320)
    );
    for listing in &spread {
        assert_eq!(assert_invariant(&pool, listing, 100).await, (96, 4));
    }
    if backend == Backend::Postgres {
        let largest = server
            .metric_when(r#"udam_purchase_batch_size{quantile="1"}"#, |v| v > 0.0)
            .await;
        let commit = largest_commit(&pool).await;
        eprintln!("largest purchase batch {largest}, largest commit {commit} orders");
        assert!(largest <= PURCHASE_BATCH, "a batch of {largest}");
        assert!(
            commit <= PURCHASE_BATCH as i64,
            "{commit} orders in one commit"
        );
        assert!(commit > 1, "no purchases were combined");
    }
    let in_flight = 2 * BUYERS;
    server.assert_peak_within(
        NO_STRUCTURE_KIB,
        in_flight,
        &format!("{backend:?} purchase flood"),
    );
    // Still buying afterwards.
    let again = order(&server.client, &buyers[0], &hot, 1).await;
    assert_eq!(again.status, StatusCode::CREATED, "{:?}", again.body);
    assert_ledger_clean(&pool).await;
}

/// 1,500 distinct bearer tokens at once, 400 of them real sessions: each real
/// one is answered with its own user, each unknown one with 401, and on
/// PostgreSQL no combined lookup holds more than 512 tokens.
async fn session_lookup_flood_of_distinct_tokens(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = Udam::start(backend, &db.url, Launch::default()).await;
    let pool = fixtures::connect(&db.url).await;
    let sessions = fixtures::users(&pool, "who", SESSIONS).await;
    let unknown = (0..UNKNOWN_TOKENS).map(|i| format!("unknown-token-{i:05}-{}", "x".repeat(32)));
    let tokens: Vec<(Option<usize>, String)> = sessions
        .into_iter()
        .enumerate()
        .map(|(i, t)| (Some(i), t))
        .chain(unknown.map(|t| (None, t)))
        .collect();
    let lookups = tokens.iter().map(|(user, token)| {
        let client = server.client.clone();
        async move { (user, client.get("/api/v1/me", Some(token)).await) }
    });
    for (user, answer) in join_all(lookups).await {
        match user {
            Some(i) => {
                assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
                assert_eq!(answer.body["email"], format!("who{i}@example.com"));
            }
            None => {
                assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
                assert_eq!(answer.error_code(), "unauthorized");
            }
        }
    }
    if backend == Backend::Postgres {
        let max = udam::accounts::sessions::batch::MAX_BATCH as f64;
        let largest = server
            .metric_when(r#"udam_session_lookup_batch_size{quantile="1"}"#, |v| {
                v > 0.0
            })
            .await;
        eprintln!("largest session-lookup batch {largest}");
        assert!(largest <= max, "a lookup batch of {largest}");
        assert!(largest > 1.0, "no lookups were combined");
    }
    let what = format!("{backend:?} session lookup flood");
    server.assert_peak_within(NO_STRUCTURE_KIB, SESSIONS + UNKNOWN_TOKENS, &what);
}

dual_backend_tests!(
    purchase_flood_of_many_listings_and_buyers,
    session_lookup_flood_of_distinct_tokens
);
