//! Refund reports that arrive before the payment they refund: Stripe does not promise
//! the order of its events. The report is held (migration 0026) and applied when the
//! payment is recorded, in the same transaction; nothing is lost, nothing counted
//! twice, and a report about a charge that was never ours changes nothing.

use std::time::{Duration, Instant};

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::json;

use super::{
    SECRET_KEY, Setup, WEBHOOK_SECRET, deliver, journal_has, order_status, paid_at_stripe, setup,
};
use crate::common::{
    Backend, TestApp, TestDb, create_listing, fixtures, listing_body, place_order, units_left,
};
use crate::fake_stripe::{FakeStripe, event_json};

crate::dual_backend_tests!(
    refunds_reported_before_their_payment_apply_with_it,
    a_refund_racing_its_payment_is_never_lost,
    a_refund_held_while_its_payment_commits_is_applied,
    a_payment_for_units_gone_already_refunded_is_not_refunded_twice,
    held_refunds_after_0026_keep_every_row,
);

/// The payment behind a session the buyer paid at Stripe.
fn payment_of(stripe: &FakeStripe, session: &str) -> String {
    stripe
        .session(session)
        .and_then(|s| s.payment_intent)
        .expect("a paid session has a payment intent")
}

async fn held(app: &TestApp) -> i64 {
    app.scalar(
        "SELECT COUNT(*) FROM refunds_held WHERE payment_intent_id <> $1",
        "",
    )
    .await
}

