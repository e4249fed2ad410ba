//! Stripe Checkout end to end against the fake Stripe: sessions, verified webhooks,
//! duplicates, expiry (webhook and sweeper), outages, late payments, settlement.

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::json;

use crate::common::process::ServerProcess;
use crate::common::{
    Backend, Client, ListingId, OrderId, Resp, TestApp, TestDb, create_listing, listing_body,
    order, place_order, units_left,
};
use crate::fake_stripe::{Failure, FakeStripe};

mod early_refunds;
mod races;

const SECRET_KEY: &str = "sk_test_udam_fake";
const WEBHOOK_SECRET: &str = "whsec_udam_test";

crate::dual_backend_tests!(
    large_order_through_stripe_checkout,
    ten_concurrent_deliveries_fulfil_once,
    forged_or_stale_signatures_change_nothing,
    expired_session_returns_units_by_webhook_and_by_sweeper,
    stripe_down_returns_units,
    late_payment_is_fulfilled_or_refunded,
    async_payments_and_refunds,
    webhooks_bound_to_what_they_pay,
    partial_refunds_keep_the_grant_full_refunds_revoke,
    return_urls_are_honoured,
    two_processes_sweep_at_once,
);

struct Setup {
    app: TestApp,
    stripe: FakeStripe,
    seller: String,
    buyer: String,
}

async fn setup(backend: Backend) -> Setup {
    let stripe = FakeStripe::start(SECRET_KEY).await;
    let base = stripe.base_url();
    let app = TestApp::spawn_with(
        backend,
        &[
            "--stripe-secret-key",
            SECRET_KEY,
            "--stripe-webhook-secret",
            &format!("whsec_old_rotated,{WEBHOOK_SECRET}"),
            "--stripe-api-base",
            &base,
        ],
    )
    .await;
    let seller = app.signup("seller@example.com").await;
    let buyer = app.signup("buyer@example.com").await;
    Setup {
        app,
        stripe,
        seller,
        buyer,
    }
}

async fn deliver(app: &Client, body: &str) -> Resp {
    let signature = FakeStripe::signed_header(body, WEBHOOK_SECRET);
    app.send(
        app.http
            .post(format!("{}/api/v1/webhooks/stripe", app.base))
            .header("stripe-signature", signature)
            .header("content-type", "application/json")
            .body(body.to_owned()),
    )
    .await
}

async fn session_of(app: &TestApp, order_id: &str) -> String {
    use sqlx::Row;
    sqlx::query("SELECT provider_session_id FROM orders WHERE id = $1")
        .bind(order_id)
        .fetch_one(app.database().pool())
        .await
        .unwrap()
        .try_get::<String, _>(0)
        .unwrap()
}

/// Places an order of `units` of `listing` that waits for Checkout, and has the
/// buyer pay its session at Stripe (no webhook sent yet): (order id, session id).
async fn paid_at_stripe(
    app: &TestApp,
    stripe: &FakeStripe,
    buyer: &str,
    listing: &ListingId,
    units: i64,
) -> (OrderId, String) {
    let id = place_order(app, buyer, listing, units).await;
    let session = session_of(app, &id).await;
    stripe.complete_session(&session);
    (id, session)
}

/// A new listing (`stock` units at `price`) of which the buyer bought `units` through
/// Checkout, paid and fulfilled: (listing, order id, payment intent).
async fn paid_order(
    setup: &Setup,
    price: i64,
    stock: i64,
    units: i64,
) -> (ListingId, OrderId, String) {
    let Setup {
        app,
        stripe,
        seller,
        buyer,
    } = setup;
    let listing = create_listing(app, seller, &listing_body("paid", price, stock)).await;
    let (id, session) = paid_at_stripe(app, stripe, buyer, &listing, units).await;
    assert_eq!(
        deliver(app, &stripe.checkout_completed_event(&session))
            .await
            .body["outcome"],
        "fulfilled"
    );
    let pi = stripe.session(&session).unwrap().payment_intent.unwrap();
    (listing, id, pi)
}

