//! Users see and receive only their own events and endpoints; internal addresses are
//! refused when an endpoint is saved and again when connecting.

use reqwest::StatusCode;
use serde_json::json;
use sqlx::Row;

use super::{Receiver, SELLER_EVENTS, deliveries_until, register, spawn};
use crate::common::{Backend, TestApp, create_listing, listing_body, place_order};

crate::dual_backend_tests!(
    users_only_see_and_receive_their_own_events,
    internal_addresses_are_refused,
    internal_addresses_are_refused_when_connecting,
    the_endpoint_limit_holds_under_concurrent_creation,
    test_events_are_limited_per_account,
);

/// Ten test events a minute per account; the eleventh is refused and queues nothing.
async fn test_events_are_limited_per_account(backend: Backend) {
    let app = spawn(backend).await;
    let user = app.signup("tester@example.com").await;
    let r = app
        .post(
            "/api/v1/webhook-endpoints",
            &json!({"url": "https://192.0.2.1/hook", "events": ["order.created"]}),
            Some(&user),
        )
        .await;
    let id = r.body["id"].as_str().expect("id").to_owned();
    let path = format!("/api/v1/webhook-endpoints/{id}/test");
    for _ in 0..10 {
        let r = app.post(&path, &json!({}), Some(&user)).await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
    }
    let r = app.post(&path, &json!({}), Some(&user)).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{:?}", r.body);
    assert_eq!(r.error_code(), "rate_limited");
    assert!(r.header("retry-after").is_some());
    let queued = app
        .scalar(
            "SELECT COUNT(*) FROM webhook_outbox WHERE event_type = $1",
            "webhook.test",
        )
        .await;
    assert_eq!(queued, 10);
}

/// 30 creations sent at once: exactly the 20 allowed are made, the rest refused.
async fn the_endpoint_limit_holds_under_concurrent_creation(backend: Backend) {
    let app = spawn(backend).await;
    let user = app.signup("many@example.com").await;
    let body = json!({"url": "https://192.0.2.1/hook", "events": ["order.created"]});
    let answers = futures::future::join_all(
        (0..30).map(|_| app.post("/api/v1/webhook-endpoints", &body, Some(&user))),
    )
    .await;
    let created = answers
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .count();
    let refused = answers
        .iter()
        .filter(|r| r.status == StatusCode::UNPROCESSABLE_ENTITY)
        .count();
    assert_eq!((created, refused), (20, 10), "{answers:?}");
    let listed = app
        .get("/api/v1/webhook-endpoints?limit=100", Some(&user))
        .await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 20);
}

async fn users_only_see_and_receive_their_own_events(backend: Backend) {
    let app = spawn(backend).await;
    let seller = app.signup("seller@example.com").await;
    let buyer = app.signup("buyer@example.com").await;
    let other = app.signup("other@example.com").await;
    let seller_rx = Receiver::start().await;
    let other_rx = Receiver::start().await;
    let (seller_ep, _) = register(&app, &seller, &seller_rx.url, &SELLER_EVENTS).await;
    let (other_ep, _) = register(&app, &other, &other_rx.url, &SELLER_EVENTS).await;
    let listing = create_listing(&app, &seller, &listing_body("ticks", 100, 3)).await;
    place_order(&app, &buyer, &listing, 1).await;
    seller_rx
        .wait_until("the seller's events", |got| got.len() == 2)
        .await;
    // The outbox is drained: every event was fanned out, none to the bystander.
    let pool = app.database().pool();
    let rows = sqlx::query(
        "SELECT user_id, fanned_out FROM webhook_outbox WHERE event_type <> 'order.placed'",
    )
    .fetch_all(pool)
    .await
    .expect("outbox");
    assert_eq!(
        rows.len(),
        2,
        "only the seller has an endpoint; the buyer gets no event"
    );
    let seller_id: String = sqlx::query("SELECT id FROM users WHERE email = 'seller@example.com'")
        .fetch_one(pool)
        .await
        .expect("seller")
        .try_get(0)
        .expect("id");
    for row in &rows {
        assert_eq!(row.try_get::<String, _>(0).expect("user"), seller_id);
        assert_eq!(row.try_get::<i64, _>(1).expect("flag"), 1);
    }
    let delivered: i64 =
        sqlx::query("SELECT COUNT(*) FROM webhook_deliveries WHERE endpoint_id = $1")
            .bind(&other_ep)
            .fetch_one(pool)
            .await
            .expect("count")
            .try_get(0)
            .expect("count");
    assert_eq!(delivered, 0);
    assert!(
        other_rx.received().is_empty(),
        "a bystander receives nothing"
    );

    // The bystander cannot see or touch the seller's endpoint or deliveries.
    let items = deliveries_until(&app, &seller, &seller_ep, |items| items.len() == 2).await;
    let delivery = items[0]["id"].as_str().expect("delivery id").to_owned();
    let path = format!("/api/v1/webhook-endpoints/{seller_ep}");
    assert_eq!(
        app.get(&path, Some(&other)).await.status,
        StatusCode::NOT_FOUND
    );
    let r = app
        .patch(&path, &json!({"enabled": false}), Some(&other))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.error_code(), "not_found");
    for suffix in ["/rotate-secret", "/test"] {
        let r = app
            .post(&format!("{path}{suffix}"), &json!({}), Some(&other))
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{suffix}");
    }
    let r = app.get(&format!("{path}/deliveries"), Some(&other)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app
        .post(
            &format!("/api/v1/webhook-endpoints/deliveries/{delivery}/retry"),
            &json!({}),
            Some(&other),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.delete(&path, Some(&other)).await.status,
        StatusCode::NOT_FOUND
    );
    let list = app
        .get("/api/v1/webhook-endpoints", Some(&other))
        .await
        .body;
    let ids: Vec<&str> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|e| e["id"].as_str())
        .collect();
    assert_eq!(ids, vec![other_ep.as_str()]);
    assert!(
        list["items"][0]["secret"].is_null(),
        "lists never show secrets"
    );
    assert_eq!(app.get(&path, None).await.status, StatusCode::UNAUTHORIZED);

    // The owner still has it, and deleting it takes its history along.
    assert_eq!(app.get(&path, Some(&seller)).await.status, StatusCode::OK);
    assert_eq!(
        app.delete(&path, Some(&seller)).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get(&path, Some(&seller)).await.status,
        StatusCode::NOT_FOUND
    );
}

