//! Settlements of the unpaid balance (issue 12, defects 1 and 2): a settlement claims
//! a definite set of deferred orders when it is created, charges their sum, and its
//! payment pays exactly that set, whenever it arrives. Through the fake Stripe, on
//! both backends, each ending with the ledger clean.

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Row;

use crate::common::{Backend, Client, Resp, TestApp, create_listing, listing_body, order};
use crate::fake_stripe::FakeStripe;

const SECRET_KEY: &str = "sk_test_udam_fake";
const WEBHOOK_SECRET: &str = "whsec_udam_test";

crate::dual_backend_tests!(
    settlement_pays_exactly_the_set_it_claimed,
    one_open_settlement_per_buyer_and_currency,
    lapsed_settlement_releases_its_set_and_a_late_payment_pays_it,
    late_payment_for_a_set_paid_since_is_refunded,
    refunded_settlement_payment_returns_the_debt,
    mismatched_settlement_payment_changes_nothing,
    earnings_follow_the_money,
    migration_records_sets_and_keeps_one_open_settlement,
    refunded_settlements_are_marked_verified_and_carried_forward,
    free_orders_are_never_settled_and_a_set_is_bounded,
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
            WEBHOOK_SECRET,
            "--stripe-api-base",
            &base,
            "--unpaid-cap-cents",
            "100000",
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

async fn settle(app: &Client, token: &str) -> Resp {
    app.post(
        "/api/v1/balance/settle",
        &json!({"currency": "usd"}),
        Some(token),
    )
    .await
}

/// Buys one unit instantly (asserting a deferred order) and returns its id.
async fn buy_deferred(app: &Client, token: &str, listing: &str) -> String {
    let r = order(app, token, listing, 1).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["order"]["payment_status"], "deferred");
    r.body["order"]["id"].as_str().unwrap().to_owned()
}

async fn session_of(app: &TestApp, settlement: &str) -> String {
    sqlx::query("SELECT provider_session_id FROM settlements WHERE id = $1")
        .bind(settlement)
        .fetch_one(app.database().pool())
        .await
        .unwrap()
        .try_get::<String, _>("provider_session_id")
        .unwrap()
}

/// A settlement's stored status.
async fn settlement_status(app: &TestApp, settlement: &str) -> String {
    sqlx::query("SELECT status FROM settlements WHERE id = $1")
        .bind(settlement)
        .fetch_one(app.database().pool())
        .await
        .unwrap()
        .try_get::<String, _>("status")
        .unwrap()
}

/// The problems `udam ledger verify` reports about `subject`.
async fn verify_flags(app: &TestApp, subject: &str) -> Vec<String> {
    udam::ledger::verify(app.database())
        .await
        .expect("verify")
        .discrepancies
        .iter()
        .map(ToString::to_string)
        .filter(|line| line.starts_with(subject))
        .collect()
}

/// The orders a settlement claimed, sorted.
async fn set_of(app: &TestApp, settlement: &str) -> Vec<String> {
    let rows = sqlx::query(
        "SELECT order_id FROM settlement_orders WHERE settlement_id = $1 ORDER BY order_id",
    )
    .bind(settlement)
    .fetch_all(app.database().pool())
    .await
    .unwrap();
    rows.iter()
        .map(|r| r.try_get::<String, _>("order_id").unwrap())
        .collect()
}

/// Orders with this payment status, sorted.
async fn orders_with(app: &TestApp, payment_status: &str) -> Vec<String> {
    let rows = sqlx::query("SELECT id FROM orders WHERE payment_status = $1 ORDER BY id")
        .bind(payment_status)
        .fetch_all(app.database().pool())
        .await
        .unwrap();
    rows.iter()
        .map(|r| r.try_get::<String, _>("id").unwrap())
        .collect()
}

async fn owed(app: &TestApp, token: &str) -> Value {
    app.get("/api/v1/balance", Some(token)).await.body["items"].clone()
}

