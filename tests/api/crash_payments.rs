//! Crash tests of the payment paths (issue 12): a real `udam serve` aborts at a named
//! crash point (`FAILPOINTS=<point>=return`, src/failpoint.rs) in the webhook handler,
//! in a settlement's creation, and in the sweeper; a new process starts on the same
//! database; Stripe redelivers the same event, or the client retries, or the next
//! sweep runs; and the effect must have happened exactly once, with the ledger clean.
//! The dev checkout's Pay button (no Stripe) is crashed the same way. Both backends.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Row;

use crate::common::process::ServerProcess;
use crate::common::{
    Backend, Client, TestDb, assert_ledger_clean, create_listing, fixtures, listing_body,
    place_order,
};
use crate::fake_stripe::FakeStripe;

pub(crate) const SECRET_KEY: &str = "sk_test_udam_fake";
const WEBHOOK_SECRET: &str = "whsec_udam_test";

crate::dual_backend_tests!(
    webhook_crash_after_inbox_insert,
    webhook_crash_before_commit,
    webhook_crash_after_commit,
    settlement_crash_before_commit,
    settlement_crash_before_the_checkout,
    sweeper_crash_before_commit,
    dev_pay_crash_before_commit,
);

/// Starts `udam serve` with the fake Stripe, armed to abort at `point` when given.
pub(crate) async fn start(db_url: &str, stripe: &FakeStripe, point: Option<&str>) -> ServerProcess {
    let armed = point.map(|p| format!("{p}=return"));
    let env: Vec<(&str, &str)> = armed
        .as_deref()
        .map(|a| vec![("FAILPOINTS", a)])
        .unwrap_or_default();
    let base = stripe.base_url();
    ServerProcess::start(
        db_url,
        &[
            "--stripe-secret-key",
            SECRET_KEY,
            "--stripe-webhook-secret",
            WEBHOOK_SECRET,
            "--stripe-api-base",
            &base,
            "--sweep-interval",
            "100ms",
        ],
        &env,
    )
    .await
}

/// Delivers a signed event; `None` when the connection broke (the process died).
pub(crate) async fn deliver(client: &Client, body: &str) -> Option<Value> {
    let signature = FakeStripe::signed_header(body, WEBHOOK_SECRET);
    let response = client
        .http
        .post(format!("{}/api/v1/webhooks/stripe", client.base))
        .header("stripe-signature", signature)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .ok()?;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.ok()
}

/// Waits (up to 20 s) until the process stops answering: it aborted by itself.
async fn wait_until_dead(client: &Client) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    loop {
        tick.tick().await;
        let alive = client
            .http
            .get(format!("{}/healthz", client.base))
            .send()
            .await
            .is_ok();
        if !alive {
            return;
        }
        assert!(Instant::now() < deadline, "the armed process never crashed");
    }
}

pub(crate) async fn count(db: &udam::db::Db, sql: &'static str, arg: &str) -> i64 {
    sqlx::query(sql)
        .bind(arg)
        .fetch_one(db.pool())
        .await
        .expect("count")
        .try_get::<i64, _>(0)
        .expect("integer")
}

