//! `allowance.low`: a buyer's gateway key reaching 80, 90 and 100 % of the requests
//! bought, through real gateway requests to a real upstream, tells the buyer once per
//! threshold per top-up cycle, signed; a top-up re-arms the thresholds it brings the
//! usage back under; the seller is never told.

use std::collections::BTreeSet;

use serde_json::Value;
use sqlx::Row;
use udam::db::Db;

use super::{Receiver, assert_all_signed, register};
use crate::common::{Backend, create_listing, fixtures, place_gateway_order, place_order};
use crate::gateway::harness::{GatewayApp, Upstream, call, first_token, gateway_listing};

crate::dual_backend_tests!(
    allowance_low_at_80_90_100_once_per_top_up,
    allowance_low_counts_each_grant_at_the_rate_it_was_bought,
);

/// The webhook flags of [`super::LOCAL_DELIVERY`] the gateway harness does not set.
const FAST_DELIVERY: [&str; 6] = [
    "--webhook-poll-interval",
    "20ms",
    "--webhook-first-retry",
    "100ms",
    "--webhook-timeout",
    "2s",
];

/// The `allowance.low` events in the outbox for `user`, oldest first, as
/// (threshold, used, allowance): written by the trigger in the request's own
/// transaction, so they can be read as soon as the request is answered.
async fn outbox(db: &Db, user: &str) -> Vec<(i64, i64, i64)> {
    let rows = sqlx::query(
        "SELECT object FROM webhook_outbox WHERE user_id = $1 AND event_type = $2 ORDER BY seq",
    )
    .bind(user)
    .bind("allowance.low")
    .fetch_all(db.pool())
    .await
    .expect("outbox");
    rows.iter()
        .map(|r| {
            let o: Value = serde_json::from_str(&r.try_get::<String, _>("object").expect("object"))
                .expect("json");
            (
                o["threshold_percent"].as_i64().expect("threshold"),
                o["used"].as_i64().expect("used"),
                o["allowance"].as_i64().expect("allowance"),
            )
        })
        .collect()
}