/// Pays a settlement's checkout at the fake Stripe and delivers the event.
async fn pay(app: &TestApp, stripe: &FakeStripe, settlement: &str) -> Resp {
    let session = session_of(app, settlement).await;
    stripe.complete_session(&session);
    deliver(app, &stripe.checkout_completed_event(&session)).await
}

/// Defect 1 (and 2): settle fired together with 19 instant orders. Whatever the
/// race, the settlement charges the sum of the set it claimed, its payment marks
/// exactly that set paid, and the balance owes exactly the rest.
async fn settlement_pays_exactly_the_set_it_claimed(backend: Backend) {
    let Setup {
        app,
        stripe,
        seller,
        buyer,
    } = setup(backend).await;
    let cent = create_listing(&app, &seller, &listing_body("cent", 1, 100)).await;
    let dollar = create_listing(&app, &seller, &listing_body("dollar", 100, 100)).await;
    buy_deferred(&app, &buyer, &cent).await;
    let client = app.client.clone();
    let settling = {
        let (client, buyer) = (client.clone(), buyer.clone());
        async move { settle(&client, &buyer).await }
    };
    let buys = join_all((0..19).map(|_| {
        let (client, buyer, dollar) = (client.clone(), buyer.clone(), dollar.clone());
        async move { buy_deferred(&client, &buyer, &dollar).await }
    }));
    let (settled, bought) = tokio::join!(settling, buys);
    assert_eq!(settled.status, StatusCode::CREATED, "{:?}", settled.body);
    assert_eq!(bought.len(), 19);
    let id = settled.body["id"].as_str().unwrap().to_owned();
    let set = set_of(&app, &id).await;
    let set_sum = app
        .scalar(
            "SELECT CAST(SUM(o.total_cents) AS BIGINT) FROM orders o \
             JOIN settlement_orders s ON s.order_id = o.id WHERE s.settlement_id = $1",
            &id,
        )
        .await;
    assert_eq!(
        settled.body["amount_cents"].as_i64(),
        Some(set_sum),
        "it charges exactly the sum of the set it claimed"
    );
    let created = stripe
        .requests()
        .into_iter()
        .rfind(|r| r.path == "/v1/checkout/sessions")
        .unwrap();
    assert_eq!(
        created.form_value("line_items[0][price_data][unit_amount]"),
        Some(set_sum.to_string().as_str())
    );

    let paid = pay(&app, &stripe, &id).await;
    assert_eq!(paid.body["outcome"], "settled", "{:?}", paid.body);
    assert_eq!(
        orders_with(&app, "paid").await,
        set,
        "exactly the set is paid"
    );
    let total_bought = 1 + 19 * 100;
    assert_eq!(
        owed(&app, &buyer).await,
        if total_bought == set_sum {
            json!([])
        } else {
            json!([{"currency": "usd", "owed_cents": total_bought - set_sum}])
        }
    );
    let dup = pay_again(&app, &stripe, &id).await;
    assert_eq!(dup.body["outcome"], "duplicate");
    app.assert_ledger_clean().await;

    // What is left is settled next, and the balance reaches zero.
    if total_bought > set_sum {
        let next = settle(&app, &buyer).await;
        assert_eq!(next.body["amount_cents"], total_bought - set_sum);
        let next_id = next.body["id"].as_str().unwrap().to_owned();
        assert_eq!(
            pay(&app, &stripe, &next_id).await.body["outcome"],
            "settled"
        );
    }
    assert_eq!(owed(&app, &buyer).await, json!([]));
    assert_eq!(orders_with(&app, "deferred").await.len(), 0);
    app.assert_ledger_clean().await;
}

async fn pay_again(app: &TestApp, stripe: &FakeStripe, settlement: &str) -> Resp {
    let session = session_of(app, settlement).await;
    deliver(app, &stripe.checkout_completed_event(&session)).await
}

