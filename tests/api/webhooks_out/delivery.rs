//! Delivery: retries keep the `webhook-id`, the delivery log shows each attempt,
//! rotation signs with both secrets, test events and manual retries.

use reqwest::StatusCode;
use serde_json::json;

use super::{Receiver, assert_all_signed, deliveries_until, register, spawn, verify};
use crate::common::{Backend, create_listing, listing_body, place_order};

crate::dual_backend_tests!(
    a_failing_receiver_gets_the_same_event_three_times,
    rotation_signs_with_both_secrets,
    test_event_and_manual_retry,
);

async fn a_failing_receiver_gets_the_same_event_three_times(backend: Backend) {
    let app = spawn(backend).await;
    let seller = app.signup("seller@example.com").await;
    let buyer = app.signup("buyer@example.com").await;
    let rx = Receiver::with_plan(&[500, 503]).await;
    let (endpoint, secret) = register(&app, &seller, &rx.url, &["order.created"]).await;
    let listing = create_listing(&app, &seller, &listing_body("ticks", 100, 5)).await;
    let order = place_order(&app, &buyer, &listing, 1).await;

    let got = rx.wait_until("three attempts", |got| got.len() >= 3).await;
    let items = deliveries_until(&app, &seller, &endpoint, |items| {
        items.len() == 1 && items[0]["status"] == "succeeded"
    })
    .await;
    let got_after = rx.received();
    assert_eq!(got_after.len(), 3, "no attempt after the success");
    assert!(
        got.iter().all(|m| m.id == got[0].id),
        "one webhook-id on every retry"
    );
    assert!(
        got.iter().all(|m| m.body == got[0].body),
        "the same body every time"
    );
    assert_eq!(got[0].json()["data"]["id"], order.as_str());
    assert_all_signed(&got, &secret).await;
    let d = &items[0];
    assert_eq!(d["event_id"], got[0].id.as_str());
    assert_eq!(d["event_type"], "order.created");
    assert_eq!(d["attempts"], 3);
    assert_eq!(d["last_status_code"], 200);
    assert!(d["last_latency_ms"].as_i64().is_some());
    assert!(d["next_attempt_at"].is_null());
    let endpoint_view = app
        .get(
            &format!("/api/v1/webhook-endpoints/{endpoint}"),
            Some(&seller),
        )
        .await
        .body;
    assert!(
        endpoint_view["failing_since"].is_null(),
        "a success clears the failure clock"
    );
    assert!(
        endpoint_view["secret"].is_null(),
        "the secret is shown once"
    );
}

async fn rotation_signs_with_both_secrets(backend: Backend) {
    let app = spawn(backend).await;
    let user = app.signup("dev@example.com").await;
    let rx = Receiver::start().await;
    let (endpoint, old) = register(&app, &user, &rx.url, &["order.created"]).await;
    let r = app
        .post(
            &format!("/api/v1/webhook-endpoints/{endpoint}/rotate-secret"),
            &json!({}),
            Some(&user),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let new = r.body["secret"]
        .as_str()
        .expect("the new secret")
        .to_owned();
    assert_ne!(new, old);
    let r = app
        .post(
            &format!("/api/v1/webhook-endpoints/{endpoint}/test"),
            &json!({}),
            Some(&user),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let got = rx.wait_until("the test event", |got| !got.is_empty()).await;
    assert_eq!(got[0].event_type(), "webhook.test");
    assert_eq!(
        got[0].signature.split(' ').count(),
        2,
        "both signatures during the grace"
    );
    let verdicts = verify(&[(
        &got[0],
        vec![
            old.as_str(),
            new.as_str(),
            "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ],
    )])
    .await;
    assert_eq!(verdicts, vec![vec![true, true, false]]);
}

async fn test_event_and_manual_retry(backend: Backend) {
    let app = spawn(backend).await;
    let user = app.signup("dev@example.com").await;
    // Fails until told otherwise.
    let rx = Receiver::with_plan(&[500; 15]).await;
    let (endpoint, secret) = register(&app, &user, &rx.url, &["order.created"]).await;
    let r = app
        .post(
            &format!("/api/v1/webhook-endpoints/{endpoint}/test"),
            &json!({}),
            Some(&user),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let delivery = r.body["delivery_id"]
        .as_str()
        .expect("delivery id")
        .to_owned();
    // Jump to the schedule's last attempt (between two attempts, never during one).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let moved = sqlx::query(
            "UPDATE webhook_deliveries SET attempts = 14 \
             WHERE id = $1 AND status = 'pending' AND lease_until IS NULL",
        )
        .bind(&delivery)
        .execute(app.database().writes())
        .await
        .expect("jump to the last attempt")
        .rows_affected();
        if moved == 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the delivery stayed leased"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let items = deliveries_until(&app, &user, &endpoint, |items| {
        items.len() == 1 && items[0]["status"] == "failed"
    })
    .await;
    assert_eq!(items[0]["last_status_code"], 500);
    assert_eq!(items[0]["attempts"], 15);
    let failed = rx.received();
    assert!(!failed.is_empty() && failed.iter().all(|m| m.id == failed[0].id));

    // A manual retry resends the same event; the receiver now accepts it.
    rx_accepts_next(&rx);
    let r = app
        .post(
            &format!("/api/v1/webhook-endpoints/deliveries/{delivery}/retry"),
            &json!({}),
            Some(&user),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
    let n = failed.len();
    let got = rx
        .wait_until("the retried event", |got| got.len() == n + 1)
        .await;
    assert_eq!(got[n].id, failed[0].id, "a retry resends the same event");
    assert_all_signed(&got, &secret).await;
    deliveries_until(&app, &user, &endpoint, |items| {
        items[0]["status"] == "succeeded"
    })
    .await;
}

fn rx_accepts_next(rx: &Receiver) {
    rx.clear_plan();
}
