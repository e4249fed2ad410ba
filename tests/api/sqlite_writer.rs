//! Proofs for SQLite's one writer (issue 16, item 6): purchases queued behind the
//! process's only write connection share one transaction, each answered exactly as
//! if it had run alone, a purchase that fails inside a batch leaves its batch-mates
//! committed, a batch that fails shows in `udam_db_write_batch_failures_total`, and
//! the read pool refuses writes, so none can bypass the writer.
//!
//! To make batching certain rather than likely, the SQLite tests hold the write
//! connection themselves (`Db::begin_write`) while the purchases arrive, wait until
//! the writer's gauge says every one of them is queued, then let go. A reused key
//! racing other purchases is general, so that test runs on both backends.

use std::time::Duration;

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::json;
use sqlx::Row;
use tokio::time::Instant;

use crate::common::{
    Backend, Client, Resp, TestApp, assert_invariant, create_listing, fixtures, listing_body, order,
};

// The SQLite-only tests sit beside the general one's SQLite half, so every test of
// this file is under `sqlite_writer::sqlite::` or `sqlite_writer::postgres::`.
mod sqlite {
    use crate::common::Backend;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_reused_key_in_a_race_replays_its_order() {
        super::a_reused_key_in_a_race_replays_its_order(Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn the_read_pool_refuses_writes() {
        super::the_read_pool_refuses_writes().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn queued_purchases_share_one_transaction() {
        super::queued_purchases_share_one_transaction().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_failing_purchase_leaves_its_batch_mates() {
        super::a_failing_purchase_leaves_its_batch_mates().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn queued_purchases_keep_every_buyers_cap() {
        super::queued_purchases_keep_every_buyers_cap().await;
    }

    #[cfg(feature = "failpoints")]
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_failed_batch_is_counted_and_its_purchases_run_alone() {
        super::a_failed_batch_is_counted_and_its_purchases_run_alone().await;
    }
}

mod postgres {
    use crate::common::Backend;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_reused_key_in_a_race_replays_its_order() {
        super::a_reused_key_in_a_race_replays_its_order(Backend::Postgres).await;
    }
}

/// A sample of the server's `/metrics` page: `series` as Prometheus prints it
/// (name and labels), or a bare name for the sum over all its label sets; 0 while
/// the page has none.
async fn metric(app: &TestApp, series: &str) -> f64 {
    let metrics = app.metrics.as_ref().expect("the metrics listener is on");
    metrics.metric_sum(series).await
}

/// Polls until `n` write jobs wait for the writer (at most 30 s).
async fn until_queued(app: &TestApp, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let queued = metric(app, "udam_db_write_jobs_in_flight").await;
        if queued >= n as f64 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "only {queued} of {n} jobs queued"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Orders 1 unit per token, all at once; returns each answer in token order. With
/// `hold` (SQLite), the test holds the write connection until all are queued, and
/// first deletes the user `doomed` (whose purchase then fails inside the batch).
async fn race(
    app: &TestApp,
    tokens: &[String],
    keys: &[Option<&str>],
    listing: &str,
    hold: Option<Option<&str>>,
) -> Vec<Resp> {
    let held = match hold {
        Some(_) => Some(app.database().begin_write().await.expect("writer")),
        None => None,
    };
    let attempts = tokens.iter().zip(keys).map(|(token, key)| {
        let client = app.client.clone();
        let (token, key, listing) = (token.clone(), key.map(str::to_owned), listing.to_owned());
        tokio::spawn(async move { buy(&client, &token, key.as_deref(), &listing).await })
    });
    let racing: Vec<_> = attempts.collect();
    if let Some(mut held) = held {
        until_queued(app, tokens.len()).await;
        if let Some(Some(user)) = hold {
            sqlx::query("DELETE FROM users WHERE id = $1")
                .bind(user)
                .execute(&mut *held)
                .await
                .expect("delete the doomed buyer");
        }
        held.commit().await.expect("let the writer go");
    }
    join_all(racing)
        .await
        .into_iter()
        .map(|r| r.expect("purchase task"))
        .collect()
}

/// The user id behind a fixture token.
async fn user_of(app: &TestApp, token: &str) -> String {
    sqlx::query("SELECT user_id FROM sessions WHERE token_hash = $1")
        .bind(udam::accounts::sessions::hash_token(token))
        .fetch_one(app.database().pool())
        .await
        .expect("session")
        .try_get(0)
        .expect("user id")
}

/// One 1-unit purchase, under an Idempotency-Key when given.
async fn buy(client: &Client, token: &str, key: Option<&str>, listing: &str) -> Resp {
    let Some(key) = key else {
        return order(client, token, listing, 1).await;
    };
    let request = client
        .http
        .post(format!("{}/api/v1/orders", client.base))
        .bearer_auth(token)
        .header("idempotency-key", key)
        .json(&json!({"listing_id": listing, "units": 1}));
    client.send(request).await
}

/// Each answer's order status, or its error code.
fn outcomes(answers: &[Resp]) -> Vec<String> {
    answers
        .iter()
        .map(|r| match r.status {
            StatusCode::CREATED => r.body["order"]["status"]
                .as_str()
                .expect("status")
                .to_owned(),
            _ => r.error_code().to_owned(),
        })
        .collect()
}

fn count(outcomes: &[String], of: &str) -> usize {
    outcomes.iter().filter(|o| *o == of).count()
}

/// `(rows owing something, total owed)` in usd.
async fn owing(app: &TestApp) -> (i64, i64) {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(owed_cents), 0) AS BIGINT) AS owed \
         FROM balances WHERE currency = 'usd' AND owed_cents <> 0",
    )
    .fetch_one(app.database().pool())
    .await
    .expect("balances");
    (
        row.try_get("n").expect("n"),
        row.try_get("owed").expect("owed"),
    )
}

/// 64 buyers of a listing with 40 units, all queued behind the writer: one
/// transaction serves the first, one the other 63. Exactly 40 are fulfilled, each
/// owing one unit; the 24 others are told the units ran out and owe nothing.
/// Every write of the process goes through the one write connection: the read
/// pool's connections are `query_only`, so a write sent there by mistake fails at
/// once (here, and in every SQLite test that writes) instead of sleeping on the
/// file lock behind a batch.
async fn the_read_pool_refuses_writes() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let buyer = app.signup("reader@example.com").await;
    let db = app.database();
    let refused = sqlx::query("DELETE FROM sessions")
        .execute(db.pool())
        .await
        .expect_err("the read pool wrote");
    assert!(refused.to_string().contains("readonly"), "{refused}");
    // Nothing was deleted: the session still signs its owner in.
    let me = app.get("/api/v1/me", Some(&buyer)).await;
    assert_eq!(me.status, StatusCode::OK, "{:?}", me.body);
    let done = sqlx::query("DELETE FROM sessions")
        .execute(db.writes())
        .await
        .expect("the write connection writes");
    assert!(done.rows_affected() >= 1);
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sessions")
        .fetch_one(db.pool())
        .await
        .expect("count");
    assert_eq!(left, 0);
}

async fn queued_purchases_share_one_transaction() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let seller = app.signup("seller@example.com").await;
    let listing = create_listing(&app, &seller, &listing_body("hot", 1, 40)).await;
    let buyers = fixtures::users(app.database(), "b", 64).await;
    let answers = race(&app, &buyers, &[None; 64], &listing, Some(None)).await;
    let outcomes = outcomes(&answers);
    assert_eq!(count(&outcomes, "fulfilled"), 40, "{outcomes:?}");
    assert_eq!(count(&outcomes, "insufficient_units"), 24, "{outcomes:?}");
    assert_eq!(
        assert_invariant(app.database(), &listing, 40).await,
        (0, 40)
    );
    assert_eq!(owing(&app).await, (40, 40));
    let batches = metric(&app, "udam_db_write_batches_total").await;
    assert!(
        (1.0..=3.0).contains(&batches),
        "64 queued purchases took {batches} transactions"
    );
    assert_eq!(
        metric(&app, r#"udam_db_write_jobs_total{kept="1"}"#).await,
        40.0
    );
    assert_eq!(
        metric(&app, r#"udam_db_write_jobs_total{kept="0"}"#).await,
        24.0
    );
    let failed = metric(&app, "udam_db_write_batch_failures_total").await;
    assert_eq!(failed, 0.0, "no batch failed");
    app.assert_ledger_clean().await;
}

/// One batch with buyers at and under their cap: those with room are fulfilled,
/// those without go to checkout (their units reserved), and no balance passes
/// the cap.
async fn queued_purchases_keep_every_buyers_cap() {
    let app = TestApp::spawn_with(Backend::Sqlite, &["--unpaid-cap-cents", "300"]).await;
    let seller = app.signup("seller@example.com").await;
    let listing = create_listing(&app, &seller, &listing_body("capped", 100, 100)).await;
    let earlier = create_listing(&app, &seller, &listing_body("earlier", 250, 100)).await;
    let buyers = fixtures::users(app.database(), "b", 20).await;
    // Every other buyer already owes 250 of the 300 allowed.
    for token in buyers.iter().step_by(2) {
        let r = order(&app.client, token, &earlier, 1).await;
        assert_eq!(r.body["order"]["status"], "fulfilled", "{:?}", r.body);
    }
    let answers = race(&app, &buyers, &[None; 20], &listing, Some(None)).await;
    for (i, outcome) in outcomes(&answers).iter().enumerate() {
        let expected = if i % 2 == 0 {
            "pending_payment"
        } else {
            "fulfilled"
        };
        assert_eq!(outcome, expected, "buyer {i}");
    }
    // 10 owe 250 (the earlier order), 10 owe 100 (this one).
    assert_eq!(owing(&app).await, (20, 10 * 250 + 10 * 100));
    assert_eq!(
        assert_invariant(app.database(), &listing, 100).await,
        (80, 20)
    );
    app.assert_ledger_clean().await;
}

/// A purchase under an Idempotency-Key that already names an order (the key's
/// claim row was purged, the order kept the key), racing 20 others: its order
/// insert fails on the unique index, it alone is rolled back and answered with the
/// order its key made, and the 20 others are fulfilled.
async fn a_reused_key_in_a_race_replays_its_order(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let seller = app.signup("seller@example.com").await;
    let listing = create_listing(&app, &seller, &listing_body("hot", 1, 100)).await;
    let buyers = fixtures::users(app.database(), "b", 21).await;
    let first = buy(&app.client, &buyers[0], Some("twice"), &listing).await;
    assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.body);
    sqlx::query("DELETE FROM idempotency_keys")
        .execute(app.database().writes())
        .await
        .expect("forget the claim");
    let mut keys = vec![None; 21];
    keys[0] = Some("twice");
    let answers = race(&app, &buyers, &keys, &listing, None).await;
    let outcomes = outcomes(&answers);
    assert_eq!(count(&outcomes, "fulfilled"), 21, "{outcomes:?}");
    assert_eq!(answers[0].body["order"]["id"], first.body["order"]["id"]);
    // 21 orders: the first buyer's one, and one for each of the 20 others.
    assert_eq!(
        assert_invariant(app.database(), &listing, 100).await,
        (79, 21)
    );
    assert_eq!(owing(&app).await, (21, 21));
    if backend == Backend::Sqlite {
        let failed = metric(&app, "udam_db_write_batch_failures_total").await;
        assert_eq!(failed, 0.0, "no batch failed");
    }
    app.assert_ledger_clean().await;
}

/// 21 purchases queued in one batch, one of whose buyers is deleted meanwhile: that
/// purchase fails inside the batch (its order names no user) and is answered with
/// an error; its savepoint takes back its balance and units, and the 20 others
/// commit. No batch failed.
async fn a_failing_purchase_leaves_its_batch_mates() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let seller = app.signup("seller@example.com").await;
    let listing = create_listing(&app, &seller, &listing_body("hot", 1, 100)).await;
    let buyers = fixtures::users(app.database(), "b", 21).await;
    let doomed = user_of(&app, &buyers[0]).await;
    let answers = race(&app, &buyers, &[None; 21], &listing, Some(Some(&doomed))).await;
    assert!(answers[0].status.is_server_error(), "{:?}", answers[0].body);
    assert!(!answers[0].error_code().is_empty(), "the JSON envelope");
    let outcomes = outcomes(&answers[1..]);
    assert_eq!(count(&outcomes, "fulfilled"), 20, "{outcomes:?}");
    assert_eq!(
        assert_invariant(app.database(), &listing, 100).await,
        (80, 20)
    );
    assert_eq!(owing(&app).await, (20, 20));
    let batches = metric(&app, "udam_db_write_batches_total").await;
    assert!(
        batches <= 3.0,
        "21 queued purchases took {batches} transactions"
    );
    assert_eq!(
        metric(&app, r#"udam_db_write_jobs_total{kept="0"}"#).await,
        1.0
    );
    assert_eq!(
        metric(&app, r#"udam_db_write_jobs_total{kept="1"}"#).await,
        20.0
    );
    let failed = metric(&app, "udam_db_write_batch_failures_total").await;
    assert_eq!(failed, 0.0, "no batch failed");
    app.assert_ledger_clean().await;
}

/// Every batch's `BEGIN` fails: the failure is counted, and the purchases, of which
/// nothing was written, are bought one at a time instead.
#[cfg(feature = "failpoints")]
async fn a_failed_batch_is_counted_and_its_purchases_run_alone() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let seller = app.signup("seller@example.com").await;
    let listing = create_listing(&app, &seller, &listing_body("hot", 1, 10)).await;
    let buyers = fixtures::users(app.database(), "b", 3).await;
    fail::cfg("db::write_batch_begin", "return").expect("arm the fail point");
    let answers = join_all(buyers.iter().map(|t| buy(&app.client, t, None, &listing))).await;
    fail::remove("db::write_batch_begin");
    let outcomes = outcomes(&answers);
    assert_eq!(count(&outcomes, "fulfilled"), 3, "{outcomes:?}");
    let failed = metric(&app, r#"udam_db_write_batch_failures_total{stage="begin"}"#).await;
    assert!(failed >= 1.0, "the failed batches are counted: {failed}");
    assert_eq!(assert_invariant(app.database(), &listing, 10).await, (7, 3));
    app.assert_ledger_clean().await;
}
