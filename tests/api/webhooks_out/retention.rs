//! Retention: deliveries finished more than 30 days ago go, with their attempts and
//! the events no delivery names any more; pending deliveries, their events and
//! anything younger stay.

use std::time::{Duration, Instant};

use super::{Receiver, deliveries_until, register, spawn};
use crate::common::{Backend, create_listing, listing_body, place_order};

crate::dual_backend_tests!(delivered_webhooks_are_purged_after_thirty_days);

async fn delivered_webhooks_are_purged_after_thirty_days(backend: Backend) {
    let app = spawn(backend).await;
    let seller = app.signup("seller@example.com").await;
    let buyer = app.signup("buyer@example.com").await;
    let rx = Receiver::start().await;
    let (endpoint, _) = register(&app, &seller, &rx.url, &["order.created"]).await;
    let listing = create_listing(&app, &seller, &listing_body("kept", 100, 10)).await;
    let old = place_order(&app, &buyer, &listing, 1).await;
    let stuck = place_order(&app, &buyer, &listing, 1).await;
    let recent = place_order(&app, &buyer, &listing, 1).await;
    let items = deliveries_until(&app, &seller, &endpoint, |items| {
        items.len() == 3 && items.iter().all(|d| d["status"] == "succeeded")
    })
    .await;
    let delivery_of = |order: &str| {
        let rx_event = rx
            .received()
            .into_iter()
            .find(|m| m.json()["data"]["id"] == order)
            .expect("the order's event arrived");
        items
            .iter()
            .find(|d| d["event_id"] == rx_event.id.as_str())
            .expect("its delivery")["id"]
            .as_str()
            .expect("id")
            .to_owned()
    };
    let (old_delivery, stuck_delivery, recent_delivery) =
        (delivery_of(&old), delivery_of(&stuck), delivery_of(&recent));
    // The events nobody subscribed to (`order.fulfilled`) are fanned out too.
    let deadline = Instant::now() + Duration::from_secs(30);
    while app
        .scalar(
            "SELECT COUNT(*) FROM webhook_outbox WHERE fanned_out = 0 AND id <> $1",
            "",
        )
        .await
        > 0
    {
        assert!(Instant::now() < deadline, "the outbox was never fanned out");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Every event is 40 days old; `old` finished 40 days ago, `stuck` is pending
    // again (a retry asked for), `recent` finished just now.
    let db = app.database().writes();
    let forty_days_ago = udam::clock::now_ms() - 40 * 24 * 60 * 60 * 1000;
    sqlx::query("UPDATE webhook_outbox SET created_at = $1")
        .bind(forty_days_ago)
        .execute(db)
        .await
        .unwrap();
    sqlx::query("UPDATE webhook_deliveries SET updated_at = $1 WHERE id IN ($2, $3)")
        .bind(forty_days_ago)
        .bind(&old_delivery)
        .bind(&stuck_delivery)
        .execute(db)
        .await
        .unwrap();
    sqlx::query(
        "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = $1 WHERE id = $2",
    )
    .bind(i64::MAX / 2)
    .bind(&stuck_delivery)
    .execute(db)
    .await
    .unwrap();
    let events_before = app
        .scalar("SELECT COUNT(*) FROM webhook_outbox WHERE id <> $1", "")
        .await;

    let purged = udam::maintenance::purge_once(app.database())
        .await
        .expect("purge");
    assert_eq!(purged.webhook_deliveries, 1, "the one finished 40 days ago");
    const DELIVERY: &str = "SELECT COUNT(*) FROM webhook_deliveries WHERE id = $1";
    assert_eq!(app.scalar(DELIVERY, &old_delivery).await, 0);
    assert_eq!(
        app.scalar(DELIVERY, &stuck_delivery).await,
        1,
        "pending: kept"
    );
    assert_eq!(
        app.scalar(DELIVERY, &recent_delivery).await,
        1,
        "finished lately: kept"
    );
    assert_eq!(
        app.scalar(
            "SELECT COUNT(*) FROM webhook_attempts WHERE delivery_id = $1",
            &old_delivery
        )
        .await,
        0,
        "its attempts went with it"
    );
    // Left: the two events still named by a delivery. Gone: the old delivery's event
    // and the three `order.placed` rows the purchases wrote.
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM webhook_outbox WHERE id <> $1", "")
            .await,
        2
    );
    assert_eq!(purged.webhook_events, (events_before - 2) as u64);
    let page = app
        .get(
            &format!("/api/v1/webhook-endpoints/{endpoint}/deliveries"),
            Some(&seller),
        )
        .await;
    assert_eq!(page.status, 200, "{:?}", page.body);
    assert_eq!(page.body["items"].as_array().map(Vec::len), Some(2));
    // Nothing else is old enough.
    let again = udam::maintenance::purge_once(app.database())
        .await
        .expect("purge");
    assert_eq!(again, udam::maintenance::Purged::default());
}