async fn user_id(app: &GatewayApp, token: &str) -> String {
    let me = app.api.get("/api/v1/me", Some(token)).await;
    me.body["id"].as_str().expect("user id").to_owned()
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

async fn allowance_low_at_80_90_100_once_per_top_up(backend: Backend) {
    let upstream = Upstream::start().await;
    let app = GatewayApp::spawn(backend, &FAST_DELIVERY).await;
    let db = fixtures::connect(&app.db.as_ref().expect("database").url).await;
    let seller = app.api.signup("seller@example.com").await;
    let buyer = app.api.signup("buyer@example.com").await;
    let buyer_id = user_id(&app, &buyer).await;
    let seller_id = user_id(&app, &seller).await;
    let buyer_rx = Receiver::start().await;
    let seller_rx = Receiver::start().await;
    let (_, buyer_secret) = register(&app.api, &buyer, &buyer_rx.url, &["allowance.low"]).await;
    // The seller subscribes too, and must never get the buyer's alerts.
    register(&app.api, &seller, &seller_rx.url, &["allowance.low"]).await;
    let listing = create_listing(
        &app.api,
        &seller,
        &gateway_listing(&upstream.base, 10, "all"),
    )
    .await;
    let key = place_gateway_order(&app.api, &buyer, &listing, 1).await;
    let (grant, _, token) = first_token(&app.api, &buyer).await;
    assert_eq!(token["requests_allowed"], 10);

    // 7 of 10 requests: below every threshold.
    let http = reqwest::Client::new();
    let mut served = 0;
    let serve = async |n: usize| {
        for _ in 0..n {
            let (status, code, _) = call(&http, &app.gateway, &listing, "now", &key).await;
            assert_eq!(status, 200, "{code}");
        }
    };
    serve(7).await;
    served += 7;
    assert!(
        outbox(&db, &buyer_id).await.is_empty(),
        "70 % alerts nobody"
    );
    // The 8th, 9th and 10th reach 80, 90 and 100 %: one event each, at once.
    serve(1).await;
    assert_eq!(outbox(&db, &buyer_id).await, vec![(80, 8, 10)]);
    serve(2).await;
    served += 3;
    let first_cycle = vec![(80, 8, 10), (90, 9, 10), (100, 10, 10)];
    assert_eq!(outbox(&db, &buyer_id).await, first_cycle);
    // Exhausted: 402, and no second 100 % event.
    let (status, code, _) = call(&http, &app.gateway, &listing, "now", &key).await;
    assert_eq!((status, code.as_str()), (402, "allowance_exhausted"));
    assert_eq!(outbox(&db, &buyer_id).await, first_cycle);

    // A top-up to 20 brings usage to 50 %: every threshold fires again, once.
    place_order(&app.api, &buyer, &listing, 1).await;
    serve(5).await;
    assert_eq!(outbox(&db, &buyer_id).await.len(), 3, "75 % alerts nobody");
    serve(5).await;
    served += 10;
    let mut both_cycles = first_cycle.clone();
    both_cycles.extend([(80, 16, 20), (90, 18, 20), (100, 20, 20)]);
    assert_eq!(outbox(&db, &buyer_id).await, both_cycles);
    assert_eq!(upstream.count(), served);
    assert!(
        outbox(&db, &seller_id).await.is_empty(),
        "the seller is not told of the buyer's allowance"
    );

    // Delivered, signed, in the token view's shape plus the counts.
    let got = buyer_rx
        .wait_until("six allowance.low events", |got| got.len() >= 6)
        .await;
    assert_eq!(got.len(), 6);
    assert_all_signed(&got, &buyer_secret).await;
    let tokens = app.api.get("/api/v1/tokens", Some(&buyer)).await.body;
    let newest = &tokens["items"][0];
    let mut thresholds = Vec::new();
    for m in &got {
        let body = m.json();
        assert_eq!(body["type"], "allowance.low");
        let data = &body["data"];
        thresholds.push(data["threshold_percent"].as_i64().expect("threshold"));
        assert_eq!(data["delivery"], "gateway");
        assert_eq!(data["listing_id"], listing.as_str());
        assert_eq!(data["gateway_key_hint"], newest["gateway_key_hint"]);
        assert!(data["gateway_key"].is_null(), "never the key itself");
        assert!(data["access_token"].is_null());
        assert!(
            data["key_id"]
                .as_str()
                .is_some_and(|k| k.starts_with("gwk_"))
        );
        assert_eq!(data["requests_used"], data["used"]);
        assert_eq!(data["requests_allowed"], data["allowance"]);
        let mut expected = keys(newest);
        expected.extend(["key_id", "used", "allowance", "threshold_percent"].map(String::from));
        expected.remove("gateway_key");
        let mut seen = keys(data);
        seen.remove("gateway_key");
        assert_eq!(seen, expected, "the token view's fields plus the counts");
    }
    thresholds.sort_unstable();
    assert_eq!(thresholds, vec![80, 80, 90, 90, 100, 100]);
    // The first cycle names the first grant; the second the top-up's, the newest.
    let first = got
        .iter()
        .map(|m| m.json())
        .find(|b| b["data"]["allowance"] == 10)
        .expect("a first-cycle event");
    assert_eq!(first["data"]["id"], grant.as_str());
    let second = got
        .iter()
        .map(|m| m.json())
        .find(|b| b["data"]["allowance"] == 20)
        .expect("a second-cycle event");
    assert_eq!(second["data"]["id"], newest["id"]);
    assert!(seller_rx.received().is_empty());
}

/// A seller raising the requests per unit after a sale: the unit sold keeps its 10
/// requests, so the 8th of them is 80 % (the alert once counted the listing's new
/// 100, and stayed silent until the key was cut off).
async fn allowance_low_counts_each_grant_at_the_rate_it_was_bought(backend: Backend) {
    let upstream = Upstream::start().await;
    let app = GatewayApp::spawn(backend, &FAST_DELIVERY).await;
    let db = fixtures::connect(&app.db.as_ref().expect("database").url).await;
    let seller = app.api.signup("seller@example.com").await;
    let buyer = app.api.signup("buyer@example.com").await;
    let buyer_id = user_id(&app, &buyer).await;
    let buyer_rx = Receiver::start().await;
    register(&app.api, &buyer, &buyer_rx.url, &["allowance.low"]).await;
    let listing = create_listing(
        &app.api,
        &seller,
        &gateway_listing(&upstream.base, 10, "all"),
    )
    .await;
    let key = place_gateway_order(&app.api, &buyer, &listing, 1).await;
    let r = app
        .api
        .patch(
            &format!("/api/v1/listings/{listing}"),
            &serde_json::json!({"gateway": {"requests_per_unit": 100}}),
            Some(&seller),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        first_token(&app.api, &buyer).await.2["requests_allowed"],
        10
    );
    let http = reqwest::Client::new();
    for _ in 0..8 {
        let (status, code, _) = call(&http, &app.gateway, &listing, "now", &key).await;
        assert_eq!(status, 200, "{code}");
    }
    assert_eq!(outbox(&db, &buyer_id).await, vec![(80, 8, 10)]);
}