/// A paid checkout's webhook crashes the process at `point`; Stripe redelivers the
/// same event to a new process: the order is fulfilled once, with one grant and one
/// `paid_sale`, and the ledger is clean.
async fn webhook_crash_at(backend: Backend, point: &str) {
    let stripe = FakeStripe::start(SECRET_KEY).await;
    let test_db = TestDb::new(backend).await;
    let armed = start(&test_db.url, &stripe, Some(point)).await;
    let seller = armed.signup("seller@example.com").await;
    let buyer = armed.signup("buyer@example.com").await;
    let listing = create_listing(&armed, &seller, &listing_body("crash", 1500, 10)).await;
    let order = place_order(&armed, &buyer, &listing, 2).await;
    let db = fixtures::connect(&test_db.url).await;
    let session: String = sqlx::query("SELECT provider_session_id FROM orders WHERE id = $1")
        .bind(order.as_str())
        .fetch_one(db.pool())
        .await
        .unwrap()
        .try_get("provider_session_id")
        .unwrap();
    stripe.complete_session(&session);
    let event = stripe.checkout_completed_event(&session);
    assert!(
        deliver(&armed, &event).await.is_none(),
        "the process aborts at {point}"
    );
    drop(armed);

    let restarted = start(&test_db.url, &stripe, None).await;
    let answer = deliver(&restarted, &event)
        .await
        .expect("redelivery answered");
    let expected = if point.ends_with("after_commit") {
        "duplicate"
    } else {
        "fulfilled"
    };
    assert_eq!(answer["outcome"], expected, "{point}: {answer}");
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM grants WHERE order_id = $1",
            &order
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM journal_transactions WHERE subject_id = $1",
            &order
        )
        .await,
        1,
        "one paid_sale"
    );
    let again = deliver(&restarted, &event).await.expect("answered");
    assert_eq!(again["outcome"], "duplicate");
    assert_ledger_clean(&db).await;
}

async fn webhook_crash_after_inbox_insert(backend: Backend) {
    webhook_crash_at(backend, "payments::webhook_after_inbox").await;
}

async fn webhook_crash_before_commit(backend: Backend) {
    webhook_crash_at(backend, "payments::webhook_before_commit").await;
}

async fn webhook_crash_after_commit(backend: Backend) {
    webhook_crash_at(backend, "payments::webhook_after_commit").await;
}

/// A settle request crashes the process at `point`; the buyer retries on a new
/// process: one settlement, with its checkout, for exactly the owed orders; paying
/// it clears the balance; the ledger is clean.
async fn settlement_crash_at(backend: Backend, point: &str) {
    let stripe = FakeStripe::start(SECRET_KEY).await;
    let test_db = TestDb::new(backend).await;
    let armed = start(&test_db.url, &stripe, Some(point)).await;
    let seller = armed.signup("seller@example.com").await;
    let buyer = armed.signup("buyer@example.com").await;
    let listing = create_listing(&armed, &seller, &listing_body("owed", 150, 10)).await;
    for _ in 0..2 {
        place_order(&armed, &buyer, &listing, 1).await;
    }
    let settle = |client: Client| {
        let buyer = buyer.clone();
        async move {
            client
                .http
                .post(format!("{}/api/v1/balance/settle", client.base))
                .bearer_auth(&buyer)
                .json(&json!({"currency": "usd"}))
                .send()
                .await
                .ok()
        }
    };
    assert!(
        settle(armed.client.clone()).await.is_none(),
        "the process aborts at {point}"
    );
    drop(armed);

    let restarted = start(&test_db.url, &stripe, None).await;
    let r = settle(restarted.client.clone()).await.expect("answered");
    assert_eq!(r.status(), StatusCode::CREATED);
    let view: Value = r.json().await.unwrap();
    assert_eq!(view["amount_cents"], 300);
    assert!(view["checkout_url"].is_string(), "{view}");
    let db = fixtures::connect(&test_db.url).await;
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM settlements WHERE status = $1",
            "pending"
        )
        .await,
        1
    );
    let id = view["id"].as_str().unwrap();
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM settlement_orders WHERE settlement_id = $1",
            id
        )
        .await,
        2
    );
    let session: String = sqlx::query("SELECT provider_session_id FROM settlements WHERE id = $1")
        .bind(id)
        .fetch_one(db.writes())
        .await
        .unwrap()
        .try_get("provider_session_id")
        .unwrap();
    stripe.complete_session(&session);
    let paid = deliver(&restarted, &stripe.checkout_completed_event(&session))
        .await
        .expect("answered");
    assert_eq!(paid["outcome"], "settled");
    let balance = restarted.get("/api/v1/balance", Some(&buyer)).await;
    assert_eq!(balance.body["items"], json!([]));
    assert_ledger_clean(&db).await;
}