/// Concurrent settle requests open one settlement; every request gets it back.
async fn one_open_settlement_per_buyer_and_currency(backend: Backend) {
    let Setup {
        app,
        stripe,
        seller,
        buyer,
    } = setup(backend).await;
    let listing = create_listing(&app, &seller, &listing_body("open", 150, 100)).await;
    for _ in 0..3 {
        buy_deferred(&app, &buyer, &listing).await;
    }
    let answers = join_all((0..8).map(|_| {
        let (client, buyer) = (app.client.clone(), buyer.clone());
        async move { settle(&client, &buyer).await }
    }))
    .await;
    let ids: Vec<&str> = answers
        .iter()
        .map(|r| {
            assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
            assert_eq!(r.body["amount_cents"], 450);
            r.body["id"].as_str().unwrap()
        })
        .collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    assert_eq!(
        app.scalar(
            "SELECT COUNT(*) FROM settlements WHERE status = $1",
            "pending"
        )
        .await,
        1
    );
    let urls: Vec<&Value> = answers.iter().map(|r| &r.body["checkout_url"]).collect();
    assert!(
        urls.iter().all(|u| *u == urls[0] && u.is_string()),
        "{urls:?}"
    );
    assert_eq!(pay(&app, &stripe, ids[0]).await.body["outcome"], "settled");
    app.assert_ledger_clean().await;
}

/// A lapsed settlement frees its orders; a payment after the lapse still pays its
/// own set while that set is unpaid.
async fn lapsed_settlement_releases_its_set_and_a_late_payment_pays_it(backend: Backend) {
    let Setup {
        app,
        stripe,
        seller,
        buyer,
    } = setup(backend).await;
    let listing = create_listing(&app, &seller, &listing_body("lapse", 150, 100)).await;
    buy_deferred(&app, &buyer, &listing).await;
    buy_deferred(&app, &buyer, &listing).await;
    let first = settle(&app, &buyer).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let session = session_of(&app, &first).await;
    stripe.complete_session(&session);
    // Our reservation lapsed before the webhook came: the sweeper sees it paid.
    sqlx::query("UPDATE settlements SET created_at = 1 WHERE id = $1")
        .bind(&first)
        .execute(app.database().writes())
        .await
        .unwrap();
    udam::payments::sweeper::sweep_once(&app.state)
        .await
        .unwrap();
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM settlements WHERE status = $1", "paid")
            .await,
        1,
        "the sweeper found the payment and applied it"
    );
    assert_eq!(owed(&app, &buyer).await, json!([]));
    let dup = deliver(&app, &stripe.checkout_completed_event(&session)).await;
    assert_eq!(dup.body["outcome"], "duplicate");
    app.assert_ledger_clean().await;

    // Now a settlement that lapses unpaid, then is paid anyway.
    let third = buy_deferred(&app, &buyer, &listing).await;
    let second = settle(&app, &buyer).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let session = session_of(&app, &second).await;
    stripe.expire_session(&session);
    let r = deliver(&app, &stripe.session_expired_event(&session)).await;
    assert_eq!(r.body["outcome"], "released");
    assert_eq!(
        app.scalar(
            "SELECT COUNT(*) FROM orders WHERE settlement_id IS NOT NULL AND id = $1",
            &third
        )
        .await,
        0,
        "its order is free for the next settlement"
    );
    assert_eq!(set_of(&app, &second).await, vec![third.clone()]);
    app.assert_ledger_clean().await;
    // Stripe expired it, but say a delayed method paid it anyway.
    let late = stripe.altered_session_event(
        "checkout.session.async_payment_succeeded",
        &session,
        json!({"payment_status": "paid", "payment_intent": "pi_late_1"}),
    );
    let r = deliver(&app, &late).await;
    assert_eq!(r.body["outcome"], "settled", "{:?}", r.body);
    assert_eq!(orders_with(&app, "deferred").await.len(), 0);
    assert_eq!(owed(&app, &buyer).await, json!([]));
    app.assert_ledger_clean().await;
}