async fn internal_addresses_are_refused(backend: Backend) {
    // No dev flags: https only, public addresses only.
    let app = TestApp::spawn(backend).await;
    let user = app.signup("dev@example.com").await;
    for url in [
        "https://127.0.0.1/hook",
        "https://localhost/hook",
        "https://10.0.0.7/hook",
        "https://192.168.1.1/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://[fd00:ec2::254]/hook",
        "http://192.0.2.1/hook",
        "ftp://192.0.2.1/hook",
        "https://user:pw@192.0.2.1/hook",
        "not a url",
    ] {
        let r = app
            .post(
                "/api/v1/webhook-endpoints",
                &json!({"url": url, "events": ["order.created"]}),
                Some(&user),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{url}: {:?}",
            r.body
        );
        assert_eq!(r.error_code(), "validation_failed", "{url}");
    }
    // A public address is accepted (a documentation address: never routed, and
    // nothing is sent to it here).
    let r = app
        .post(
            "/api/v1/webhook-endpoints",
            &json!({"url": "https://192.0.2.1/hook", "events": ["order.created"]}),
            Some(&user),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let id = r.body["id"].as_str().expect("id");
    let r = app
        .patch(
            &format!("/api/v1/webhook-endpoints/{id}"),
            &json!({"url": "https://127.0.0.1/"}),
            Some(&user),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "updates are checked too"
    );
    for bad in [
        json!({"url": "https://192.0.2.1/", "events": []}),
        json!({"url": "https://192.0.2.1/", "events": ["webhook.test"]}),
        json!({"url": "https://192.0.2.1/", "events": ["order.nope"]}),
    ] {
        let r = app
            .post("/api/v1/webhook-endpoints", &bad, Some(&user))
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
}

async fn internal_addresses_are_refused_when_connecting(backend: Backend) {
    // http allowed (as in development), private addresses not.
    let app = TestApp::spawn_with(
        backend,
        &["--gateway-allow-http", "--webhook-poll-interval", "20ms"],
    )
    .await;
    let user = app.signup("dev@example.com").await;
    let rx = Receiver::start().await;
    let port = rx
        .url
        .trim_start_matches("http://127.0.0.1:")
        .trim_end_matches("/hook")
        .to_owned();
    for target in [rx.url.clone(), format!("http://localhost:{port}/hook")] {
        let r = app
            .post(
                "/api/v1/webhook-endpoints",
                &json!({"url": "https://192.0.2.1/hook", "events": ["order.created"]}),
                Some(&user),
            )
            .await;
        let id = r.body["id"].as_str().expect("id").to_owned();
        // The stored URL turns internal after it was checked (as DNS rebinding or an
        // older server's rules would leave it).
        sqlx::query("UPDATE webhook_endpoints SET url = $1 WHERE id = $2")
            .bind(&target)
            .bind(&id)
            .execute(app.database().writes())
            .await
            .expect("point the endpoint inside");
        let r = app
            .post(
                &format!("/api/v1/webhook-endpoints/{id}/test"),
                &json!({}),
                Some(&user),
            )
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED);
        let items = deliveries_until(&app, &user, &id, |items| {
            items.len() == 1
                && items[0]["attempts"].as_i64().unwrap_or(0) >= 1
                && items[0]["last_error"].is_string()
        })
        .await;
        let error = items[0]["last_error"].as_str().unwrap_or_default();
        assert!(error.contains("loopback"), "{target}: {error}");
        assert_eq!(
            items[0]["status"], "pending",
            "retried later, like any failure"
        );
    }
    assert!(
        rx.received().is_empty(),
        "nothing reached the internal address"
    );
}