async fn settlement_crash_before_commit(backend: Backend) {
    settlement_crash_at(backend, "payments::settle_before_commit").await;
}

async fn settlement_crash_before_the_checkout(backend: Backend) {
    settlement_crash_at(backend, "payments::settle_after_commit").await;
}

/// The sweeper crashes while releasing a lapsed reservation; the next process's
/// sweeper releases it once: every unit back, ledger clean.
async fn sweeper_crash_before_commit(backend: Backend) {
    let stripe = FakeStripe::start(SECRET_KEY).await;
    let test_db = TestDb::new(backend).await;
    // Unarmed first: set up an order whose reservation has lapsed.
    let setup = start(&test_db.url, &stripe, None).await;
    let seller = setup.signup("seller@example.com").await;
    let buyer = setup.signup("buyer@example.com").await;
    let listing = create_listing(&setup, &seller, &listing_body("sweep", 1500, 10)).await;
    let order = place_order(&setup, &buyer, &listing, 3).await;
    drop(setup);
    let db = fixtures::connect(&test_db.url).await;
    sqlx::query("UPDATE orders SET expires_at = 1 WHERE id = $1")
        .bind(order.as_str())
        .execute(db.writes())
        .await
        .unwrap();

    let armed = start(&test_db.url, &stripe, Some("payments::sweep_before_commit")).await;
    wait_until_dead(&armed.client).await;
    drop(armed);
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM orders WHERE status = $1",
            "expired"
        )
        .await,
        0,
        "the crash left nothing half done"
    );

    let restarted = start(&test_db.url, &stripe, None).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    loop {
        tick.tick().await;
        if count(
            &db,
            "SELECT COUNT(*) FROM orders WHERE status = $1",
            "expired",
        )
        .await
            == 1
        {
            break;
        }
        assert!(Instant::now() < deadline, "the sweeper never released it");
    }
    let left: i64 = sqlx::query("SELECT available_units FROM listings WHERE id = $1")
        .bind(listing.as_str())
        .fetch_one(db.writes())
        .await
        .unwrap()
        .try_get("available_units")
        .unwrap();
    assert_eq!(left, 10, "the units came back once");
    drop(restarted);
    assert_ledger_clean(&db).await;
}

/// Starts `udam serve` without Stripe (the dev checkout), armed at `point` if given.
async fn start_dev(db_url: &str, point: Option<&str>) -> ServerProcess {
    let armed = point.map(|p| format!("{p}=return"));
    let env: Vec<(&str, &str)> = armed
        .as_deref()
        .map(|a| vec![("FAILPOINTS", a)])
        .unwrap_or_default();
    ServerProcess::start(db_url, &[], &env).await
}

/// Presses a dev checkout's Pay button on `client` (the checkout URL names the
/// process that created it; its path is the same on any process). `None` when the
/// connection broke.
async fn press_pay(client: &Client, checkout_url: &str) -> Option<StatusCode> {
    let path = &checkout_url[checkout_url.find("/dev/checkout/").expect("dev checkout")..];
    client
        .http
        .post(format!("{}{path}/pay", client.base))
        .send()
        .await
        .ok()
        .map(|r| r.status())
}