/// A payment after the lapse whose set was paid by a later settlement pays for
/// nothing: it is recorded as unapplied and refunded at once.
async fn late_payment_for_a_set_paid_since_is_refunded(backend: Backend) {
    let Setup {
        app,
        stripe,
        seller,
        buyer,
    } = setup(backend).await;
    let listing = create_listing(&app, &seller, &listing_body("twice", 150, 100)).await;
    buy_deferred(&app, &buyer, &listing).await;
    let first = settle(&app, &buyer).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let first_session = session_of(&app, &first).await;
    stripe.complete_session(&first_session);
    // Lapsed here before the payment's webhook arrived (the sweeper could not ask).
    let mut tx = app.database().begin_write().await.unwrap();
    udam::payments::settlement::lapse(
        &mut tx,
        &first,
        None,
        udam::vocab::SettlementStatus::Expired,
    )
    .await
    .unwrap()
    .unwrap();
    tx.commit().await.unwrap();
    let second = settle(&app, &buyer).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(first, second);
    assert_eq!(set_of(&app, &first).await, set_of(&app, &second).await);
    assert_eq!(pay(&app, &stripe, &second).await.body["outcome"], "settled");

    let r = deliver(&app, &stripe.checkout_completed_event(&first_session)).await;
    assert_eq!(r.body["outcome"], "refunded", "{:?}", r.body);
    let pi = stripe
        .session(&first_session)
        .unwrap()
        .payment_intent
        .unwrap();
    let refunds = stripe.api_refunds();
    assert_eq!(refunds.len(), 1);
    assert_eq!(refunds[0].0, pi);
    for kind in ["unapplied_payment", "payment_returned"] {
        assert_eq!(
            app.scalar(
                "SELECT COUNT(*) FROM journal_transactions WHERE reference = $1",
                &format!("{kind}:{first}")
            )
            .await,
            1
        );
    }
    // Stripe then reports the refund: nothing more happens.
    let r = deliver(&app, &stripe.charge_refunded_event(&pi)).await;
    assert_eq!(r.body["outcome"], "duplicate", "{:?}", r.body);
    assert_eq!(owed(&app, &buyer).await, json!([]));
    app.assert_ledger_clean().await;
}

/// Defect 4: a full refund of a settlement's payment posts `settlement_refund`: the
/// debt returns, and the orders can be settled again.
async fn refunded_settlement_payment_returns_the_debt(backend: Backend) {
    let Setup {
        app,
        stripe,
        seller,
        buyer,
    } = setup(backend).await;
    let listing = create_listing(&app, &seller, &listing_body("back", 150, 100)).await;
    buy_deferred(&app, &buyer, &listing).await;
    buy_deferred(&app, &buyer, &listing).await;
    let id = settle(&app, &buyer).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(pay(&app, &stripe, &id).await.body["outcome"], "settled");
    assert_eq!(owed(&app, &buyer).await, json!([]));
    let session = session_of(&app, &id).await;
    let pi = stripe.session(&session).unwrap().payment_intent.unwrap();

    // A partial refund cannot be mapped onto the orders: kept for an operator.
    stripe.refund_in_dashboard(&pi, 100);
    let r = deliver(&app, &stripe.charge_refunded_event(&pi)).await;
    assert_eq!(r.body["outcome"], "mismatched", "{:?}", r.body);
    assert_eq!(
        settlement_status(&app, &id).await,
        "paid",
        "a partial refund keeps it paid"
    );
    app.assert_ledger_clean().await;

    stripe.refund_in_dashboard(&pi, 200);
    let event = stripe.charge_refunded_event(&pi);
    let r = deliver(&app, &event).await;
    assert_eq!(r.body["outcome"], "settlement_refunded", "{:?}", r.body);
    assert_eq!(settlement_status(&app, &id).await, "refunded");
    assert_eq!(
        app.scalar(
            "SELECT COUNT(*) FROM journal_transactions WHERE reference = $1",
            &format!("settlement_refund:{id}:full")
        )
        .await,
        1
    );
    let again = event.replacen("\"evt_", "\"evt_again_", 1);
    assert_eq!(deliver(&app, &again).await.body["outcome"], "duplicate");
    assert_eq!(
        owed(&app, &buyer).await,
        json!([{"currency": "usd", "owed_cents": 300}]),
        "the debt returns"
    );
    assert_eq!(orders_with(&app, "deferred").await.len(), 2);
    app.assert_ledger_clean().await;

    let next = settle(&app, &buyer).await;
    assert_eq!(next.status, StatusCode::CREATED, "{:?}", next.body);
    assert_eq!(next.body["amount_cents"], 300);
    let next_id = next.body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        pay(&app, &stripe, &next_id).await.body["outcome"],
        "settled"
    );
    assert_eq!(owed(&app, &buyer).await, json!([]));
    app.assert_ledger_clean().await;
}

