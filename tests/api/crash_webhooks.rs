//! Crash tests of the Stripe events beyond a checkout's payment (issue 12), each
//! delivered to a real `udam serve` that aborts at one of the webhook handler's crash
//! points and then redelivered by Stripe to a new process:
//!
//! - a paid order refunded in Stripe's dashboard, in part and then in full: each
//!   part is posted once, the grant stays after the partial refund and is revoked
//!   with the units returned after the full one;
//! - a settlement's checkout paid: its orders are paid once, the balance is cleared
//!   once; then that payment refunded in full: the debt returns once.
//!
//! The ledger is clean after each. Both backends. (The payment of an order's own
//! checkout is in `crash_payments`.)

use serde_json::json;
use sqlx::Row;

use crate::common::process::ServerProcess;
use crate::common::{
    Backend, ListingId, TestDb, assert_ledger_clean, create_listing, fixtures, listing_body,
    place_order,
};
use crate::crash_payments::{count, deliver, start};
use crate::fake_stripe::FakeStripe;

crate::dual_backend_tests!(
    refund_crash_after_inbox_insert,
    refund_crash_before_commit,
    refund_crash_after_commit,
    settlement_paid_then_refunded_crash_after_inbox_insert,
    settlement_paid_then_refunded_crash_before_commit,
    settlement_paid_then_refunded_crash_after_commit,
);

async fn refund_crash_after_inbox_insert(backend: Backend) {
    refund_crash_at(backend, "payments::webhook_after_inbox").await;
}

async fn refund_crash_before_commit(backend: Backend) {
    refund_crash_at(backend, "payments::webhook_before_commit").await;
}

async fn refund_crash_after_commit(backend: Backend) {
    refund_crash_at(backend, "payments::webhook_after_commit").await;
}

/// Paid price of the order: 2 units of 15.00.
const PAID: i64 = 3000;
/// Units the listing has before the order.
const LISTED: i64 = 10;

async fn refund_crash_at(backend: Backend, point: &str) {
    // Unarmed: the order is bought and paid (the crash points are the webhook
    // handler's, so an armed process would die on the payment first).
    let Scene {
        stripe,
        test_db,
        db,
        setup,
        buyer,
        listing,
    } = Scene::open(backend, "refund", 1500).await;
    let order = place_order(&setup, &buyer, &listing, 2).await;
    let session: String = sqlx::query("SELECT provider_session_id FROM orders WHERE id = $1")
        .bind(order.as_str())
        .fetch_one(db.writes())
        .await
        .unwrap()
        .try_get("provider_session_id")
        .unwrap();
    stripe.complete_session(&session);
    let paid = deliver(&setup, &stripe.checkout_completed_event(&session))
        .await
        .expect("answered");
    assert_eq!(paid["outcome"], "fulfilled", "{paid}");
    drop(setup);

    // A third refunded: the armed process dies, the redelivery posts it once.
    refund_crashed_at(
        &test_db.url,
        &stripe,
        point,
        &session,
        1000,
        "partially_refunded",
    )
    .await;
    assert_eq!(
        refund_entries(&db, &order).await,
        1,
        "{point}: one part posted"
    );
    assert_eq!(refunded(&db, &order).await, 1000);
    assert_eq!(grant_status(&db, &order).await, "active", "the grant stays");
    assert_eq!(units_left(&db, &listing).await, LISTED - 2);
    assert_ledger_clean(&db).await;

    // The rest refunded: the armed process dies again; the redelivery revokes the
    // grant and returns the units, once.
    refund_crashed_at(
        &test_db.url,
        &stripe,
        point,
        &session,
        PAID - 1000,
        "revoked",
    )
    .await;
    assert_eq!(
        refund_entries(&db, &order).await,
        2,
        "{point}: two parts posted"
    );
    assert_eq!(
        refunded(&db, &order).await,
        PAID,
        "refunded exactly once in all"
    );
    assert_eq!(grant_status(&db, &order).await, "revoked");
    assert_eq!(
        units_left(&db, &listing).await,
        LISTED,
        "the units came back once"
    );
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM orders WHERE id = $1 AND status = 'refunded'",
            &order
        )
        .await,
        1
    );
    assert_ledger_clean(&db).await;
}