/// The dev checkout's Pay crashes before its transaction commits
/// (`payments::dev_pay_before_commit`), once for an order and once for a
/// settlement; on a new process the buyer presses Pay again: each is paid once
/// (one grant, one `paid_sale`, one `settlement_paid`), a further press changes
/// nothing, and the ledger is clean.
async fn dev_pay_crash_before_commit(backend: Backend) {
    const POINT: &str = "payments::dev_pay_before_commit";
    let test_db = TestDb::new(backend).await;
    let db = fixtures::connect(&test_db.url).await;
    let armed = start_dev(&test_db.url, Some(POINT)).await;
    let seller = armed.signup("seller@example.com").await;
    let buyer = armed.signup("buyer@example.com").await;
    let dear = create_listing(&armed, &seller, &listing_body("dear", 1500, 10)).await;
    let cheap = create_listing(&armed, &seller, &listing_body("cheap", 150, 10)).await;
    let bought = armed
        .post(
            "/api/v1/orders",
            &json!({"listing_id": dear.as_str(), "units": 2}),
            Some(&buyer),
        )
        .await;
    assert_eq!(bought.status, StatusCode::CREATED, "{:?}", bought.body);
    let order = bought.body["order"]["id"].as_str().unwrap().to_owned();
    let order_checkout = bought.body["checkout_url"].as_str().unwrap().to_owned();
    place_order(&armed, &buyer, &cheap, 2).await;
    let settled = armed
        .post(
            "/api/v1/balance/settle",
            &json!({"currency": "usd"}),
            Some(&buyer),
        )
        .await;
    assert_eq!(settled.status, StatusCode::CREATED, "{:?}", settled.body);
    let settlement = settled.body["id"].as_str().unwrap().to_owned();
    let settlement_checkout = settled.body["checkout_url"].as_str().unwrap().to_owned();

    let status_of = |table: &'static str, id: String| {
        let db = db.clone();
        async move {
            let sql = if table == "orders" {
                "SELECT status FROM orders WHERE id = $1"
            } else {
                "SELECT status FROM settlements WHERE id = $1"
            };
            sqlx::query(sql)
                .bind(id)
                .fetch_one(db.writes())
                .await
                .unwrap()
                .try_get::<String, _>("status")
                .unwrap()
        }
    };

    // The order's payment dies before it commits: nothing of it is left.
    assert!(
        press_pay(&armed, &order_checkout).await.is_none(),
        "the process aborts at {POINT}"
    );
    wait_until_dead(&armed.client).await;
    drop(armed);
    assert_eq!(status_of("orders", order.clone()).await, "pending_payment");
    // The settlement's payment too, on the next process.
    let armed = start_dev(&test_db.url, Some(POINT)).await;
    assert!(
        press_pay(&armed, &settlement_checkout).await.is_none(),
        "the process aborts at {POINT}"
    );
    wait_until_dead(&armed.client).await;
    drop(armed);
    assert_eq!(
        status_of("settlements", settlement.clone()).await,
        "pending"
    );
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM grants WHERE order_id = $1",
            &order
        )
        .await,
        0
    );
    assert_ledger_clean(&db).await;

    // The buyer presses Pay again on a healthy process: each is paid once.
    let restarted = start_dev(&test_db.url, None).await;
    for _ in 0..2 {
        assert_eq!(
            press_pay(&restarted, &order_checkout).await,
            Some(StatusCode::SEE_OTHER)
        );
        assert_eq!(
            press_pay(&restarted, &settlement_checkout).await,
            Some(StatusCode::SEE_OTHER)
        );
    }
    assert_eq!(status_of("orders", order.clone()).await, "fulfilled");
    assert_eq!(status_of("settlements", settlement.clone()).await, "paid");
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM grants WHERE order_id = $1",
            &order
        )
        .await,
        1
    );
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM journal_transactions WHERE subject_id = $1",
            &order
        )
        .await,
        1,
        "one paid_sale"
    );
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM journal_transactions WHERE reference = $1",
            &format!("settlement_paid:{settlement}")
        )
        .await,
        1
    );
    let balance = restarted.get("/api/v1/balance", Some(&buyer)).await;
    assert_eq!(balance.body["items"], json!([]));
    let tokens = restarted.get("/api/v1/tokens", Some(&buyer)).await;
    assert_eq!(tokens.body["items"].as_array().unwrap().len(), 2);
    drop(restarted);
    assert_ledger_clean(&db).await;
}