/// Defect 3 for settlements: a signed event of another amount pays nothing.
async fn mismatched_settlement_payment_changes_nothing(backend: Backend) {
    let Setup {
        app,
        stripe,
        seller,
        buyer,
    } = setup(backend).await;
    let listing = create_listing(&app, &seller, &listing_body("forge", 400, 100)).await;
    buy_deferred(&app, &buyer, &listing).await;
    let id = settle(&app, &buyer).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let session = session_of(&app, &id).await;
    stripe.complete_session(&session);
    let forged = stripe.altered_session_event(
        "checkout.session.completed",
        &session,
        json!({"amount_total": 1}),
    );
    let r = deliver(&app, &forged).await;
    assert_eq!(r.body["outcome"], "mismatched");
    assert_eq!(
        owed(&app, &buyer).await,
        json!([{"currency": "usd", "owed_cents": 400}])
    );
    assert_eq!(orders_with(&app, "paid").await.len(), 0);
    assert_eq!(
        deliver(&app, &stripe.checkout_completed_event(&session))
            .await
            .body["outcome"],
        "settled"
    );
    app.assert_ledger_clean().await;
}

/// `GET /api/v1/earnings`: a seller's pending share until the buyer pays, then
/// available; from the ledger, per currency; buyers with no sales see nothing.
async fn earnings_follow_the_money(backend: Backend) {
    let Setup {
        app,
        stripe,
        seller,
        buyer,
    } = setup(backend).await;
    let small = create_listing(&app, &seller, &listing_body("small", 150, 100)).await;
    let large = create_listing(&app, &seller, &listing_body("large", 2000, 100)).await;
    let earnings = |token: String| {
        let client = app.client.clone();
        async move { client.get("/api/v1/earnings", Some(&token)).await }
    };
    let none = earnings(seller.clone()).await;
    assert_eq!(none.status, StatusCode::OK);
    assert_eq!(none.body["items"], json!([]));
    buy_deferred(&app, &buyer, &small).await;
    buy_deferred(&app, &buyer, &small).await;
    // Paid earnings are payable at once and held for the payout hold (issue 13):
    // pending and payable are the figures this test follows.
    let figures = |body: Value| {
        let item = &body["items"][0];
        json!([
            item["currency"],
            item["pending_cents"],
            item["payable_cents"]
        ])
    };
    assert_eq!(
        figures(earnings(seller.clone()).await.body),
        json!(["usd", 300, 0])
    );
    // A large order paid through Stripe is available at once.
    let paid = order(&app, &buyer, &large, 1).await;
    let paid_id = paid.body["order"]["id"].as_str().unwrap().to_owned();
    let session: String = sqlx::query("SELECT provider_session_id FROM orders WHERE id = $1")
        .bind(&paid_id)
        .fetch_one(app.database().pool())
        .await
        .unwrap()
        .try_get("provider_session_id")
        .unwrap();
    stripe.complete_session(&session);
    deliver(&app, &stripe.checkout_completed_event(&session)).await;
    assert_eq!(
        figures(earnings(seller.clone()).await.body),
        json!(["usd", 300, 2000])
    );
    let id = settle(&app, &buyer).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    pay(&app, &stripe, &id).await;
    assert_eq!(
        figures(earnings(seller.clone()).await.body),
        json!(["usd", 0, 2300])
    );
    assert_eq!(earnings(buyer.clone()).await.body["items"], json!([]));
    assert_eq!(
        app.get("/api/v1/earnings", None).await.status,
        StatusCode::UNAUTHORIZED
    );
    app.assert_ledger_clean().await;
}