async fn settlement_paid_then_refunded_crash_after_inbox_insert(backend: Backend) {
    settlement_paid_then_refunded_crash_at(backend, "payments::webhook_after_inbox").await;
}

async fn settlement_paid_then_refunded_crash_before_commit(backend: Backend) {
    settlement_paid_then_refunded_crash_at(backend, "payments::webhook_before_commit").await;
}

async fn settlement_paid_then_refunded_crash_after_commit(backend: Backend) {
    settlement_paid_then_refunded_crash_at(backend, "payments::webhook_after_commit").await;
}

/// Two instant orders of 1.50 on the balance, a settlement of them opened, its
/// checkout paid, then that payment refunded in full: each event kills the armed
/// process and is redelivered.
async fn settlement_paid_then_refunded_crash_at(backend: Backend, point: &str) {
    let Scene {
        stripe,
        test_db,
        db,
        setup,
        buyer,
        listing,
    } = Scene::open(backend, "owed", 150).await;
    let orders = [
        place_order(&setup, &buyer, &listing, 1).await,
        place_order(&setup, &buyer, &listing, 1).await,
    ];
    let settled = setup
        .post(
            "/api/v1/balance/settle",
            &json!({"currency": "usd"}),
            Some(&buyer),
        )
        .await;
    assert_eq!(settled.status, 201, "{:?}", settled.body);
    assert_eq!(settled.body["amount_cents"], 300);
    let settlement = settled.body["id"].as_str().unwrap().to_owned();
    drop(setup);
    let session: String = sqlx::query("SELECT provider_session_id FROM settlements WHERE id = $1")
        .bind(&settlement)
        .fetch_one(db.writes())
        .await
        .unwrap()
        .try_get("provider_session_id")
        .unwrap();
    stripe.complete_session(&session);

    let event = stripe.checkout_completed_event(&session);
    crash_then_redeliver(&test_db.url, &stripe, point, &event, "settled").await;
    let paid = "SELECT COUNT(*) FROM journal_transactions \
                WHERE subject_id = $1 AND kind = 'settlement_paid'";
    assert_eq!(count(&db, paid, &settlement).await, 1, "{point}: paid once");
    let status = "SELECT COUNT(*) FROM settlements WHERE id = $1 AND status = 'paid'";
    assert_eq!(count(&db, status, &settlement).await, 1);
    for order in &orders {
        let paid_order = "SELECT COUNT(*) FROM orders WHERE id = $1 AND payment_status = 'paid'";
        assert_eq!(count(&db, paid_order, order).await, 1, "{point}: {order}");
    }
    let after = start(&test_db.url, &stripe, None).await;
    let balance = after.get("/api/v1/balance", Some(&buyer)).await;
    assert_eq!(balance.body["items"], json!([]), "the balance is cleared");
    drop(after);
    assert_ledger_clean(&db).await;

    // The settlement's payment refunded in full: killed again, redelivered; the
    // orders are owed again, once.
    refund_crashed_at(
        &test_db.url,
        &stripe,
        point,
        &session,
        300,
        "settlement_refunded",
    )
    .await;
    let refunded = "SELECT COUNT(*) FROM journal_transactions WHERE reference = $1";
    let reference = format!("settlement_refund:{settlement}:full");
    assert_eq!(
        count(&db, refunded, &reference).await,
        1,
        "{point}: refunded once"
    );
    let after = start(&test_db.url, &stripe, None).await;
    let balance = after.get("/api/v1/balance", Some(&buyer)).await;
    assert_eq!(
        balance.body["items"],
        json!([{"currency": "usd", "owed_cents": 300}]),
        "the debt returns once"
    );
    drop(after);
    assert_ledger_clean(&db).await;
}