async fn order_status(app: &TestApp, token: &str, id: &str) -> (String, String) {
    let o = app
        .get(&format!("/api/v1/orders/{id}"), Some(token))
        .await
        .body;
    (
        o["status"].as_str().unwrap().to_owned(),
        o["payment_status"].as_str().unwrap().to_owned(),
    )
}

async fn large_order_through_stripe_checkout(backend: Backend) {
    let Setup {
        app,
        stripe,
        seller,
        buyer,
    } = setup(backend).await;
    let listing = create_listing(&app, &seller, &listing_body("stocks", 1500, 10)).await;
    let r = order(&app, &buyer, &listing, 2).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["payment_requires_confirmation"], true);
    let id = r.body["order"]["id"].as_str().unwrap().to_owned();
    let url = r.body["checkout_url"].as_str().unwrap();
    assert!(
        url.starts_with("https://checkout.stripe.com/"),
        "the buyer goes to Stripe: {url}"
    );
    let session = session_of(&app, &id).await;
    assert!(session.starts_with("cs_test_"));

    let created = stripe
        .requests()
        .into_iter()
        .find(|r| r.path == "/v1/checkout/sessions")
        .unwrap();
    assert_eq!(created.form_value("mode"), Some("payment"));
    assert_eq!(
        created.form_value("line_items[0][price_data][currency]"),
        Some("usd")
    );
    assert_eq!(
        created.form_value("line_items[0][price_data][unit_amount]"),
        Some("1500")
    );
    assert_eq!(created.form_value("line_items[0][quantity]"), Some("2"));
    assert!(
        created
            .form_value("line_items[0][price_data][product_data][name]")
            .unwrap()
            .contains("stocks")
    );
    assert_eq!(created.form_value("client_reference_id"), Some(id.as_str()));
    assert_eq!(created.form_value("metadata[order_id]"), Some(id.as_str()));
    assert!(created.idempotency_key.is_some());
    assert_eq!(
        created.authorization.as_deref(),
        Some(format!("Bearer {SECRET_KEY}").as_str())
    );
    let expires_at: i64 = created.form_value("expires_at").unwrap().parse().unwrap();
    let reserved_until = app
        .scalar("SELECT expires_at FROM orders WHERE id = $1", &id)
        .await;
    // The session closes when the reservation lapses, or a minute after a 30-minute
    // one (Stripe's minimum, with room for the call); the sweeper closes it at the
    // lapse either way.
    let lapse = reserved_until / 1000;
    assert!(
        (lapse..=lapse + 120).contains(&expires_at),
        "session expires at {expires_at}, the reservation at {lapse}"
    );
    assert!(
        created
            .form_value("success_url")
            .unwrap()
            .ends_with(&format!("/orders/{id}/success"))
    );

    let dev = app.get(&format!("/dev/checkout/{id}"), None).await;
    assert_eq!(
        dev.status,
        StatusCode::NOT_FOUND,
        "no dev checkout when Stripe is configured"
    );

    stripe.complete_session(&session);
    let r = deliver(&app, &stripe.checkout_completed_event(&session)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["outcome"], "fulfilled");
    assert_eq!(
        order_status(&app, &buyer, &id).await,
        ("fulfilled".into(), "paid".into())
    );
    let tokens = app.get("/api/v1/tokens", Some(&buyer)).await.body;
    assert_eq!(
        tokens["items"][0]["access_token"],
        "sk_stocks_secret_0123456789"
    );
    assert_eq!(units_left(&app, &listing).await, 8);
    app.assert_ledger_clean().await;
}