async fn refunds_reported_before_their_payment_apply_with_it(backend: Backend) {
    let Setup {
        app,
        stripe,
        seller,
        buyer,
    } = setup(backend).await;
    let listing = create_listing(&app, &seller, &listing_body("early", 30_000, 10)).await;

    // Refunded in full before its completion arrives: the report is held, then the
    // payment fulfils the order and the held refund revokes it and returns its units.
    let (whole, session) = paid_at_stripe(&app, &stripe, &buyer, &listing, 2).await;
    let pi = payment_of(&stripe, &session);
    stripe.refund_in_dashboard(&pi, 60_000);
    let r = deliver(&app, &stripe.charge_refunded_event(&pi)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["outcome"], "unknown_order", "nothing to refund yet");
    assert_eq!(held(&app).await, 1);
    assert_eq!(
        order_status(&app, &buyer, &whole).await,
        ("pending_payment".into(), "unpaid".into()),
        "holding changes nothing"
    );
    let r = deliver(&app, &stripe.checkout_completed_event(&session)).await;
    assert_eq!(r.body["outcome"], "fulfilled", "{:?}", r.body);
    assert_eq!(
        order_status(&app, &buyer, &whole).await,
        ("refunded".into(), "refunded".into()),
        "the held refund was applied with the payment"
    );
    assert!(journal_has(&app, &format!("refund:{whole}:upto_60000")).await);
    assert_eq!(units_left(&app, &listing).await, 10, "its units came back");
    assert_eq!(held(&app).await, 0, "applied once, then dropped");

    // Refunded in part twice, the reports arriving in reverse: the larger (cumulative)
    // one is kept, and the order keeps its grant.
    let (part, session) = paid_at_stripe(&app, &stripe, &buyer, &listing, 1).await;
    let pi = payment_of(&stripe, &session);
    stripe.refund_in_dashboard(&pi, 10_000);
    let first = stripe.charge_refunded_event(&pi);
    stripe.refund_in_dashboard(&pi, 5_000);
    let second = stripe.charge_refunded_event(&pi);
    for report in [&second, &first] {
        assert_eq!(deliver(&app, report).await.body["outcome"], "unknown_order");
    }
    let r = deliver(&app, &stripe.checkout_completed_event(&session)).await;
    assert_eq!(r.body["outcome"], "fulfilled");
    assert_eq!(
        order_status(&app, &buyer, &part).await,
        ("fulfilled".into(), "paid".into())
    );
    assert!(journal_has(&app, &format!("refund:{part}:upto_15000")).await);
    assert!(!journal_has(&app, &format!("refund:{part}:upto_10000")).await);
    let tokens = app.get("/api/v1/tokens", Some(&buyer)).await.body;
    let active = tokens["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|t| t["status"] == "active")
        .count();
    assert_eq!(active, 1, "the partly refunded order keeps its grant");
    // Reported again after the payment: already in the journal.
    let again = second.replacen("\"evt_", "\"evt_again_", 1);
    assert_eq!(deliver(&app, &again).await.body["outcome"], "duplicate");

    // A held report that does not match what was paid is marked for an operator
    // on its own event and changes nothing.
    let (odd, session) = paid_at_stripe(&app, &stripe, &buyer, &listing, 1).await;
    let pi = payment_of(&stripe, &session);
    let forged = event_json(
        "charge.refunded",
        json!({"id": "ch_odd", "object": "charge", "amount": 1, "amount_refunded": 1,
               "currency": "usd", "payment_intent": pi}),
    );
    assert_eq!(
        deliver(&app, &forged).await.body["outcome"],
        "unknown_order"
    );
    assert_eq!(
        deliver(&app, &stripe.checkout_completed_event(&session))
            .await
            .body["outcome"],
        "fulfilled"
    );
    assert_eq!(
        order_status(&app, &buyer, &odd).await,
        ("fulfilled".into(), "paid".into())
    );
    assert_eq!(
        app.scalar(
            "SELECT COUNT(*) FROM webhook_events WHERE mismatch IS NOT NULL \
             AND event_type = 'charge.refunded' AND id <> $1",
            "",
        )
        .await,
        1,
        "the mismatch is kept with its event"
    );

    // A refund of a charge that was never ours stays held and moves no money.
    let foreign = event_json(
        "charge.refunded",
        json!({"id": "ch_foreign", "object": "charge", "amount": 900, "amount_refunded": 900,
               "currency": "usd", "payment_intent": "pi_not_ours"}),
    );
    assert_eq!(
        deliver(&app, &foreign).await.body["outcome"],
        "unknown_order"
    );
    assert_eq!(held(&app).await, 1);
    // After 90 days the purge lets it go.
    sqlx::query("UPDATE refunds_held SET received_at = $1")
        .bind(udam::clock::now_ms() - 91 * 24 * 60 * 60 * 1000)
        .execute(app.database().writes())
        .await
        .unwrap();
    let purged = udam::maintenance::purge_once(app.database())
        .await
        .expect("purge");
    assert_eq!(purged.refunds_held, 1);
    assert_eq!(held(&app).await, 0);
    app.assert_ledger_clean().await;
}

/// A payment that arrives for units gone meanwhile is given back by UDAM; if a
/// refund in full was reported (and held) before it, the money is back with the
/// payer already, and asking Stripe again would fail every retry of the event.
async fn a_payment_for_units_gone_already_refunded_is_not_refunded_twice(backend: Backend) {
    let Setup {
        app,
        stripe,
        seller,
        buyer,
    } = setup(backend).await;
    let other = app.signup("other@example.com").await;
    let listing = create_listing(&app, &seller, &listing_body("gone", 1_500, 2)).await;
    let (id, session) = paid_at_stripe(&app, &stripe, &buyer, &listing, 2).await;
    let cancel = app
        .post(
            &format!("/api/v1/orders/{id}/cancel"),
            &json!({}),
            Some(&buyer),
        )
        .await;
    assert_eq!(cancel.status, StatusCode::OK);
    place_order(&app, &other, &listing, 2).await;
    assert_eq!(
        units_left(&app, &listing).await,
        0,
        "the units went to another"
    );
    let pi = payment_of(&stripe, &session);
    stripe.refund_in_dashboard(&pi, 3_000);
    let r = deliver(&app, &stripe.charge_refunded_event(&pi)).await;
    assert_eq!(r.body["outcome"], "unknown_order");
    let r = deliver(&app, &stripe.checkout_completed_event(&session)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["outcome"], "refunded", "{:?}", r.body);
    assert!(
        stripe.api_refunds().is_empty(),
        "no second refund asked for"
    );
    assert!(journal_has(&app, &format!("payment_returned:{id}")).await);
    assert_eq!(held(&app).await, 0, "the held report was settled with it");
    app.assert_ledger_clean().await;
}

/// A refund report and the completion of the same payment, handled at the same time
/// (Stripe sends both; two processes or two connections take one each). Whichever
/// commits first, the refund is applied exactly once.
async fn a_refund_racing_its_payment_is_never_lost(backend: Backend) {
    let Setup {
        app,
        stripe,
        seller,
        buyer,
    } = setup(backend).await;
    let listing = create_listing(&app, &seller, &listing_body("race", 2_000, 20)).await;
    let mut orders = Vec::new();
    let mut events = Vec::new();
    for _ in 0..16 {
        let (id, session) = paid_at_stripe(&app, &stripe, &buyer, &listing, 1).await;
        let pi = payment_of(&stripe, &session);
        stripe.refund_in_dashboard(&pi, 2_000);
        events.push(stripe.charge_refunded_event(&pi));
        events.push(stripe.checkout_completed_event(&session));
        orders.push(id);
    }
    let answers = join_all(events.iter().map(|e| deliver(&app, e))).await;
    for r in &answers {
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    }
    for id in &orders {
        assert_eq!(
            order_status(&app, &buyer, id).await,
            ("refunded".into(), "refunded".into()),
            "{id}: its refund was applied, whichever came first"
        );
        assert!(journal_has(&app, &format!("refund:{id}:upto_2000")).await);
    }
    assert_eq!(units_left(&app, &listing).await, 20);
    assert_eq!(held(&app).await, 0);
    app.assert_ledger_clean().await;
}

/// Sessions of this PostgreSQL database waiting for a lock (row or advisory).
async fn sessions_waiting(db: &udam::db::Db) -> i64 {
    use sqlx::Row;
    sqlx::query(
        "SELECT COUNT(*) AS n FROM pg_stat_activity WHERE datname = current_database() \
         AND wait_event_type = 'Lock'",
    )
    .fetch_one(db.pool())
    .await
    .unwrap()
    .try_get("n")
    .unwrap()
}

/// The interleaving the payment lock exists for, forced on PostgreSQL: the report
/// has looked for the payment and found none, and is about to hold itself, when the
/// payment commits. A transaction of the test's own holds the held-refund row's key
/// uncommitted, so the report's insert waits on it at exactly that point. Without
/// the lock, the payment would look for held reports now, find none, and commit:
/// the refund held for ever, the buyer keeping what was refunded. With it, the
/// payment waits for the report and applies it. (SQLite's one writer runs the two
/// one after the other, which the first test covers; here they go in order.)
async fn a_refund_held_while_its_payment_commits_is_applied(backend: Backend) {
    let Setup {
        app,
        stripe,
        seller,
        buyer,
    } = setup(backend).await;
    let listing = create_listing(&app, &seller, &listing_body("held", 2_000, 5)).await;
    let (id, session) = paid_at_stripe(&app, &stripe, &buyer, &listing, 1).await;
    let pi = payment_of(&stripe, &session);
    stripe.refund_in_dashboard(&pi, 2_000);
    let report = stripe.charge_refunded_event(&pi);
    let completion = stripe.checkout_completed_event(&session);
    let (reported, completed) = if backend == Backend::Postgres {
        // A pool of the test's own: the server's few connections are for the two events.
        let own = fixtures::connect(&app.state.config.database_url()).await;
        let mut blocker = own.begin_write().await.unwrap();
        sqlx::query(
            "INSERT INTO refunds_held (payment_intent_id, event_id, charge_id, amount_cents, \
             refunded_cents, currency, received_at) VALUES ($1, 'evt_test', 'ch_test', 1, 0, 'usd', 0)",
        )
        .bind(&pi)
        .execute(&mut *blocker)
        .await
        .unwrap();
        let client = app.client.clone();
        let reported = tokio::spawn(async move { deliver(&client, &report).await });
        let deadline = Instant::now() + Duration::from_secs(10);
        while sessions_waiting(&own).await < 1 {
            assert!(
                Instant::now() < deadline,
                "the report never reached its insert"
            );
            tokio::task::yield_now().await;
        }
        let client = app.client.clone();
        let completed = tokio::spawn(async move { deliver(&client, &completion).await });
        // The payment either waits for the report (two sessions waiting) or, were
        // nothing to stop it, finishes now.
        while !completed.is_finished() && sessions_waiting(&own).await < 2 {
            assert!(
                Instant::now() < deadline,
                "the payment neither waited nor finished"
            );
            tokio::task::yield_now().await;
        }
        blocker.rollback().await.unwrap();
        (reported.await.unwrap(), completed.await.unwrap())
    } else {
        (
            deliver(&app, &report).await,
            deliver(&app, &completion).await,
        )
    };
    assert_eq!(
        reported.body["outcome"], "unknown_order",
        "{:?}",
        reported.body
    );
    assert_eq!(
        completed.body["outcome"], "fulfilled",
        "{:?}",
        completed.body
    );
    assert_eq!(
        order_status(&app, &buyer, &id).await,
        ("refunded".into(), "refunded".into()),
        "the refund was applied with the payment"
    );
    assert_eq!(held(&app).await, 0);
    assert_eq!(units_left(&app, &listing).await, 5);
    app.assert_ledger_clean().await;
}

/// A database left by the previous release (migrations up to 0025) keeps its inbox
/// and its orders through 0026, and then holds early reports.
async fn held_refunds_after_0026_keep_every_row(backend: Backend) {
    let test_db = TestDb::new(backend).await;
    let db = fixtures::connect_migrated_to(&test_db.url, 25).await;
    fixtures::insert_users(db.writes(), &["usr_b"]).await;
    sqlx::query(
        "INSERT INTO webhook_events (id, event_type, received_at, mismatch) VALUES \
         ('evt_old', 'charge.refunded', 7, NULL), ('evt_odd', 'checkout.session.completed', 8, 'amount')",
    )
    .execute(db.writes())
    .await
    .unwrap();
    db.migrate().await.expect("0026 applies over existing rows");
    drop(db);
    let stripe = FakeStripe::start(SECRET_KEY).await;
    let base = stripe.base_url();
    let app = TestApp::spawn_on(
        test_db,
        &[
            "--stripe-secret-key",
            SECRET_KEY,
            "--stripe-webhook-secret",
            WEBHOOK_SECRET,
            "--stripe-api-base",
            &base,
        ],
    )
    .await;
    assert_eq!(
        app.scalar(
            "SELECT COUNT(*) FROM webhook_events WHERE id IN ('evt_old', 'evt_odd') \
             AND (mismatch IS NULL OR mismatch = 'amount') AND id <> $1",
            "",
        )
        .await,
        2,
        "the inbox reads the same"
    );
    assert_eq!(held(&app).await, 0);
    // An event received before the upgrade is still known; a new early report is held.
    let early = event_json(
        "charge.refunded",
        json!({"id": "ch_1", "object": "charge", "amount": 5, "amount_refunded": 5,
               "currency": "usd", "payment_intent": "pi_early"}),
    );
    let mut replayed: serde_json::Value = serde_json::from_str(&early).unwrap();
    replayed["id"] = json!("evt_old");
    assert_eq!(
        deliver(&app, &replayed.to_string()).await.body["outcome"],
        "duplicate"
    );
    assert_eq!(held(&app).await, 0);
    assert_eq!(deliver(&app, &early).await.body["outcome"], "unknown_order");
    assert_eq!(held(&app).await, 1);
    app.assert_ledger_clean().await;
}