/// What both flows start from: a fake Stripe, a fresh database, an unarmed process
/// on it, and a buyer with a seller's listing of [`LISTED`] units at `price_cents`.
struct Scene {
    stripe: FakeStripe,
    test_db: TestDb,
    db: udam::db::Db,
    setup: ServerProcess,
    buyer: String,
    listing: ListingId,
}

impl Scene {
    async fn open(backend: Backend, name: &str, price_cents: i64) -> Self {
        let stripe = FakeStripe::start(crate::crash_payments::SECRET_KEY).await;
        let test_db = TestDb::new(backend).await;
        let db = fixtures::connect(&test_db.url).await;
        let setup = start(&test_db.url, &stripe, None).await;
        let seller = setup.signup("seller@example.com").await;
        let buyer = setup.signup("buyer@example.com").await;
        let listing =
            create_listing(&setup, &seller, &listing_body(name, price_cents, LISTED)).await;
        Self {
            stripe,
            test_db,
            db,
            setup,
            buyer,
            listing,
        }
    }
}

/// Delivers `event` to a process armed at `point` (it must die), then to a new
/// unarmed process, which must answer `applied`, or `duplicate` when the process died
/// after its commit; a third delivery is a duplicate.
async fn crash_then_redeliver(
    db_url: &str,
    stripe: &FakeStripe,
    point: &str,
    event: &str,
    applied: &str,
) {
    let armed = start(db_url, stripe, Some(point)).await;
    assert!(
        deliver(&armed, event).await.is_none(),
        "the process aborts at {point}"
    );
    drop(armed);
    let restarted = start(db_url, stripe, None).await;
    let answer = deliver(&restarted, event)
        .await
        .expect("redelivery answered");
    let expected = if point.ends_with("after_commit") {
        "duplicate"
    } else {
        applied
    };
    assert_eq!(answer["outcome"], expected, "{point}: {answer}");
    let again = deliver(&restarted, event).await.expect("answered");
    assert_eq!(again["outcome"], "duplicate", "{again}");
}

/// `amount` of the payment behind `session` refunded in Stripe's dashboard, its
/// `charge.refunded` crashed at `point` and redelivered (see [`crash_then_redeliver`]).
async fn refund_crashed_at(
    db_url: &str,
    stripe: &FakeStripe,
    point: &str,
    session: &str,
    amount: i64,
    applied: &str,
) {
    let payment_intent = stripe
        .session(session)
        .and_then(|s| s.payment_intent)
        .expect("a paid session has a payment intent");
    stripe.refund_in_dashboard(&payment_intent, amount);
    let event = stripe.charge_refunded_event(&payment_intent);
    crash_then_redeliver(db_url, stripe, point, &event, applied).await;
}

/// Refund transactions posted in the journal for `order`.
async fn refund_entries(db: &udam::db::Db, order: &str) -> i64 {
    count(
        db,
        "SELECT COUNT(*) FROM journal_transactions WHERE subject_id = $1 AND kind = 'refund'",
        order,
    )
    .await
}

/// What the journal says went back to the buyer's card for `order`, in cents.
async fn refunded(db: &udam::db::Db, order: &str) -> i64 {
    count(
        db,
        "SELECT COALESCE(-CAST(SUM(e.amount_cents) AS BIGINT), 0) FROM journal_entries e \
         JOIN journal_transactions t ON t.reference = e.reference \
         WHERE t.subject_id = $1 AND t.kind = 'refund' AND e.account_kind = 'provider_clearing'",
        order,
    )
    .await
}

async fn grant_status(db: &udam::db::Db, order: &str) -> String {
    sqlx::query("SELECT status FROM grants WHERE order_id = $1")
        .bind(order)
        .fetch_one(db.writes())
        .await
        .unwrap()
        .try_get("status")
        .unwrap()
}

async fn units_left(db: &udam::db::Db, listing: &str) -> i64 {
    count(
        db,
        "SELECT available_units FROM listings WHERE id = $1",
        listing,
    )
    .await
}