async fn ten_concurrent_deliveries_fulfil_once(backend: Backend) {
    let Setup {
        app,
        stripe,
        seller,
        buyer,
    } = setup(backend).await;
    let listing = create_listing(&app, &seller, &listing_body("dup", 1500, 10)).await;
    let (id, session) = paid_at_stripe(&app, &stripe, &buyer, &listing, 1).await;
    let event = stripe.checkout_completed_event(&session);
    let deliveries = (0..10).map(|_| {
        let client = app.client.clone();
        let event = event.clone();
        async move { deliver(&client, &event).await }
    });
    let results = join_all(deliveries).await;
    let mut outcomes: Vec<String> = results
        .iter()
        .map(|r| {
            assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
            r.body["outcome"].as_str().unwrap().to_owned()
        })
        .collect();
    outcomes.sort();
    assert_eq!(
        outcomes.iter().filter(|o| *o == "fulfilled").count(),
        1,
        "{outcomes:?}"
    );
    assert_eq!(
        outcomes.iter().filter(|o| *o == "duplicate").count(),
        9,
        "{outcomes:?}"
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM grants WHERE order_id = $1", &id)
            .await,
        1
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM webhook_events WHERE id <> $1", "")
            .await,
        1
    );
    app.assert_ledger_clean().await;
}