/// Migration 0005 on a database written by the code before it: two pending
/// settlements of one buyer (defect 1's slow-Stripe case) become one, the older
/// lapsing and releasing its orders; every remaining settlement's set is recorded;
/// a second open settlement can no longer be inserted; the ledger stays clean.
async fn migration_records_sets_and_keeps_one_open_settlement(backend: Backend) {
    let test_db = crate::common::TestDb::new(backend).await;
    // Before the ledger, so that its backfill posts the sales of these rows.
    let db = crate::common::fixtures::connect_migrated_to(&test_db.url, 2).await;
    let statements: [&'static str; 3] = [
        "INSERT INTO orders (id, buyer_id, listing_id, seller_id, service_name, units, \
           unit_price_cents, total_cents, currency, status, payment_status, holds_units, \
           settlement_id, created_at, updated_at) VALUES \
         ('ord_1', 'usr_b', 'lst_1', 'usr_s', 'W', 1, 100, 100, 'usd', 'fulfilled', 'deferred', 1, 'stl_old', 1, 1), \
         ('ord_2', 'usr_b', 'lst_1', 'usr_s', 'W', 1, 100, 100, 'usd', 'fulfilled', 'deferred', 1, 'stl_old', 2, 2), \
         ('ord_3', 'usr_b', 'lst_1', 'usr_s', 'W', 1, 100, 100, 'usd', 'fulfilled', 'deferred', 1, 'stl_new', 6, 6), \
         ('ord_4', 'usr_b', 'lst_1', 'usr_s', 'W', 1, 100, 100, 'usd', 'fulfilled', 'paid', 1, 'stl_paid', 0, 0)",
        "INSERT INTO settlements (id, user_id, currency, amount_cents, status, \
           provider_session_id, checkout_url, created_at, updated_at) VALUES \
         ('stl_paid', 'usr_b', 'usd', 100, 'paid', 'dev_stl_paid', 'http://x/dev/checkout/stl_paid', 0, 1), \
         ('stl_old', 'usr_b', 'usd', 200, 'pending', 'dev_stl_old', 'http://x/dev/checkout/stl_old', 5, 5), \
         ('stl_new', 'usr_b', 'usd', 100, 'pending', 'dev_stl_new', 'http://x/dev/checkout/stl_new', 9, 9)",
        "INSERT INTO balances (user_id, currency, owed_cents) VALUES ('usr_b', 'usd', 300)",
    ];
    let listing = "INSERT INTO listings (id, seller_id, service_name, description, \
         unit_description, price_cents, currency, available_units, status, api_key_sealed, \
         api_key_key_id, api_key_hint, created_at, updated_at) VALUES \
         ('lst_1', 'usr_s', 'W', '', 'call', 100, 'usd', 50, 'active', $1, 'k', 'h', 1, 1)";
    crate::common::fixtures::insert_users(db.writes(), &["usr_b", "usr_s"]).await;
    sqlx::query(listing)
        .bind(vec![0u8; 4])
        .execute(db.writes())
        .await
        .unwrap();
    for sql in statements {
        sqlx::query(sql)
            .execute(db.writes())
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    db.migrate().await.expect("migrate forward");

    let status = |id: &'static str| {
        let db = db.clone();
        async move {
            sqlx::query("SELECT status FROM settlements WHERE id = $1")
                .bind(id)
                .fetch_one(db.writes())
                .await
                .unwrap()
                .try_get::<String, _>("status")
                .unwrap()
        }
    };
    assert_eq!(
        status("stl_old").await,
        "failed",
        "the older open one lapses"
    );
    assert_eq!(status("stl_new").await, "pending");
    let sets = sqlx::query(
        "SELECT settlement_id, order_id FROM settlement_orders ORDER BY settlement_id, order_id",
    )
    .fetch_all(db.writes())
    .await
    .unwrap();
    let sets: Vec<(String, String)> = sets
        .iter()
        .map(|r| {
            (
                r.try_get("settlement_id").unwrap(),
                r.try_get("order_id").unwrap(),
            )
        })
        .collect();
    assert_eq!(
        sets,
        vec![
            ("stl_new".to_owned(), "ord_3".to_owned()),
            ("stl_paid".to_owned(), "ord_4".to_owned()),
        ]
    );
    let freed: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM orders WHERE settlement_id IS NULL AND id IN ('ord_1', 'ord_2')",
    )
    .fetch_one(db.writes())
    .await
    .unwrap()
    .try_get("n")
    .unwrap();
    assert_eq!(freed, 2, "its orders are free for the next settlement");
    let second_open = sqlx::query(
        "INSERT INTO settlements (id, user_id, currency, amount_cents, status, created_at, updated_at) \
         VALUES ('stl_more', 'usr_b', 'usd', 1, 'pending', 10, 10)",
    )
    .execute(db.writes())
    .await;
    assert!(
        second_open.is_err_and(|e| udam::db::is_unique_violation(&e)),
        "one open settlement per buyer and currency"
    );
    crate::common::assert_ledger_clean(&db).await;
}

