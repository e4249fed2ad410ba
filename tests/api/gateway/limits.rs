//! What a seller sets on a gateway listing beyond the upstream: per-key rate limits
//! (429, shared through Redis by replicas), costs per route prefix, changes by
//! `PATCH` (grants already sold keep their requests), and the buyer key shown in
//! the order's answer.

use serde_json::{Value, json};

use crate::common::{Backend, Client, TestDb, create_listing, order};

use super::harness::{
    GatewayApp, Upstream, buy, call, eventually, first_token, gateway_listing, listing_with,
};
use super::processes::start;

crate::dual_backend_tests!(
    over_the_rate_limit_is_429_and_takes_nothing,
    replicas_share_the_rate_limit_through_redis,
    route_costs_take_their_cost_and_failures_take_nothing,
    the_order_answer_shows_the_key_once_and_further_orders_top_it_up,
    patch_changes_gateway_settings_and_sold_grants_keep_their_requests,
    patch_checks_gateway_settings_again,
);

/// `requests_used` of the buyer's first token once leases have flushed to it.
async fn settles_at(api: &Client, buyer: &str, used: i64) {
    eventually(5, &format!("requests_used reaches {used}"), || async {
        first_token(api, buyer).await.2["requests_used"].as_i64() == Some(used)
    })
    .await;
}

async fn over_the_rate_limit_is_429_and_takes_nothing(backend: Backend) {
    let upstream = Upstream::start().await;
    let app = GatewayApp::spawn(backend, &[]).await;
    let seller = app.api.signup("seller@example.com").await;
    let buyer = app.api.signup("buyer@example.com").await;
    let body = listing_with(
        &upstream.base,
        100,
        "all",
        json!({"rate_limit_per_minute": 5}),
    );
    let listing = create_listing(&app.api, &seller, &body).await;
    let shown = app
        .api
        .get(&format!("/api/v1/listings/{listing}"), None)
        .await;
    assert_eq!(shown.body["rate_limit_per_minute"], 5);
    let key = buy(&app.api, &buyer, &listing, 1).await.unwrap();
    let http = reqwest::Client::new();
    for _ in 0..5 {
        assert_eq!(call(&http, &app.gateway, &listing, "x", &key).await.0, 200);
    }
    let r = http
        .get(format!("{}/{listing}/x", app.gateway))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    let retry_after: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(r.headers()["ratelimit-limit"], "5");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    assert_eq!(upstream.count(), 5, "a 429 never reaches the upstream");
    // Nothing was taken for the refused request.
    settles_at(&app.api, &buyer, 5).await;
}