async fn forged_or_stale_signatures_change_nothing(backend: Backend) {
    let Setup {
        app,
        stripe,
        seller,
        buyer,
    } = setup(backend).await;
    let listing = create_listing(&app, &seller, &listing_body("forged", 1500, 10)).await;
    let (id, session) = paid_at_stripe(&app, &stripe, &buyer, &listing, 1).await;
    let event = stripe.checkout_completed_event(&session);
    let url = format!("{}/api/v1/webhooks/stripe", app.base);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let cases = [
        Some(udam::payments::stripe::webhook::sign_payload(
            event.as_bytes(),
            "whsec_attacker",
            now,
        )),
        Some(udam::payments::stripe::webhook::sign_payload(
            event.as_bytes(),
            WEBHOOK_SECRET,
            now - 400,
        )),
        Some("t=1,v1=deadbeef".to_owned()),
        Some("garbage".to_owned()),
        None,
    ];
    for signature in cases {
        let mut req = app.http.post(&url).body(event.clone());
        if let Some(sig) = &signature {
            req = req.header("stripe-signature", sig);
        }
        let r = app.send(req).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{signature:?}");
        assert_eq!(r.error_code(), "invalid_signature");
    }
    // A body altered after signing fails too.
    let signed = FakeStripe::signed_header(&event, WEBHOOK_SECRET);
    let altered = event.replace("\"paid\"", "\"unpaid\"");
    let r = app
        .send(
            app.http
                .post(&url)
                .header("stripe-signature", signed)
                .body(altered),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        order_status(&app, &buyer, &id).await.0,
        "pending_payment",
        "nothing changed"
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM webhook_events WHERE id <> $1", "")
            .await,
        0
    );
    assert!(
        app.get("/api/v1/tokens", Some(&buyer)).await.body["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    app.assert_ledger_clean().await;
}

async fn expired_session_returns_units_by_webhook_and_by_sweeper(backend: Backend) {
    let Setup {
        app,
        stripe,
        seller,
        buyer,
    } = setup(backend).await;
    let listing = create_listing(&app, &seller, &listing_body("exp", 1500, 10)).await;
    let first = place_order(&app, &buyer, &listing, 3).await;
    let second = place_order(&app, &buyer, &listing, 4).await;
    assert_eq!(units_left(&app, &listing).await, 3);

    // By webhook: Stripe expired the session.
    let session = session_of(&app, &first).await;
    stripe.expire_session(&session);
    let r = deliver(&app, &stripe.session_expired_event(&session)).await;
    assert_eq!(r.body["outcome"], "released");
    assert_eq!(order_status(&app, &buyer, &first).await.0, "expired");

    // By the sweeper: our reservation lapsed; it expires the session at Stripe.
    sqlx::query("UPDATE orders SET expires_at = 1 WHERE id = $1")
        .bind(second.as_str())
        .execute(app.database().writes())
        .await
        .unwrap();
    let released = udam::payments::sweeper::sweep_once(&app.state)
        .await
        .unwrap();
    assert_eq!(released, 1);
    let session = session_of(&app, &second).await;
    assert!(
        stripe
            .requests()
            .iter()
            .any(|r| r.path == format!("/v1/checkout/sessions/{session}/expire"))
    );
    assert_eq!(
        stripe.session(&session).unwrap().status.as_deref(),
        Some("expired")
    );
    assert_eq!(order_status(&app, &buyer, &second).await.0, "expired");
    assert_eq!(
        units_left(&app, &listing).await,
        10,
        "every unit is back, once"
    );
    assert_eq!(
        udam::payments::sweeper::sweep_once(&app.state)
            .await
            .unwrap(),
        0
    );
    app.assert_ledger_clean().await;
}

async fn stripe_down_returns_units(backend: Backend) {
    let Setup {
        app,
        stripe,
        seller,
        buyer,
    } = setup(backend).await;
    let listing = create_listing(&app, &seller, &listing_body("down", 1500, 10)).await;
    for failure in [Failure::ServerError, Failure::BadRequest] {
        stripe.set_failure(Some(failure));
        let r = order(&app, &buyer, &listing, 2).await;
        assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{:?}", r.body);
        assert_eq!(r.error_code(), "payment_provider_unavailable");
        assert!(!r.body.to_string().contains(SECRET_KEY));
    }
    stripe.set_failure(None);
    assert_eq!(units_left(&app, &listing).await, 10, "no unit lost");
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM orders WHERE status = $1", "failed")
            .await,
        2
    );
    assert_eq!(
        order(&app, &buyer, &listing, 2).await.status,
        StatusCode::CREATED,
        "works again"
    );
    app.assert_ledger_clean().await;
}

async fn late_payment_is_fulfilled_or_refunded(backend: Backend) {
    let Setup {
        app,
        stripe,
        seller,
        buyer,
    } = setup(backend).await;
    let other = app.signup("other@example.com").await;
    let listing = create_listing(&app, &seller, &listing_body("late", 1500, 4)).await;
    // (a) Paid at Stripe, then released here before the webhook came: units still there.
    let (a, session_a) = paid_at_stripe(&app, &stripe, &buyer, &listing, 2).await;
    let cancel = app
        .post(
            &format!("/api/v1/orders/{a}/cancel"),
            &json!({}),
            Some(&buyer),
        )
        .await;
    assert_eq!(cancel.status, StatusCode::OK);
    assert_eq!(units_left(&app, &listing).await, 4);
    let r = deliver(&app, &stripe.checkout_completed_event(&session_a)).await;
    assert_eq!(r.body["outcome"], "fulfilled");
    assert_eq!(
        order_status(&app, &buyer, &a).await,
        ("fulfilled".into(), "paid".into())
    );
    assert_eq!(
        units_left(&app, &listing).await,
        2,
        "the units were taken again"
    );

    // (b) The same, but the units were sold to someone else meanwhile: refund.
    let (b, session_b) = paid_at_stripe(&app, &stripe, &buyer, &listing, 2).await;
    app.post(
        &format!("/api/v1/orders/{b}/cancel"),
        &json!({}),
        Some(&buyer),
    )
    .await;
    let bought = order(&app, &other, &listing, 2).await;
    assert_eq!(bought.status, StatusCode::CREATED);
    assert_eq!(units_left(&app, &listing).await, 0);
    let r = deliver(&app, &stripe.checkout_completed_event(&session_b)).await;
    assert_eq!(r.body["outcome"], "refunded", "{:?}", r.body);
    assert_eq!(
        order_status(&app, &buyer, &b).await,
        ("refunded".into(), "refunded".into())
    );
    let pi = stripe.session(&session_b).unwrap().payment_intent.unwrap();
    let refunds: Vec<_> = stripe
        .requests()
        .into_iter()
        .filter(|r| r.path == "/v1/refunds")
        .collect();
    assert_eq!(refunds.len(), 1);
    assert_eq!(refunds[0].form_value("payment_intent"), Some(pi.as_str()));
    assert_eq!(units_left(&app, &listing).await, 0, "never negative");
    let tokens = app.get("/api/v1/tokens", Some(&buyer)).await.body;
    assert_eq!(
        tokens["items"].as_array().unwrap().len(),
        1,
        "no token for the refunded order"
    );
    app.assert_ledger_clean().await;
}

async fn async_payments_and_refunds(backend: Backend) {
    let Setup {
        app,
        stripe,
        seller,
        buyer,
    } = setup(backend).await;
    let listing = create_listing(&app, &seller, &listing_body("async", 1500, 10)).await;
    let ok = place_order(&app, &buyer, &listing, 1).await;
    let bad = place_order(&app, &buyer, &listing, 1).await;
    let (s_ok, s_bad) = (session_of(&app, &ok).await, session_of(&app, &bad).await);
    for s in [&s_ok, &s_bad] {
        stripe.complete_session_unpaid(s);
        let r = deliver(&app, &stripe.checkout_completed_event(s)).await;
        assert_eq!(r.body["outcome"], "awaiting_async_payment");
    }
    assert_eq!(order_status(&app, &buyer, &ok).await.0, "pending_payment");
    stripe.settle_async_payment(&s_ok, true);
    assert_eq!(
        deliver(&app, &stripe.async_payment_succeeded_event(&s_ok))
            .await
            .body["outcome"],
        "fulfilled"
    );
    stripe.settle_async_payment(&s_bad, false);
    assert_eq!(
        deliver(&app, &stripe.async_payment_failed_event(&s_bad))
            .await
            .body["outcome"],
        "released"
    );
    assert_eq!(order_status(&app, &buyer, &bad).await.0, "failed");
    assert_eq!(units_left(&app, &listing).await, 9);

    // A refund made at Stripe revokes the token and returns the units.
    let pi = stripe.session(&s_ok).unwrap().payment_intent.unwrap();
    stripe.refund_in_dashboard(&pi, 1500);
    let r = deliver(&app, &stripe.charge_refunded_event(&pi)).await;
    assert_eq!(r.body["outcome"], "revoked");
    let tokens = app.get("/api/v1/tokens", Some(&buyer)).await.body;
    assert_eq!(tokens["items"][0]["status"], "revoked");
    assert!(tokens["items"][0]["access_token"].is_null());
    assert_eq!(
        order_status(&app, &buyer, &ok).await,
        ("refunded".into(), "refunded".into())
    );
    assert_eq!(units_left(&app, &listing).await, 10);
    let other = deliver(
        &app,
        &crate::fake_stripe::event_json("customer.created", json!({"id": "cus_1"})),
    )
    .await;
    assert_eq!(other.status, StatusCode::OK);
    assert_eq!(other.body["outcome"], "ignored");
    app.assert_ledger_clean().await;
}

async fn two_processes_sweep_at_once(backend: Backend) {
    let stripe = FakeStripe::start(SECRET_KEY).await;
    let db = TestDb::new(backend).await;
    let base = stripe.base_url();
    let args = [
        "--stripe-secret-key",
        SECRET_KEY,
        "--stripe-webhook-secret",
        WEBHOOK_SECRET,
        "--stripe-api-base",
        &base,
        "--sweep-interval",
        "50ms",
    ];
    let one = ServerProcess::start(&db.url, &args, &[]).await;
    let two = ServerProcess::start(&db.url, &args, &[]).await;
    let seller = one.signup("seller@example.com").await;
    let buyer = one.signup("buyer@example.com").await;
    let listing = create_listing(&one, &seller, &listing_body("sweep", 1500, 20)).await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        let r = order(&two, &buyer, &listing, 2).await;
        ids.push(r.body["order"]["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(units_left(&one, &listing).await, 10);
    let pool = crate::common::fixtures::connect(&db.url).await;
    sqlx::query("UPDATE orders SET expires_at = 1")
        .execute(pool.writes())
        .await
        .unwrap();
    // Both processes sweep every 50 ms; wait until every order is expired.
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(25));
    let started = std::time::Instant::now();
    loop {
        tick.tick().await;
        use sqlx::Row;
        let expired: i64 = sqlx::query("SELECT COUNT(*) FROM orders WHERE status = 'expired'")
            .fetch_one(pool.writes())
            .await
            .unwrap()
            .try_get(0)
            .unwrap();
        if expired == 5 {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "sweepers never finished"
        );
    }
    use sqlx::Row;
    let left: i64 = sqlx::query("SELECT available_units FROM listings WHERE id = $1")
        .bind(listing.as_str())
        .fetch_one(pool.writes())
        .await
        .unwrap()
        .try_get(0)
        .unwrap();
    assert_eq!(left, 20, "each order's units came back exactly once");
    let expire_calls = stripe
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/expire"))
        .count();
    assert!(
        expire_calls >= 5,
        "every session was expired at Stripe ({expire_calls} calls)"
    );
    crate::common::assert_ledger_clean(&pool).await;
}

/// Whether the journal holds a transaction under `reference`.
async fn journal_has(app: &TestApp, reference: &str) -> bool {
    app.scalar(
        "SELECT COUNT(*) FROM journal_transactions WHERE reference = $1",
        reference,
    )
    .await
        == 1
}

/// Issue 12, defect 3: a signed event fulfils only the checkout it describes. Each
/// forgery is answered 200 `mismatched`, kept in the inbox with its reason, and
/// changes nothing; the genuine event still works afterwards.
async fn webhooks_bound_to_what_they_pay(backend: Backend) {
    let Setup {
        app,
        stripe,
        seller,
        buyer,
    } = setup(backend).await;
    let listing = create_listing(&app, &seller, &listing_body("bound", 100_000, 10)).await;
    let (id, session) = paid_at_stripe(&app, &stripe, &buyer, &listing, 1).await;
    let foreign = [
        json!({"id": "cs_test_payment_link_1"}),
        json!({"amount_total": 600}),
        json!({"currency": "jpy", "amount_total": 1}),
    ];
    for changes in foreign {
        let body =
            stripe.altered_session_event("checkout.session.completed", &session, changes.clone());
        let r = deliver(&app, &body).await;
        assert_eq!(r.status, StatusCode::OK, "{changes}: {:?}", r.body);
        assert_eq!(r.body["outcome"], "mismatched", "{changes}");
        assert_eq!(
            order_status(&app, &buyer, &id).await,
            ("pending_payment".into(), "unpaid".into()),
            "{changes} changed nothing"
        );
    }
    // An `expired` of another session releases nothing.
    let r = deliver(
        &app,
        &stripe.altered_session_event(
            "checkout.session.expired",
            &session,
            json!({"id": "cs_test_other", "status": "expired"}),
        ),
    )
    .await;
    assert_eq!(r.body["outcome"], "mismatched");
    assert_eq!(units_left(&app, &listing).await, 9, "still reserved");
    assert_eq!(
        app.scalar(
            "SELECT COUNT(*) FROM webhook_events WHERE mismatch IS NOT NULL AND id <> $1",
            ""
        )
        .await,
        4,
        "each mismatch is kept in the inbox with its reason"
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM grants WHERE order_id = $1", &id)
            .await,
        0
    );
    assert!(!journal_has(&app, &format!("paid_sale:{id}")).await);
    let metrics = app.metrics.as_ref().expect("metrics listener");
    let text = metrics
        .http
        .get(format!("{}/metrics", metrics.base))
        .send()
        .await
        .expect("scrape")
        .text()
        .await
        .expect("text");
    assert!(
        text.contains("udam_webhook_mismatches_total"),
        "mismatches are counted"
    );

    let r = deliver(&app, &stripe.checkout_completed_event(&session)).await;
    assert_eq!(r.body["outcome"], "fulfilled");
    assert!(journal_has(&app, &format!("paid_sale:{id}")).await);
    app.assert_ledger_clean().await;
}

/// Issue 12, defect 4: a partial refund posts its part (fee split in proportion) and
/// keeps the grant; the rest refunded revokes it and returns the units. A repeated
/// report of the same cumulative refund posts nothing.
async fn partial_refunds_keep_the_grant_full_refunds_revoke(backend: Backend) {
    let setup = setup(backend).await;
    let (listing, id, pi) = paid_order(&setup, 30_000, 10, 2).await;
    let Setup {
        app, stripe, buyer, ..
    } = setup;

    stripe.refund_in_dashboard(&pi, 10_000);
    let event = stripe.charge_refunded_event(&pi);
    let r = deliver(&app, &event).await;
    assert_eq!(r.body["outcome"], "partially_refunded", "{:?}", r.body);
    assert!(journal_has(&app, &format!("refund:{id}:upto_10000")).await);
    // Stripe may report the same state again under a new event id.
    let again = event.replacen("\"evt_", "\"evt_again_", 1);
    assert_eq!(deliver(&app, &again).await.body["outcome"], "duplicate");
    assert_eq!(
        order_status(&app, &buyer, &id).await,
        ("fulfilled".into(), "paid".into())
    );
    let tokens = app.get("/api/v1/tokens", Some(&buyer)).await.body;
    assert_eq!(tokens["items"][0]["status"], "active", "the grant stays");
    assert_eq!(units_left(&app, &listing).await, 8);
    app.assert_ledger_clean().await;

    stripe.refund_in_dashboard(&pi, 50_000);
    let r = deliver(&app, &stripe.charge_refunded_event(&pi)).await;
    assert_eq!(r.body["outcome"], "revoked", "{:?}", r.body);
    assert!(journal_has(&app, &format!("refund:{id}:upto_60000")).await);
    assert_eq!(
        order_status(&app, &buyer, &id).await,
        ("refunded".into(), "refunded".into())
    );
    let tokens = app.get("/api/v1/tokens", Some(&buyer)).await.body;
    assert_eq!(tokens["items"][0]["status"], "revoked");
    assert_eq!(units_left(&app, &listing).await, 10);
    let refunded: i64 = app
        .scalar(
            "SELECT -CAST(SUM(e.amount_cents) AS BIGINT) FROM journal_entries e \
             JOIN journal_transactions t ON t.reference = e.reference \
             WHERE t.subject_id = $1 AND t.kind = 'refund' AND e.account_kind = 'provider_clearing'",
            &id,
        )
        .await;
    assert_eq!(refunded, 60_000, "refunded exactly once, in two parts");
    app.assert_ledger_clean().await;
}

/// Issue 12, defect 9: `--stripe-success-url` / `--stripe-cancel-url` reach Stripe.
async fn return_urls_are_honoured(backend: Backend) {
    let stripe = FakeStripe::start(SECRET_KEY).await;
    let base = stripe.base_url();
    let app = TestApp::spawn_with(
        backend,
        &[
            "--stripe-secret-key",
            SECRET_KEY,
            "--stripe-webhook-secret",
            WEBHOOK_SECRET,
            "--stripe-api-base",
            &base,
            "--stripe-success-url",
            "https://shop.example/thanks?order={ORDER_ID}",
            "--stripe-cancel-url",
            "https://shop.example/basket/{ORDER_ID}",
        ],
    )
    .await;
    let seller = app.signup("seller@example.com").await;
    let buyer = app.signup("buyer@example.com").await;
    let listing = create_listing(&app, &seller, &listing_body("urls", 1500, 10)).await;
    let id = place_order(&app, &buyer, &listing, 1).await;
    let created = stripe
        .requests()
        .into_iter()
        .find(|r| r.path == "/v1/checkout/sessions")
        .unwrap();
    assert_eq!(
        created.form_value("success_url"),
        Some(format!("https://shop.example/thanks?order={id}").as_str())
    );
    assert_eq!(
        created.form_value("cancel_url"),
        Some(format!("https://shop.example/basket/{id}").as_str())
    );
    app.assert_ledger_clean().await;
}