/// A fully refunded settlement is `refunded`; `ledger verify` holds `paid` and
/// `refunded` to the journal; and migration 0009 marks a settlement refunded before
/// the status existed (left `paid`) from its journal.
async fn refunded_settlements_are_marked_verified_and_carried_forward(backend: Backend) {
    let Setup {
        app,
        stripe,
        seller,
        buyer,
    } = setup(backend).await;
    let listing = create_listing(&app, &seller, &listing_body("mark", 120, 100)).await;
    buy_deferred(&app, &buyer, &listing).await;
    let refunded = settle(&app, &buyer).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        pay(&app, &stripe, &refunded).await.body["outcome"],
        "settled"
    );
    let session = session_of(&app, &refunded).await;
    let pi = stripe.session(&session).unwrap().payment_intent.unwrap();
    stripe.refund_in_dashboard(&pi, 120);
    let r = deliver(&app, &stripe.charge_refunded_event(&pi)).await;
    assert_eq!(r.body["outcome"], "settlement_refunded", "{:?}", r.body);
    assert_eq!(settlement_status(&app, &refunded).await, "refunded");
    let view = app.get("/api/v1/balance", Some(&buyer)).await.body;
    assert_eq!(
        view["items"],
        json!([{"currency": "usd", "owed_cents": 120}])
    );
    // A second settlement, paid and never refunded.
    let paid = settle(&app, &buyer).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(pay(&app, &stripe, &paid).await.body["outcome"], "settled");
    app.assert_ledger_clean().await;

    // Each status must agree with the journal.
    let set = |id: String, status: &'static str| {
        let db = app.database().clone();
        async move {
            sqlx::query("UPDATE settlements SET status = $2 WHERE id = $1")
                .bind(id)
                .bind(status)
                .execute(db.writes())
                .await
                .unwrap();
        }
    };
    set(paid.clone(), "refunded").await;
    assert_eq!(
        verify_flags(&app, &paid).await,
        vec![format!(
            "{paid}: refunded but the journal records no refund of its payment"
        )]
    );
    set(paid.clone(), "paid").await;
    // The state a full refund left before `refunded` existed.
    set(refunded.clone(), "paid").await;
    assert_eq!(
        verify_flags(&app, &refunded).await,
        vec![format!(
            "{refunded}: paid but the journal refunds its payment in full"
        )]
    );

    // Migration 0009 carries it forward.
    sqlx::query("DELETE FROM _sqlx_migrations WHERE version = 9")
        .execute(app.database().writes())
        .await
        .unwrap();
    app.database().migrate().await.expect("migrate forward");
    assert_eq!(settlement_status(&app, &refunded).await, "refunded");
    assert_eq!(settlement_status(&app, &paid).await, "paid");
    app.assert_ledger_clean().await;
}

