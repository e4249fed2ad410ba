//! Payout runs through the dev provider: exactly once per seller and currency, above
//! the minimum, skipping held sellers; two `udam payouts run` processes racing; a
//! refund after a payout recovered from the next payout.

use reqwest::StatusCode;
use serde_json::json;

use super::{PAST_HOLD, admin, buy_and_pay, listing, payouts_of, run_payouts, usd_earnings};
use crate::common::{Backend, TestApp, TestDb, fixtures};

crate::dual_backend_tests!(
    a_run_pays_what_is_available_once_and_lists_it,
    an_admin_hold_keeps_a_seller_unpaid_until_released,
    a_refund_after_a_payout_is_recovered_from_the_next,
    two_processes_racing_pay_each_seller_once,
    a_run_killed_after_recording_is_sent_once_by_the_next,
);

async fn a_run_pays_what_is_available_once_and_lists_it(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        &[
            "--dev-payout-test-clock",
            "--platform-fee-bps",
            "1000",
            "--payout-minimum-cents",
            "1000",
        ],
    )
    .await;
    let admin = admin(&app).await;
    let seller = app.signup("seller@example.com").await;
    let small_seller = app.signup("small@example.com").await;
    let buyer = app.signup("buyer@example.com").await;
    let large = listing(&app, &seller, "large", 2000).await;
    let modest = listing(&app, &small_seller, "modest", 600).await;
    buy_and_pay(&app, &buyer, &large).await;
    buy_and_pay(&app, &buyer, &modest).await;

    // Inside the hold nothing is paid.
    assert_eq!(run_payouts(&app, &admin).await, (0, 0));
    assert!(payouts_of(&app, &seller).await.is_empty());
    app.state
        .config
        .payouts
        .advance_test_clock(PAST_HOLD)
        .expect("test clock on");
    // Past it, the seller is paid their 1800; the other's 540 is below the minimum.
    assert_eq!(run_payouts(&app, &admin).await, (1, 1));
    let payouts = payouts_of(&app, &seller).await;
    assert_eq!(payouts.len(), 1);
    assert_eq!(
        (
            &payouts[0]["amount_cents"],
            &payouts[0]["currency"],
            &payouts[0]["status"],
            &payouts[0]["provider"],
            &payouts[0]["simulated"],
        ),
        (
            &json!(1800),
            &json!("usd"),
            &json!("paid"),
            &json!("dev"),
            &json!(true)
        )
    );
    assert!(payouts[0]["transfer_id"].is_string());
    let e = usd_earnings(&app, &seller).await;
    assert_eq!(
        (
            &e["available_cents"],
            &e["paid_out_cents"],
            &e["in_transit_cents"],
            &e["platform_fee_cents"]
        ),
        (&json!(0), &json!(1800), &json!(0), &json!(200))
    );
    assert!(payouts_of(&app, &small_seller).await.is_empty());
    assert_eq!(
        usd_earnings(&app, &small_seller).await["available_cents"],
        540
    );
    // A second run pays nothing again; the buyer and others see no payouts.
    assert_eq!(run_payouts(&app, &admin).await, (0, 0));
    assert_eq!(payouts_of(&app, &seller).await.len(), 1);
    assert!(payouts_of(&app, &buyer).await.is_empty());
    // Non-administrators cannot run payouts.
    let r = app
        .post("/api/v1/admin/payouts/run", &json!({}), Some(&seller))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.error_code(), "forbidden");
    app.assert_ledger_clean().await;
}

