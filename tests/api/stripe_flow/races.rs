//! Reports from Stripe that race each other: refund reports of one charge, and
//! confirmations of one released order, handled at the same time. Each must apply
//! once, whatever the interleaving.

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::json;

use super::{Setup, deliver, paid_at_stripe, paid_order, setup};
use crate::common::{Backend, create_listing, listing_body, units_left};

crate::dual_backend_tests!(
    refund_reports_at_once_refund_exactly_the_charge,
    confirmations_of_a_released_order_at_once_take_its_units_once,
);

/// Copies of `event` under new event ids (Stripe's retries and repeats carry the
/// same state under other ids).
fn copies(event: &str, n: usize, tag: &str) -> Vec<String> {
    (0..n)
        .map(|i| event.replacen("\"evt_", &format!("\"evt_{tag}{i}_"), 1))
        .collect()
}

async fn refund_reports_at_once_refund_exactly_the_charge(backend: Backend) {
    let setup = setup(backend).await;
    let (listing, id, pi) = paid_order(&setup, 30_000, 10, 2).await;
    let Setup {
        app, stripe, buyer, ..
    } = setup;
    // 100.00 refunded, then the rest: two reports, 100.00 and 600.00 refunded so far,
    // each sent eight times, interleaved, all at once.
    stripe.refund_in_dashboard(&pi, 10_000);
    let partly = stripe.charge_refunded_event(&pi);
    stripe.refund_in_dashboard(&pi, 50_000);
    let wholly = stripe.charge_refunded_event(&pi);
    let events: Vec<String> = copies(&partly, 8, "a")
        .into_iter()
        .zip(copies(&wholly, 8, "b"))
        .flat_map(|(a, b)| [a, b])
        .collect();
    let answers = join_all(events.iter().map(|e| deliver(&app, e))).await;
    for r in &answers {
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    }
    let refunded: i64 = app
        .scalar(
            "SELECT -CAST(SUM(e.amount_cents) AS BIGINT) FROM journal_entries e \
             JOIN journal_transactions t ON t.reference = e.reference \
             WHERE t.subject_id = $1 AND t.kind = 'refund' AND e.account_kind = 'provider_clearing'",
            &id,
        )
        .await;
    assert_eq!(refunded, 60_000, "the charge, refunded once");
    let o = app
        .get(&format!("/api/v1/orders/{id}"), Some(&buyer))
        .await
        .body;
    assert_eq!(o["status"], "refunded");
    assert_eq!(units_left(&app, &listing).await, 10);
    app.assert_ledger_clean().await;
}

async fn confirmations_of_a_released_order_at_once_take_its_units_once(backend: Backend) {
    let Setup {
        app,
        stripe,
        seller,
        buyer,
    } = setup(backend).await;
    let listing = create_listing(&app, &seller, &listing_body("late", 1500, 4)).await;
    // Paid at Stripe, then cancelled here before the webhook came; the webhook then
    // arrives eight times at once (Stripe's retries, two processes).
    let (id, session) = paid_at_stripe(&app, &stripe, &buyer, &listing, 2).await;
    let cancel = app
        .post(
            &format!("/api/v1/orders/{id}/cancel"),
            &json!({}),
            Some(&buyer),
        )
        .await;
    assert_eq!(cancel.status, StatusCode::OK);
    assert_eq!(units_left(&app, &listing).await, 4);
    let completed = stripe.checkout_completed_event(&session);
    let answers = join_all(copies(&completed, 8, "c").iter().map(|e| deliver(&app, e))).await;
    let fulfilled = answers
        .iter()
        .filter(|r| r.body["outcome"] == "fulfilled")
        .count();
    assert_eq!(fulfilled, 1, "{answers:?}");
    assert_eq!(units_left(&app, &listing).await, 2, "its units, taken once");
    let tokens = app.get("/api/v1/tokens", Some(&buyer)).await.body;
    assert_eq!(tokens["items"].as_array().unwrap().len(), 1, "one grant");
    let refunds = stripe
        .requests()
        .into_iter()
        .filter(|r| r.path == "/v1/refunds")
        .count();
    assert_eq!(refunds, 0, "nothing refunded");
    app.assert_ledger_clean().await;
}