/// A settlement claims the oldest `MAX_SETTLEMENT_ORDERS` owed orders (its payment
/// reads each one's sale, so an unbounded set would outlast the webhook that pays
/// it) and never a free order, which owes nothing; the rest is settled next time.
async fn free_orders_are_never_settled_and_a_set_is_bounded(backend: Backend) {
    let max = udam::payments::settlement::MAX_SETTLEMENT_ORDERS;
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
            "--unpaid-cap-cents",
            "100000000",
            "--rate-limit-orders",
            "100000/min",
            "--rate-limit-ip",
            "100000/min",
        ],
    )
    .await;
    let seller = app.signup("seller@example.com").await;
    let buyer = app.signup("buyer@example.com").await;
    let free = create_listing(&app, &seller, &listing_body("free", 0, 10)).await;
    let dollar = create_listing(&app, &seller, &listing_body("dollar", 100, 2_000)).await;
    let free_orders = [
        buy_deferred(&app, &buyer, &free).await,
        buy_deferred(&app, &buyer, &free).await,
    ];
    let owed_orders = usize::try_from(max).unwrap() + 3;
    for chunk in 0..owed_orders.div_ceil(32) {
        let n = 32.min(owed_orders - chunk * 32);
        join_all((0..n).map(|_| buy_deferred(&app, &buyer, &dollar))).await;
    }
    let first = settle(&app, &buyer).await;
    assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.body);
    assert_eq!(first.body["amount_cents"], 100 * max);
    let id = first.body["id"].as_str().unwrap().to_owned();
    let set = set_of(&app, &id).await;
    assert_eq!(set.len(), usize::try_from(max).unwrap());
    for free_order in &free_orders {
        assert!(!set.contains(free_order), "a free order owes nothing");
    }
    // The three left are the newest.
    let newest_claimed = app
        .scalar(
            "SELECT MAX(o.created_at) FROM orders o JOIN settlement_orders s ON s.order_id = o.id \
             WHERE s.settlement_id = $1",
            &id,
        )
        .await;
    let oldest_left = app
        .scalar(
            "SELECT MIN(created_at) FROM orders WHERE settlement_id IS NULL AND total_cents > 0 \
             AND listing_id = $1",
            &dollar,
        )
        .await;
    assert!(oldest_left >= newest_claimed, "oldest first");
    assert_eq!(pay(&app, &stripe, &id).await.body["outcome"], "settled");
    let second = settle(&app, &buyer).await;
    assert_eq!(second.status, StatusCode::CREATED, "{:?}", second.body);
    assert_eq!(second.body["amount_cents"], 300, "the rest, next time");
    let id = second.body["id"].as_str().unwrap().to_owned();
    assert_eq!(pay(&app, &stripe, &id).await.body["outcome"], "settled");
    // Nothing is owed but the free orders: nothing to settle.
    let third = settle(&app, &buyer).await;
    assert_eq!(third.status, StatusCode::CONFLICT, "{:?}", third.body);
    app.assert_ledger_clean().await;
}