async fn replicas_share_the_rate_limit_through_redis(backend: Backend) {
    let upstream = Upstream::start().await;
    let db = TestDb::new(backend).await;
    let redis = std::env::var("UDAM_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let prefix = format!("udam-test:{}:", hex::encode(udam::ids::random_bytes::<8>()));
    let shared = [
        "--redis-url",
        redis.as_str(),
        "--redis-key-prefix",
        prefix.as_str(),
    ];
    let mut with_redis = Vec::new();
    let mut alone = Vec::new();
    for _ in 0..2 {
        with_redis.push(start(&db, &shared, &[]).await);
        alone.push(start(&db, &[], &[]).await);
    }
    let api = &with_redis[0].0.client;
    let seller = api.signup("seller@example.com").await;
    let buyer = api.signup("buyer@example.com").await;
    let limited = json!({"rate_limit_per_minute": 6});
    let http = reqwest::Client::new();

    // Sharing Redis, two processes hit the limit together: 6 in all.
    let listing = create_listing(
        api,
        &seller,
        &listing_with(&upstream.base, 100, "all", limited.clone()),
    )
    .await;
    let key = buy(api, &buyer, &listing, 1).await.unwrap();
    let mut statuses = Vec::new();
    for i in 0..12 {
        let gateway = &with_redis[i % 2].1;
        statuses.push(call(&http, gateway, &listing, "x", &key).await);
    }
    let served = statuses.iter().filter(|s| s.0 == 200).count();
    assert_eq!(served, 6, "{statuses:?}");
    assert!(
        statuses
            .iter()
            .all(|s| s.0 == 200 || (s.0 == 429 && s.1 == "rate_limited"))
    );

    // Without Redis each process limits alone: 6 each.
    let other = create_listing(
        api,
        &seller,
        &listing_with(&upstream.base, 100, "all", limited),
    )
    .await;
    let other_key = buy(api, &buyer, &other, 1).await.unwrap();
    let mut served = 0;
    for i in 0..14 {
        if call(&http, &alone[i % 2].1, &other, "x", &other_key)
            .await
            .0
            == 200
        {
            served += 1;
        }
    }
    assert_eq!(served, 12);
    for (process, _) in with_redis.into_iter().chain(alone) {
        assert!(process.terminate().await, "clean exit");
    }
}

async fn route_costs_take_their_cost_and_failures_take_nothing(backend: Backend) {
    let upstream = Upstream::start().await;
    let app = GatewayApp::spawn(backend, &[]).await;
    let seller = app.api.signup("seller@example.com").await;
    let buyer = app.api.signup("buyer@example.com").await;
    let costs = json!({"route_costs": [
        {"prefix": "/heavy/", "cost": 10},
        {"prefix": "/heavy/x", "cost": 25},
        {"prefix": "/status/", "cost": 5},
    ]});
    let listing = create_listing(
        &app.api,
        &seller,
        &listing_with(&upstream.base, 50, "success", costs.clone()),
    )
    .await;
    let shown = app
        .api
        .get(&format!("/api/v1/listings/{listing}"), None)
        .await;
    assert_eq!(shown.body["route_costs"][1]["cost"], 25);
    let key = buy(&app.api, &buyer, &listing, 1).await.unwrap();
    let http = reqwest::Client::new();
    let mut used = 0;
    for (path, status, cost) in [
        ("heavy/a", 200, 10),
        ("heavy/x1", 200, 25),
        ("light", 200, 1),
        // meter: success: an upstream 500 is passed on, not charged.
        ("status/500", 500, 0),
        ("status/204", 204, 5),
    ] {
        assert_eq!(
            call(&http, &app.gateway, &listing, path, &key).await.0,
            status,
            "{path}"
        );
        used += cost;
        settles_at(&app.api, &buyer, used).await;
    }
    // 41 of 50 used: a call costing 25 does not fit, one costing 1 does.
    let (status, code, _) = call(&http, &app.gateway, &listing, "heavy/x", &key).await;
    assert_eq!((status, code.as_str()), (402, "allowance_exhausted"));
    assert_eq!(
        call(&http, &app.gateway, &listing, "light", &key).await.0,
        200
    );
    settles_at(&app.api, &buyer, 42).await;

    // An upstream that cannot be reached takes nothing, whatever the route costs.
    let dead = create_listing(
        &app.api,
        &seller,
        &listing_with("http://127.0.0.1:9", 50, "all", costs),
    )
    .await;
    let dead_key = buy(&app.api, &buyer, &dead, 1).await.unwrap();
    let (status, code, _) = call(&http, &app.gateway, &dead, "heavy/x", &dead_key).await;
    assert_eq!((status, code.as_str()), (502, "upstream_unavailable"));
    let dead_token = || async {
        let tokens = app.api.get("/api/v1/tokens", Some(&buyer)).await.body;
        tokens["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["listing_id"] == dead.as_str())
            .unwrap()
            .clone()
    };
    assert_eq!(dead_token().await["requests_allowed"], 50);
    // The flush before the call counted it ahead (its cost is above the lease
    // window); the give-back reaches the lease's row with the next flush.
    eventually(5, "the failed call is given back", || async {
        dead_token().await["requests_used"] == 0
    })
    .await;
}

async fn the_order_answer_shows_the_key_once_and_further_orders_top_it_up(backend: Backend) {
    let upstream = Upstream::start().await;
    let app = GatewayApp::spawn(backend, &[]).await;
    let seller = app.api.signup("seller@example.com").await;
    let buyer = app.api.signup("buyer@example.com").await;
    let listing = create_listing(
        &app.api,
        &seller,
        &gateway_listing(&upstream.base, 2, "all"),
    )
    .await;
    let r = order(&app.api, &buyer, &listing, 1).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let key = r.body["gateway"]["gateway_key"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(key.starts_with("udam_"));
    assert_eq!(
        r.body["gateway"]["gateway_url"],
        format!("{}/{listing}/", app.gateway)
    );
    let hint = r.body["gateway"]["gateway_key_hint"].as_str().unwrap();
    assert!(key.ends_with(&hint[hint.len() - 4..]));
    let http = reqwest::Client::new();
    for _ in 0..2 {
        assert_eq!(call(&http, &app.gateway, &listing, "x", &key).await.0, 200);
    }
    assert_eq!(call(&http, &app.gateway, &listing, "x", &key).await.0, 402);
    // Not shown again by GET /tokens.
    let (_, shown, _) = first_token(&app.api, &buyer).await;
    assert_eq!(shown, None);

    // A second order (with an Idempotency-Key) tops up the same key, shows none, and
    // its replay shows none either.
    let second = || {
        app.api
            .http
            .post(format!("{}/api/v1/orders", app.api.base))
            .bearer_auth(&buyer)
            .header("idempotency-key", "second-order")
            .json(&json!({"listing_id": listing, "units": 2}))
            .send()
    };
    for _ in 0..2 {
        let r = second().await.unwrap();
        assert_eq!(r.status(), 201);
        let body: Value = r.json().await.unwrap();
        assert!(body["gateway"].is_null(), "{body}");
        assert!(!body.to_string().contains("udam_"));
    }
    for _ in 0..4 {
        assert_eq!(call(&http, &app.gateway, &listing, "x", &key).await.0, 200);
    }
    assert_eq!(call(&http, &app.gateway, &listing, "x", &key).await.0, 402);

    // A key listing's order has no gateway key.
    let plain = create_listing(
        &app.api,
        &seller,
        &crate::common::listing_body("Plain", 100, 10),
    )
    .await;
    let r = order(&app.api, &buyer, &plain, 1).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert!(r.body["gateway"].is_null());
}

async fn patch_changes_gateway_settings_and_sold_grants_keep_their_requests(backend: Backend) {
    let upstream = Upstream::start().await;
    let app = GatewayApp::spawn(backend, &[]).await;
    let seller = app.api.signup("seller@example.com").await;
    let buyer = app.api.signup("buyer@example.com").await;
    let listing = create_listing(
        &app.api,
        &seller,
        &gateway_listing(&upstream.base, 10, "all"),
    )
    .await;
    let key = buy(&app.api, &buyer, &listing, 1).await.unwrap();
    let path = format!("/api/v1/listings/{listing}");
    let r = app
        .api
        .patch(
            &path,
            &json!({"gateway": {
                "requests_per_unit": 100,
                "inject_header": "X-Api-Key",
                "meter": "success",
                "rate_limit_per_minute": 1000,
                "route_costs": [{"prefix": "/big", "cost": 3}],
            }}),
            Some(&seller),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["requests_per_unit"], 100);
    assert_eq!(r.body["meter"], "success");
    assert_eq!(r.body["rate_limit_per_minute"], 1000);
    assert_eq!(r.body["route_costs"][0]["prefix"], "/big");
    // The unit sold at 10 requests keeps 10; the next unit brings 100.
    assert_eq!(
        first_token(&app.api, &buyer).await.2["requests_allowed"],
        10
    );
    assert_eq!(buy(&app.api, &buyer, &listing, 1).await, None);
    let tokens = app.api.get("/api/v1/tokens", Some(&buyer)).await.body;
    assert_eq!(tokens["items"][0]["requests_allowed"], 110);

    // The new injection and costs apply within the route cache's lifetime.
    let http = reqwest::Client::new();
    eventually(5, "the seller key goes in X-Api-Key", || async {
        let before = upstream.count();
        assert_eq!(
            call(&http, &app.gateway, &listing, "big/x", &key).await.0,
            200
        );
        upstream.received()[before].header("x-api-key") == Some(super::harness::SELLER_KEY)
    })
    .await;
    let seen = upstream.received().last().unwrap().clone();
    assert_eq!(seen.header("authorization"), None);

    // 0 removes the rate limit; [] removes the costs.
    let r = app
        .api
        .patch(
            &path,
            &json!({"gateway": {"rate_limit_per_minute": 0, "route_costs": []}}),
            Some(&seller),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert!(r.body["rate_limit_per_minute"].is_null());
    assert_eq!(r.body["route_costs"], json!([]));
}

async fn patch_checks_gateway_settings_again(backend: Backend) {
    let upstream = Upstream::start().await;
    let app = GatewayApp::spawn(backend, &[]).await;
    let seller = app.api.signup("seller@example.com").await;
    let other = app.api.signup("other@example.com").await;
    let listing = create_listing(
        &app.api,
        &seller,
        &gateway_listing(&upstream.base, 10, "all"),
    )
    .await;
    let plain = create_listing(
        &app.api,
        &seller,
        &crate::common::listing_body("Plain", 100, 10),
    )
    .await;
    let path = format!("/api/v1/listings/{listing}");
    for (body, field) in [
        (
            json!({"gateway": {"requests_per_unit": 0}}),
            "gateway.requests_per_unit",
        ),
        (
            json!({"gateway": {"rate_limit_per_minute": -1}}),
            "gateway.rate_limit_per_minute",
        ),
        (
            json!({"gateway": {"inject_header": "Host"}}),
            "gateway.inject_header",
        ),
        (
            json!({"gateway": {"inject_query": "k", "inject_header": "X-A"}}),
            "gateway.inject_query",
        ),
        (
            json!({"gateway": {"route_costs": [{"prefix": "nope", "cost": 1}]}}),
            "gateway.route_costs",
        ),
        (
            json!({"gateway": {"route_costs": [{"prefix": "/a", "cost": 0}]}}),
            "gateway.route_costs",
        ),
        (
            json!({"gateway": {"upstream_base_url": "ftp://x"}}),
            "gateway.upstream_base_url",
        ),
    ] {
        let r = app.api.patch(&path, &body, Some(&seller)).await;
        assert_eq!(r.status, 422, "{body}: {:?}", r.body);
        assert_eq!(r.body["error"]["field"], field, "{body}");
    }
    let r = app
        .api
        .patch(&path, &json!({"gateway": {"meter": "all"}}), Some(&other))
        .await;
    assert_eq!(r.status, 403);
    let r = app
        .api
        .patch(
            &format!("/api/v1/listings/{plain}"),
            &json!({"gateway": {"meter": "all"}}),
            Some(&seller),
        )
        .await;
    assert_eq!(r.status, 422, "{:?}", r.body);
    assert_eq!(r.body["error"]["field"], "gateway");

    // A strict process on the same database re-checks a new upstream's addresses.
    let db = app.db.as_ref().unwrap().url.clone();
    let strict = udam::server::Server::bind(crate::common::test_config(
        &db,
        &["--gateway-bind", "127.0.0.1:0", "--gateway-allow-http"],
    ))
    .await
    .unwrap();
    let strict_api = Client::new(format!("http://{}", strict.local_addr().unwrap()));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(strict.run(async {
        let _ = rx.await;
    }));
    for url in [
        "http://10.0.0.1/v1",
        "http://169.254.169.254",
        "http://[::1]:9",
    ] {
        for body in [
            json!({"gateway": {"upstream_base_url": url}}),
            json!({"upstream_base_url": url}),
        ] {
            let r = strict_api.patch(&path, &body, Some(&seller)).await;
            assert_eq!(r.status, 422, "{body}: {:?}", r.body);
        }
    }
    let _ = tx.send(());
}
