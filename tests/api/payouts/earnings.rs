//! Earnings on the payout clock: pending until the buyer pays, held for the hold,
//! then available; the per-sale breakdown in keyset pages.

use reqwest::StatusCode;
use serde_json::json;

use super::{PAST_HOLD, buy_and_pay, listing, usd_earnings};
use crate::common::{Backend, TestApp, order};

crate::dual_backend_tests!(
    earnings_are_pending_then_held_then_available,
    entries_break_earnings_down_per_sale_in_pages,
    the_test_clock_is_off_by_default,
);

async fn earnings_are_pending_then_held_then_available(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        &["--dev-payout-test-clock", "--platform-fee-bps", "1000"],
    )
    .await;
    let seller = app.signup("seller@example.com").await;
    let buyer = app.signup("buyer@example.com").await;
    let small = listing(&app, &seller, "small", 150).await;
    let large = listing(&app, &seller, "large", 2000).await;
    assert_eq!(usd_earnings(&app, &seller).await, serde_json::Value::Null);

    // Two instant sales: the buyer owes them, so the seller's share is pending.
    for _ in 0..2 {
        let r = order(&app, &buyer, &small, 1).await;
        assert_eq!(r.body["order"]["payment_status"], "deferred");
    }
    // One paid sale: owed to the seller, held for the (default) seven days.
    buy_and_pay(&app, &buyer, &large).await;
    let e = usd_earnings(&app, &seller).await;
    // 10 % fee: 15 + 15 on the small ones, 200 on the large one.
    assert_eq!(
        (
            &e["pending_cents"],
            &e["held_cents"],
            &e["available_cents"],
            &e["payable_cents"],
            &e["platform_fee_cents"],
            &e["paid_out_cents"],
        ),
        (
            &json!(270),
            &json!(1800),
            &json!(0),
            &json!(1800),
            &json!(230),
            &json!(0)
        )
    );
    let r = app.get("/api/v1/earnings", Some(&seller)).await;
    assert_eq!(r.body["hold_days"], 7);

    // Six days on: still held. Eight: available.
    let clock = &app.state.config.payouts;
    clock
        .advance_test_clock(std::time::Duration::from_secs(6 * 86_400))
        .expect("test clock on");
    assert_eq!(usd_earnings(&app, &seller).await["available_cents"], 0);
    clock
        .advance_test_clock(std::time::Duration::from_secs(2 * 86_400))
        .expect("test clock on");
    let e = usd_earnings(&app, &seller).await;
    assert_eq!(
        (&e["held_cents"], &e["available_cents"]),
        (&json!(0), &json!(1800))
    );
    // The buyer earned nothing.
    assert_eq!(usd_earnings(&app, &buyer).await, serde_json::Value::Null);
    app.assert_ledger_clean().await;
}

async fn entries_break_earnings_down_per_sale_in_pages(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        &["--dev-payout-test-clock", "--platform-fee-bps", "1000"],
    )
    .await;
    let seller = app.signup("seller@example.com").await;
    let buyer = app.signup("buyer@example.com").await;
    let other = app.signup("other@example.com").await;
    let small = listing(&app, &seller, "small", 150).await;
    let large = listing(&app, &seller, "large", 2000).await;
    let theirs = listing(&app, &other, "theirs", 900).await;
    let deferred = order(&app, &buyer, &small, 1).await.body["order"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let older = buy_and_pay(&app, &buyer, &large).await;
    let paid = buy_and_pay(&app, &buyer, &large).await;
    buy_and_pay(&app, &buyer, &theirs).await;
    let page = |query: &'static str| {
        let client = app.client.clone();
        let seller = seller.clone();
        async move {
            let r = client
                .get(&format!("/api/v1/earnings/entries{query}"), Some(&seller))
                .await;
            assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
            r.body
        }
    };
    // Inside the hold, paid sales are held; newest first.
    let held = page("").await;
    let states: Vec<_> = held["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["state"].clone())
        .collect();
    assert_eq!(states, vec![json!("held"), json!("held"), json!("pending")]);
    app.state
        .config
        .payouts
        .advance_test_clock(super::PAST_HOLD)
        .expect("test clock on");

    let first = app
        .get("/api/v1/earnings/entries?limit=2", Some(&seller))
        .await;
    assert_eq!(first.status, StatusCode::OK, "{:?}", first.body);
    let items = first.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    // Past the hold, they are cleared.
    assert_eq!(items[0]["order_id"], paid.as_str());
    assert_eq!(items[0]["state"], "cleared");
    assert_eq!(items[1]["order_id"], older.as_str());
    assert_eq!(items[1]["state"], "cleared");
    assert_eq!(
        (
            &items[1]["total_cents"],
            &items[1]["platform_fee_cents"],
            &items[1]["net_cents"]
        ),
        (&json!(2000), &json!(200), &json!(1800))
    );
    assert!(items[1]["paid_at"].is_string());
    let cursor = first.body["next_cursor"].as_str().expect("a second page");
    let second = app
        .get(
            &format!("/api/v1/earnings/entries?limit=2&cursor={cursor}"),
            Some(&seller),
        )
        .await;
    let items = second.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{:?}", second.body);
    assert_eq!(items[0]["order_id"], deferred.as_str());
    assert_eq!(items[0]["state"], "pending");
    assert!(items[0]["paid_at"].is_null());
    assert!(second.body["next_cursor"].is_null());
    // Another seller's sale is theirs alone; a buyer has no entries.
    let theirs = app.get("/api/v1/earnings/entries", Some(&other)).await;
    assert_eq!(theirs.body["items"].as_array().unwrap().len(), 1);
    let none = app.get("/api/v1/earnings/entries", Some(&buyer)).await;
    assert_eq!(none.body["items"], json!([]));
    let bad = app
        .get("/api/v1/earnings/entries?cursor=nonsense!", Some(&seller))
        .await;
    assert!(bad.status.is_client_error(), "{:?}", bad.body);
    assert!(bad.body["error"]["code"].is_string());
    app.assert_ledger_clean().await;
}

/// Without `--dev-payout-test-clock`, nothing can move the payout clock.
async fn the_test_clock_is_off_by_default(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    assert!(
        app.state
            .config
            .payouts
            .advance_test_clock(PAST_HOLD)
            .is_err()
    );
    let before = app.state.config.payouts.now_ms();
    assert!((before - udam::clock::now_ms()).abs() < 60_000);
}
