//! Payout events: a real payout run (dev provider) tells the seller `payout.created`
//! and `payout.paid`, signed, in the shape `GET /payouts` shows; the failure and
//! reversal statuses are told as `payout.failed` / `payout.reversed`.

use serde_json::json;

use super::{LOCAL_DELIVERY, Receiver, assert_all_signed, register};
use crate::common::{Backend, TestApp};
use crate::payouts::{PAST_HOLD, admin, buy_and_pay, listing, payouts_of, run_payouts};

crate::dual_backend_tests!(payout_events_reach_the_seller_signed);

const PAYOUT_EVENTS: [&str; 4] = [
    "payout.created",
    "payout.paid",
    "payout.failed",
    "payout.reversed",
];

async fn payout_events_reach_the_seller_signed(backend: Backend) {
    let mut flags = LOCAL_DELIVERY.to_vec();
    flags.push("--dev-payout-test-clock");
    let app = TestApp::spawn_with(backend, &flags).await;
    let admin = admin(&app).await;
    let seller = app.signup("seller@example.com").await;
    let other = app.signup("other@example.com").await;
    let buyer = app.signup("buyer@example.com").await;
    let seller_rx = Receiver::start().await;
    let other_rx = Receiver::start().await;
    let buyer_rx = Receiver::start().await;
    let (_, secret) = register(&app, &seller, &seller_rx.url, &PAYOUT_EVENTS).await;
    register(&app, &other, &other_rx.url, &PAYOUT_EVENTS).await;
    register(&app, &buyer, &buyer_rx.url, &PAYOUT_EVENTS).await;
    let large = listing(&app, &seller, "large", 2000).await;
    buy_and_pay(&app, &buyer, &large).await;
    app.state
        .config
        .payouts
        .advance_test_clock(PAST_HOLD)
        .expect("test clock on");
    assert_eq!(run_payouts(&app, &admin).await, (1, 1));

    let got = seller_rx
        .wait_until("payout.created and payout.paid", |got| got.len() >= 2)
        .await;
    assert_all_signed(&got, &secret).await;
    let mut types: Vec<String> = got.iter().map(|m| m.event_type()).collect();
    types.sort();
    assert_eq!(types, ["payout.created", "payout.paid"]);
    let listed = payouts_of(&app, &seller).await;
    assert_eq!(listed.len(), 1);
    let paid = got
        .iter()
        .find(|m| m.event_type() == "payout.paid")
        .expect("payout.paid")
        .json();
    assert_eq!(
        paid["data"], listed[0],
        "a paid payout reads as GET /payouts shows it"
    );
    let created = got
        .iter()
        .find(|m| m.event_type() == "payout.created")
        .expect("payout.created")
        .json();
    assert_eq!(created["data"]["id"], listed[0]["id"]);
    assert_eq!(created["data"]["status"], "pending", "state at event time");
    assert_eq!(created["data"]["amount_cents"], listed[0]["amount_cents"]);
    assert!(created["data"]["transfer_id"].is_null());
    app.assert_ledger_clean().await;

    // The payout provider's later word, which the dev provider never gives: a reversal
    // of the sent payout, and a payout refused for good. Written here as the status
    // changes alone (their ledger postings belong to the payouts code, so the ledger
    // is checked above, before them).
    let pool = app.database().writes();
    let id = listed[0]["id"].as_str().expect("payout id");
    sqlx::query("UPDATE payouts SET status = $1, updated_at = updated_at + 1 WHERE id = $2")
        .bind("reversed")
        .bind(id)
        .execute(pool)
        .await
        .expect("reverse");
    let seller_id = listed[0]["seller_id"].as_str().expect("seller id");
    sqlx::query(
        "INSERT INTO payouts (id, seller_id, currency, amount_cents, status, provider, \
         created_at, updated_at) VALUES ('po_refused', $1, 'usd', 0, $2, 'dev', 1, 1)",
    )
    .bind(seller_id)
    .bind("pending")
    .execute(pool)
    .await
    .expect("claim");
    sqlx::query("UPDATE payouts SET amount_cents = 700 WHERE id = 'po_refused'")
        .execute(pool)
        .await
        .expect("fund");
    sqlx::query("UPDATE payouts SET status = $1, attempts = 3 WHERE id = 'po_refused'")
        .bind("failed")
        .execute(pool)
        .await
        .expect("refuse");
    let got = seller_rx
        .wait_until("five payout events", |got| got.len() >= 5)
        .await;
    assert_eq!(got.len(), 5);
    assert_all_signed(&got, &secret).await;
    let find = |t: &str| {
        got.iter()
            .find(|m| m.event_type() == t)
            .unwrap_or_else(|| panic!("{t}"))
            .json()
    };
    assert_eq!(find("payout.reversed")["data"]["id"], id);
    assert_eq!(find("payout.reversed")["data"]["status"], "reversed");
    let failed = find("payout.failed");
    assert_eq!(
        (
            &failed["data"]["id"],
            &failed["data"]["status"],
            &failed["data"]["amount_cents"],
            &failed["data"]["attempts"],
        ),
        (
            &json!("po_refused"),
            &json!("failed"),
            &json!(700),
            &json!(3)
        )
    );
    let created: Vec<_> = got
        .iter()
        .filter(|m| m.event_type() == "payout.created")
        .collect();
    assert_eq!(created.len(), 2, "one payout.created per funded payout");

    // Only the payout's seller hears of it.
    assert!(other_rx.received().is_empty());
    assert!(buyer_rx.received().is_empty());
}