async fn an_admin_hold_keeps_a_seller_unpaid_until_released(backend: Backend) {
    let app = TestApp::spawn_with(backend, &["--payout-hold-days", "0"]).await;
    let admin = admin(&app).await;
    let seller = app.signup("seller@example.com").await;
    let buyer = app.signup("buyer@example.com").await;
    let seller_id: String =
        sqlx::query_scalar("SELECT id FROM users WHERE email = 'seller@example.com'")
            .fetch_one(app.database().pool())
            .await
            .unwrap();
    let large = listing(&app, &seller, "large", 2000).await;
    buy_and_pay(&app, &buyer, &large).await;
    let hold = |held: bool, token: String| {
        let client = app.client.clone();
        let path = format!("/api/v1/admin/sellers/{seller_id}/payouts-hold");
        async move {
            client
                .post(&path, &json!({ "held": held }), Some(&token))
                .await
        }
    };
    let r = hold(true, seller.clone()).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "a seller cannot hold");
    let r = hold(true, admin.clone()).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body, json!({"held": true}));
    assert_eq!(run_payouts(&app, &admin).await, (0, 0));
    assert_eq!(usd_earnings(&app, &seller).await["available_cents"], 2000);
    let r = hold(false, admin.clone()).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(run_payouts(&app, &admin).await, (1, 1));
    assert_eq!(payouts_of(&app, &seller).await[0]["amount_cents"], 2000);
    // Unknown sellers and malformed bodies answer in the envelope.
    let r = app
        .post(
            "/api/v1/admin/sellers/usr_nobody/payouts-hold",
            &json!({"held": true}),
            Some(&admin),
        )
        .await;
    assert_eq!(
        (r.status, r.error_code()),
        (StatusCode::NOT_FOUND, "not_found")
    );
    let r = app
        .post(
            &format!("/api/v1/admin/sellers/{seller_id}/payouts-hold"),
            &json!({"held": "yes"}),
            Some(&admin),
        )
        .await;
    assert!(r.status.is_client_error(), "{:?}", r.body);
    assert!(r.body["error"]["code"].is_string());
    app.assert_ledger_clean().await;
}

/// A refund after a payout takes back money already sent: the payable goes below
/// zero, no payout is made, and the next sales recover it before anything is paid.
async fn a_refund_after_a_payout_is_recovered_from_the_next(backend: Backend) {
    let app = TestApp::spawn_with(backend, &["--payout-hold-days", "0"]).await;
    let admin = admin(&app).await;
    let seller = app.signup("seller@example.com").await;
    let buyer = app.signup("buyer@example.com").await;
    let large = listing(&app, &seller, "large", 2000).await;
    let first = buy_and_pay(&app, &buyer, &large).await;
    assert_eq!(run_payouts(&app, &admin).await, (1, 1));

    // The dev checkout has no refund flow: post the partial refund the way the
    // Stripe refund handler does, through the ledger's refund builder, in a
    // transaction of its own.
    let db = app.database();
    let mut tx = db.begin_write().await.unwrap();
    let sale = udam::ledger::recorded_sale(&mut tx, &first)
        .await
        .unwrap()
        .expect("sale recorded");
    let refund = udam::ledger::refund(&sale, "dev", 1500, "re_after_payout").unwrap();
    udam::ledger::post(&mut tx, &refund).await.unwrap();
    tx.commit().await.unwrap();

    let e = usd_earnings(&app, &seller).await;
    assert_eq!(
        (&e["available_cents"], &e["paid_out_cents"]),
        (&json!(-1500), &json!(2000))
    );
    assert_eq!(run_payouts(&app, &admin).await, (0, 0));
    // The next sale first covers the 1500 owed back; only 500 is paid.
    buy_and_pay(&app, &buyer, &large).await;
    assert_eq!(usd_earnings(&app, &seller).await["available_cents"], 500);
    assert_eq!(run_payouts(&app, &admin).await, (1, 1));
    let payouts = payouts_of(&app, &seller).await;
    assert_eq!(
        payouts
            .iter()
            .map(|p| p["amount_cents"].clone())
            .collect::<Vec<_>>(),
        vec![json!(500), json!(2000)]
    );
    let e = usd_earnings(&app, &seller).await;
    assert_eq!(
        (&e["available_cents"], &e["paid_out_cents"]),
        (&json!(0), &json!(2500))
    );
    app.assert_ledger_clean().await;
}

/// Two real `udam payouts run` processes started together on one database: each
/// seller is paid exactly once, for exactly their available money.
async fn two_processes_racing_pay_each_seller_once(backend: Backend) {
    let db = TestDb::new(backend).await;
    let url = db.url.clone();
    let app = TestApp::spawn_on(db, &["--payout-hold-days", "0"]).await;
    let buyer = app.signup("buyer@example.com").await;
    let sellers = fixtures::users(app.database(), "seller", 6).await;
    for (i, seller) in sellers.iter().enumerate() {
        let price = 1000 + 100 * i64::try_from(i).unwrap();
        let id = listing(&app, seller, &format!("svc{i}"), price).await;
        buy_and_pay(&app, &buyer, &id).await;
    }
    let run = || {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_udam"))
            .args(["--database-url", &url, "--payout-hold-days", "0"])
            .args(["--master-keys", crate::common::TEST_MASTER_KEYS])
            .args(["payouts", "run"])
            .env("UDAM_METRICS_BIND", "off")
            .output()
    };
    let (a, b) = tokio::join!(run(), run());
    let (a, b) = (a.expect("udam runs"), b.expect("udam runs"));
    let said = format!(
        "{}{}{}{}",
        String::from_utf8_lossy(&a.stdout),
        String::from_utf8_lossy(&a.stderr),
        String::from_utf8_lossy(&b.stdout),
        String::from_utf8_lossy(&b.stderr)
    );
    assert!(a.status.success() && b.status.success(), "{said}");
    for (i, seller) in sellers.iter().enumerate() {
        let payouts = payouts_of(&app, seller).await;
        assert_eq!(payouts.len(), 1, "seller {i} paid once: {said}");
        assert_eq!(payouts[0]["amount_cents"], 1000 + 100 * i as i64);
        assert_eq!(payouts[0]["status"], "paid");
        assert_eq!(usd_earnings(&app, seller).await["available_cents"], 0);
    }
    let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM payouts")
        .fetch_one(app.database().pool())
        .await
        .unwrap();
    assert_eq!(total, 6, "{said}");
    app.assert_ledger_clean().await;
}

/// A `udam payouts run` process killed right after recording a payout (before
/// sending it): the amount is in transit, not available, and the next run sends
/// that payout, once, without recording another.
async fn a_run_killed_after_recording_is_sent_once_by_the_next(backend: Backend) {
    let db = TestDb::new(backend).await;
    let url = db.url.clone();
    let app = TestApp::spawn_on(db, &["--payout-hold-days", "0"]).await;
    let seller = app.signup("seller@example.com").await;
    let buyer = app.signup("buyer@example.com").await;
    let large = listing(&app, &seller, "large", 2000).await;
    buy_and_pay(&app, &buyer, &large).await;
    let run = |failpoints: &'static str| {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_udam"))
            .args(["--database-url", &url, "--payout-hold-days", "0"])
            .args(["--payout-lease-ttl", "1s"])
            .args(["--master-keys", crate::common::TEST_MASTER_KEYS])
            .args(["payouts", "run"])
            .env("UDAM_METRICS_BIND", "off")
            .env("FAILPOINTS", failpoints)
            .output()
    };
    let crashed = run("payouts::recorded=return").await.expect("udam runs");
    assert!(!crashed.status.success(), "the crash point aborts the run");
    let e = usd_earnings(&app, &seller).await;
    assert_eq!(
        (
            &e["available_cents"],
            &e["in_transit_cents"],
            &e["paid_out_cents"]
        ),
        (&json!(0), &json!(2000), &json!(0))
    );
    let pending = payouts_of(&app, &seller).await;
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0]["status"], "pending");
    app.assert_ledger_clean().await;

    // The dead run's lease lapses after its TTL (1 s here): poll until a run gets it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let said = loop {
        let next = run("").await.expect("udam runs");
        let said = String::from_utf8_lossy(&next.stdout).into_owned();
        assert!(next.status.success(), "{said}");
        if !said.contains("skipped") {
            break said;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the lease never lapsed"
        );
    };
    assert!(said.contains("0 recorded, 1 sent"), "{said}");
    let payouts = payouts_of(&app, &seller).await;
    assert_eq!(payouts.len(), 1);
    assert_eq!(payouts[0]["id"], pending[0]["id"]);
    assert_eq!(payouts[0]["status"], "paid");
    let e = usd_earnings(&app, &seller).await;
    assert_eq!(
        (
            &e["available_cents"],
            &e["in_transit_cents"],
            &e["paid_out_cents"]
        ),
        (&json!(0), &json!(0), &json!(2000))
    );
    app.assert_ledger_clean().await;
}
