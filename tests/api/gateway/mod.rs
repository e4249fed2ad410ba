//! The metered gateway (issue 14): buyer keys, the seller's key injected upstream,
//! exact allowances, upstream rules, streaming, and several processes sharing one
//! allowance. Every test runs against a real upstream server that records what it
//! received.

mod evasion;
pub(crate) mod harness;
mod limits;
mod migration;
mod processes;
mod streaming;

use reqwest::StatusCode;
use serde_json::json;

use crate::common::{Backend, create_listing, order};
use harness::{
    Bought, GatewayApp, SELLER_KEY, Upstream, buy, call, eventually, first_token, gateway_listing,
    one_unit_bought, refused_within_a_second,
};

crate::dual_backend_tests!(
    seller_key_goes_upstream_and_buyer_key_does_not,
    allowance_is_exact_then_402_and_orders_top_it_up,
    internal_upstreams_are_refused_without_the_flag,
    roll_and_revoke_take_effect_within_a_second,
    failed_or_slow_upstreams_do_not_consume_requests,
    large_bodies_stream_both_ways,
    the_tokens_page_shows_the_key_once_with_a_curl_example,
    sellers_choose_gateway_delivery_on_the_sell_form,
    revoking_a_grant_stops_leased_requests_past_the_new_allowance,
);

async fn seller_key_goes_upstream_and_buyer_key_does_not(backend: Backend) {
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
    let shown = app
        .api
        .get(&format!("/api/v1/listings/{listing}"), None)
        .await;
    assert_eq!(shown.body["delivery"], "gateway");
    assert_eq!(shown.body["requests_per_unit"], 10);
    assert!(!shown.body.to_string().contains(SELLER_KEY));
    // Shown in full in the order's answer, then only its hint.
    let key = buy(&app.api, &buyer, &listing, 1)
        .await
        .expect("the order's answer shows the key");
    assert!(key.starts_with("udam_"));
    let (_, shown, item) = first_token(&app.api, &buyer).await;
    assert_eq!(shown, None, "shown once: in the order's answer");
    assert!(
        item["access_token"].is_null(),
        "the seller's key is never handed out"
    );
    assert_eq!(item["gateway_url"], format!("{}/{listing}/", app.gateway));
    let (_, again, item) = first_token(&app.api, &buyer).await;
    assert_eq!(again, None);
    assert!(
        item["gateway_key_hint"]
            .as_str()
            .unwrap()
            .ends_with(&key[key.len() - 4..])
    );
    assert!(!item.to_string().contains(SELLER_KEY));

    let http = reqwest::Client::new();
    let r = http
        .post(format!(
            "{}/{listing}/forecast/today?city=Oslo",
            app.gateway
        ))
        .bearer_auth(&key)
        .header("x-trace", "kept")
        .header("connection", "x-hop")
        .header("x-hop", "dropped")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let headers = format!("{:?}", r.headers());
    let body = r.text().await.unwrap();
    assert_eq!(body, r#"{"temperature":21}"#);
    assert!(!headers.contains(SELLER_KEY) && !body.contains(SELLER_KEY));

    // X-UDAM-Key works too, and leaves the buyer's own Authorization alone.
    let r = http
        .get(format!("{}/{listing}/x", app.gateway))
        .header("x-udam-key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    let received = upstream.received();
    assert_eq!(received.len(), 2);
    let first = &received[0];
    assert_eq!(first.target, "/v1/forecast/today?city=Oslo");
    assert_eq!(
        first.header("authorization"),
        Some(&*format!("Bearer {SELLER_KEY}"))
    );
    assert_eq!(first.header("x-trace"), Some("kept"));
    assert_eq!(
        first.header("x-hop"),
        None,
        "headers named by Connection are dropped"
    );
    for r in &received {
        assert!(
            !format!("{r:?}").contains(&key),
            "the buyer key reached the upstream: {r:?}"
        );
        assert_eq!(r.header("x-udam-key"), None);
    }

    // Unknown, malformed and missing keys: 401 in the envelope, nothing forwarded.
    let mut forged = key.clone().into_bytes();
    forged[20] = if forged[20] == b'0' { b'1' } else { b'0' };
    let forged = String::from_utf8(forged).unwrap();
    for bad in [forged.as_str(), "udam_nope", "not-a-key"] {
        let (status, code, _) = call(&http, &app.gateway, &listing, "x", bad).await;
        assert_eq!((status, code.as_str()), (401, "gateway_key_invalid"));
    }
    let r = http
        .get(format!("{}/{listing}/x", app.gateway))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(upstream.count(), 2);
}

async fn allowance_is_exact_then_402_and_orders_top_it_up(backend: Backend) {
    let upstream = Upstream::start().await;
    let app = GatewayApp::spawn(backend, &["--gateway-usage-flush", "50ms"]).await;
    let seller = app.api.signup("seller@example.com").await;
    let buyer = app.api.signup("buyer@example.com").await;
    let listing = create_listing(
        &app.api,
        &seller,
        &gateway_listing(&upstream.base, 10, "all"),
    )
    .await;
    let key = buy(&app.api, &buyer, &listing, 3).await.unwrap();
    let (grant, _, item) = first_token(&app.api, &buyer).await;
    assert_eq!(item["requests_allowed"], 30);

    // 40 at once against 30 bought: exactly 30 served, the rest 402.
    let http = reqwest::Client::new();
    let calls = (0..40).map(|_| call(&http, &app.gateway, &listing, "now", &key));
    let results = futures::future::join_all(calls).await;
    let served = results.iter().filter(|r| r.0 == 200).count();
    let refused: Vec<_> = results.iter().filter(|r| r.0 != 200).collect();
    assert_eq!(served, 30);
    assert_eq!(upstream.count(), 30);
    assert!(
        refused
            .iter()
            .all(|r| r.0 == 402 && r.1 == "allowance_exhausted"),
        "{refused:?}"
    );

    // Usage: exact counters at once, the per-hour history after its flush.
    let usage_path = format!("/api/v1/tokens/{grant}/usage?granularity=hour");
    eventually(5, "the usage history holds 30 requests", || async {
        let r = app.api.get(&usage_path, Some(&buyer)).await;
        r.body["items"].as_array().is_some_and(|items| {
            items
                .iter()
                .map(|i| i["requests"].as_i64().unwrap())
                .sum::<i64>()
                == 30
        })
    })
    .await;
    let r = app.api.get(&usage_path, Some(&buyer)).await;
    assert_eq!(
        (
            r.body["requests_used"].as_i64(),
            r.body["requests_allowed"].as_i64()
        ),
        (Some(30), Some(30))
    );
    let r = app
        .api
        .get(
            &format!("/api/v1/listings/{listing}/usage?granularity=day"),
            Some(&seller),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["requests_used"], 30);
    assert_eq!(r.body["items"][0]["requests"], 30);
    let r = app
        .api
        .get(&format!("/api/v1/listings/{listing}/usage"), Some(&buyer))
        .await;
    assert_eq!(r.status, 403);

    // Another order tops up the same key: 10 more, then 402 again.
    let r = order(&app.api, &buyer, &listing, 1).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert!(r.body["gateway"].is_null(), "{:?}", r.body);
    let (_, none, item) = first_token(&app.api, &buyer).await;
    assert_eq!(none, None, "no second key per order");
    assert_eq!(item["requests_allowed"], 40);
    for _ in 0..10 {
        assert_eq!(
            call(&http, &app.gateway, &listing, "now", &key).await.0,
            200
        );
    }
    assert_eq!(
        call(&http, &app.gateway, &listing, "now", &key).await.0,
        402
    );
    assert_eq!(upstream.count(), 40);
}

async fn internal_upstreams_are_refused_without_the_flag(backend: Backend) {
    let upstream = Upstream::start().await;
    let app = GatewayApp::spawn(backend, &[]).await;
    let seller = app.api.signup("seller@example.com").await;
    let buyer = app.api.signup("buyer@example.com").await;
    // Made while local upstreams are allowed...
    let listing = create_listing(
        &app.api,
        &seller,
        &gateway_listing(&upstream.base, 10, "all"),
    )
    .await;
    let key = buy(&app.api, &buyer, &listing, 1).await;
    let key = key.unwrap();
    let db = app.db.as_ref().unwrap().url.clone();

    // ...then a strict process on the same database: refused at save time and at
    // connect time, and nothing is counted.
    let strict = udam::server::Server::bind(crate::common::test_config(
        &db,
        &["--gateway-bind", "127.0.0.1:0", "--gateway-allow-http"],
    ))
    .await
    .unwrap();
    let strict_api = crate::common::Client::new(format!("http://{}", strict.local_addr().unwrap()));
    let strict_gateway = format!("http://{}", strict.gateway_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(strict.run(async {
        let _ = rx.await;
    }));
    for host in [
        "http://127.0.0.1:9".to_owned(),
        "http://10.0.0.1".to_owned(),
        "http://169.254.169.254".to_owned(),
        "http://[::1]:9".to_owned(),
        "http://[::ffff:127.0.0.1]:9".to_owned(),
        "http://localhost:9".to_owned(),
        upstream.base.clone(),
    ] {
        let r = strict_api
            .post(
                "/api/v1/listings",
                &gateway_listing(&host, 10, "all"),
                Some(&seller),
            )
            .await;
        assert_eq!(r.status, 422, "{host} must be refused: {:?}", r.body);
        assert_eq!(r.body["error"]["field"], "gateway.upstream_base_url");
    }
    let http = reqwest::Client::new();
    let (status, code, _) = call(&http, &strict_gateway, &listing, "x", &key).await;
    assert_eq!((status, code.as_str()), (502, "upstream_forbidden"));
    assert_eq!(upstream.count(), 0);
    let (_, _, item) = first_token(&app.api, &buyer).await;
    assert_eq!(
        item["requests_used"], 0,
        "a refused connection is not counted"
    );

    // https only, unless --gateway-allow-http.
    let https_only = GatewayApp::spawn_on(crate::common::TestDb::new(backend).await, &[]).await;
    drop(https_only);
    let _ = tx.send(());
    let strictest =
        udam::server::Server::bind(crate::common::test_config(&db, &["--gateway-bind", "off"]))
            .await
            .unwrap();
    assert!(strictest.gateway_addr().is_none());
    let strictest_api =
        crate::common::Client::new(format!("http://{}", strictest.local_addr().unwrap()));
    let (tx2, rx2) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(strictest.run(async {
        let _ = rx2.await;
    }));
    let r = strictest_api
        .post(
            "/api/v1/listings",
            &gateway_listing("http://203.0.113.7", 10, "all"),
            Some(&seller),
        )
        .await;
    assert_eq!(r.status, 422, "{:?}", r.body);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("https")
    );
    let _ = tx2.send(());
}

async fn roll_and_revoke_take_effect_within_a_second(backend: Backend) {
    let upstream = Upstream::start().await;
    let app = GatewayApp::spawn(backend, &[]).await;
    let seller = app.api.signup("seller@example.com").await;
    let buyer = app.api.signup("buyer@example.com").await;
    let other = app.api.signup("other@example.com").await;
    let listing = create_listing(
        &app.api,
        &seller,
        &gateway_listing(&upstream.base, 100, "all"),
    )
    .await;
    let key = buy(&app.api, &buyer, &listing, 1).await;
    let (grant, _, _) = first_token(&app.api, &buyer).await;
    let old = key.unwrap();
    let http = reqwest::Client::new();
    assert_eq!(call(&http, &app.gateway, &listing, "x", &old).await.0, 200);

    // Only the buyer may roll.
    let roll = format!("/api/v1/tokens/{grant}/roll");
    assert_eq!(
        app.api.post(&roll, &json!({}), Some(&seller)).await.status,
        403
    );
    assert_eq!(
        app.api.post(&roll, &json!({}), Some(&other)).await.status,
        404
    );

    // A roll without grace: the old key stops at once, the new one works.
    let r = app.api.post(&roll, &json!({}), Some(&buyer)).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let new = r.body["gateway_key"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    // A new key works at once (unknown keys are never cached); the old one stops
    // within the route cache's lifetime, well under a second.
    assert_eq!(call(&http, &app.gateway, &listing, "x", &new).await.0, 200);
    let mut served = 2 + refused_within_a_second(&http, &app.gateway, &listing, &old, 401).await;

    // With a grace period both work for a while.
    let r = app
        .api
        .post(
            &format!("{roll}?grace_seconds=60"),
            &json!({}),
            Some(&buyer),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert!(r.body["previous_key_expires_at"].is_string());
    let newest = r.body["gateway_key"].as_str().unwrap().to_owned();
    assert_eq!(call(&http, &app.gateway, &listing, "x", &new).await.0, 200);
    assert_eq!(
        call(&http, &app.gateway, &listing, "x", &newest).await.0,
        200
    );
    let r = app
        .api
        .post(
            &format!("{roll}?grace_seconds=-1"),
            &json!({}),
            Some(&buyer),
        )
        .await;
    assert_eq!(r.status, 422);

    // The seller revokes the only grant: the key stops at once.
    let r = app
        .api
        .post(
            &format!("/api/v1/tokens/{grant}/revoke"),
            &json!({}),
            Some(&seller),
        )
        .await;
    assert_eq!(r.status, 200);
    served += 2 + refused_within_a_second(&http, &app.gateway, &listing, &newest, 401).await;
    assert_eq!(upstream.count(), served);
}

async fn failed_or_slow_upstreams_do_not_consume_requests(backend: Backend) {
    let upstream = Upstream::start().await;
    let app = GatewayApp::spawn(backend, &["--gateway-upstream-timeout", "300ms"]).await;
    let seller = app.api.signup("seller@example.com").await;
    let buyer = app.api.signup("buyer@example.com").await;
    // A port nobody listens on.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dead = create_listing(
        &app.api,
        &seller,
        &gateway_listing(&format!("http://127.0.0.1:{closed}"), 10, "all"),
    )
    .await;
    let live = create_listing(
        &app.api,
        &seller,
        &gateway_listing(&upstream.base, 10, "success"),
    )
    .await;
    let dead_key = buy(&app.api, &buyer, &dead, 1).await.unwrap();
    let live_key = buy(&app.api, &buyer, &live, 1).await.unwrap();
    let http = reqwest::Client::new();

    let (status, code, _) = call(&http, &app.gateway, &dead, "x", &dead_key).await;
    assert_eq!((status, code.as_str()), (502, "upstream_unavailable"));
    let (status, code, _) = call(&http, &app.gateway, &live, "slow", &live_key).await;
    assert_eq!((status, code.as_str()), (504, "upstream_timeout"));
    // meter: success — a 500 from the upstream is passed on but not charged.
    let (status, _, body) = call(&http, &app.gateway, &live, "status/500", &live_key).await;
    assert_eq!((status, body.as_str()), (500, "upstream says so"));
    assert_eq!(
        call(&http, &app.gateway, &live, "status/204", &live_key)
            .await
            .0,
        204
    );

    // Shown counts follow the leases' flushed counts within a moment.
    eventually(
        5,
        "1 request used on the live key, none on the dead one",
        || async {
            let tokens = app.api.get("/api/v1/tokens", Some(&buyer)).await.body;
            tokens["items"].as_array().unwrap().iter().all(|item| {
                let expected = if item["listing_id"] == dead.as_str() {
                    0
                } else {
                    1
                };
                item["requests_used"] == expected
            })
        },
    )
    .await;
}

async fn large_bodies_stream_both_ways(backend: Backend) {
    const CHUNK: usize = 64 * 1024;
    const CHUNKS: usize = 800; // 50 MiB
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
    let key = buy(&app.api, &buyer, &listing, 1).await;
    let (tx, rx) = tokio::sync::mpsc::channel::<Vec<u8>>(4);
    tokio::spawn(async move {
        for i in 0..CHUNKS {
            if tx.send(vec![(i % 251) as u8; CHUNK]).await.is_err() {
                return;
            }
        }
    });
    let response = reqwest::Client::new()
        .post(format!("{}/{listing}/echo", app.gateway))
        .bearer_auth(key.unwrap())
        .body(reqwest::Body::wrap(harness::ChannelBody(rx)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut response = response;
    let mut total = 0usize;
    let mut sum = 0u64;
    while let Some(chunk) = response.chunk().await.unwrap() {
        for (offset, byte) in chunk.iter().enumerate() {
            let at = total + offset;
            assert_eq!(usize::from(*byte), (at / CHUNK) % 251, "byte {at}");
        }
        total += chunk.len();
        sum += chunk.len() as u64;
    }
    assert_eq!(total, CHUNK * CHUNKS);
    assert_eq!(sum, (CHUNK * CHUNKS) as u64);
}

async fn the_tokens_page_shows_the_key_once_with_a_curl_example(backend: Backend) {
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
    // Bought on the web (an API order's answer would show the key instead).
    let cookie = format!("udam_session={buyer}");
    let listing_page = app
        .api
        .http
        .get(format!("{}/listings/{listing}", app.api.base))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let marker = "name=\"csrf\" value=\"";
    let at = listing_page.find(marker).unwrap() + marker.len();
    let csrf = &listing_page[at..at + listing_page[at..].find('"').unwrap()];
    let r = app
        .api
        .http
        .post(format!("{}/listings/{listing}/buy", app.api.base))
        .header("cookie", &cookie)
        .form(&[("csrf", csrf), ("units", "2")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page = |cookie: String| {
        let http = app.api.http.clone();
        let url = format!("{}/tokens", app.api.base);
        async move {
            let r = http.get(url).header("cookie", cookie).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            r.text().await.unwrap()
        }
    };
    let first = page(cookie.clone()).await;
    let code = first
        .find("class=\"token-value\"")
        .expect("the key is on the page");
    let open = code + first[code..].find('>').unwrap() + 1;
    let close = open + first[open..].find("</code>").unwrap();
    let key = first[open..close].to_owned();
    assert!(key.starts_with("udam_"));
    assert_eq!(key.len(), 77, "{key}");
    assert!(first.contains("curl -H"));
    assert!(first.contains(&format!("{}/{listing}/", app.gateway)));
    assert!(first.contains("0 of 20 requests used"));
    assert!(!first.contains(SELLER_KEY));
    // The key works, and the next visit shows only its hint.
    let http = reqwest::Client::new();
    assert_eq!(call(&http, &app.gateway, &listing, "x", &key).await.0, 200);
    let second = page(cookie.clone()).await;
    assert!(!second.contains(&key));
    assert!(second.contains(&key[key.len() - 4..]));
    // The count follows the lease's flushed count within a moment.
    eventually(5, "the page shows 1 of 20 requests used", || async {
        page(cookie.clone()).await.contains("1 of 20 requests used")
    })
    .await;

    // Lost it: the page's Roll key button (a form with the CSRF token) issues a new
    // key, shown once on the answer; the old key stops at once.
    let roll = "/roll\" class=\"inline\">";
    let at = second.find(roll).expect("a roll form");
    let action_start = second[..at].rfind("action=\"").unwrap() + "action=\"".len();
    let action = &second[action_start..at + "/roll".len()];
    let csrf_at = at + second[at..].find(marker).unwrap() + marker.len();
    let csrf = &second[csrf_at..csrf_at + second[csrf_at..].find('"').unwrap()];
    let rolled = app
        .api
        .http
        .post(format!("{}{action}", app.api.base))
        .header("cookie", &cookie)
        .form(&[("csrf", csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(rolled.status(), StatusCode::OK);
    let rolled = rolled.text().await.unwrap();
    let code = rolled.find("class=\"token-value\"").expect("the new key");
    let open = code + rolled[code..].find('>').unwrap() + 1;
    let close = open + rolled[open..].find("</code>").unwrap();
    let new_key = rolled[open..close].to_owned();
    assert!(new_key.starts_with("udam_") && new_key != key, "{new_key}");
    assert!(
        rolled.contains(&format!("Bearer {new_key}")),
        "the curl example uses it"
    );
    assert_eq!(
        call(&http, &app.gateway, &listing, "x", &new_key).await.0,
        200
    );
    refused_within_a_second(&http, &app.gateway, &listing, &key, 401).await;
    // Without the form's token, nothing is rolled.
    let forged = app
        .api
        .http
        .post(format!("{}{action}", app.api.base))
        .header("cookie", &cookie)
        .form(&[("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        call(&http, &app.gateway, &listing, "x", &new_key).await.0,
        200
    );
}

async fn sellers_choose_gateway_delivery_on_the_sell_form(backend: Backend) {
    let upstream = Upstream::start().await;
    let app = GatewayApp::spawn(backend, &[]).await;
    let seller = app.api.signup("seller@example.com").await;
    let cookie = format!("udam_session={seller}");
    let http = app.api.http.clone();
    let form = http
        .get(format!("{}/sell", app.api.base))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(form.contains("name=\"upstream_base_url\""));
    let marker = "name=\"csrf\" value=\"";
    let at = form.find(marker).unwrap() + marker.len();
    let csrf = &form[at..at + form[at..].find('"').unwrap()];
    let upstream_url = format!("{}/v1", upstream.base);
    let r = http
        .post(format!("{}/sell", app.api.base))
        .header("cookie", &cookie)
        .form(&[
            ("csrf", csrf),
            ("service_name", "Form gateway"),
            ("description", ""),
            ("unit_description", "per 100 requests"),
            ("price", "1.00"),
            ("currency", "usd"),
            ("units", "10"),
            ("api_key", SELLER_KEY),
            ("delivery", "gateway"),
            ("upstream_base_url", upstream_url.as_str()),
            ("requests_per_unit", "100"),
            ("meter", "success"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "{}",
        r.text().await.unwrap()
    );
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let id = location
        .trim_start_matches("/listings/")
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let shown = app.api.get(&format!("/api/v1/listings/{id}"), None).await;
    assert_eq!(shown.body["delivery"], "gateway");
    assert_eq!(shown.body["requests_per_unit"], 100);
    assert_eq!(shown.body["meter"], "success");
}

async fn revoking_a_grant_stops_leased_requests_past_the_new_allowance(backend: Backend) {
    let upstream = Upstream::start().await;
    let app = GatewayApp::spawn(backend, &[]).await;
    let Bought {
        seller,
        buyer,
        listing,
        key,
    } = one_unit_bought(&app, &upstream).await;
    assert_eq!(buy(&app.api, &buyer, &listing, 1).await, None);
    let tokens = app.api.get("/api/v1/tokens", Some(&buyer)).await.body;
    let second_grant = tokens["items"][1]["id"].as_str().unwrap().to_owned();
    // 140 of 200: the process then holds a block with requests left in it.
    let http = reqwest::Client::new();
    for _ in 0..140 {
        assert_eq!(call(&http, &app.gateway, &listing, "x", &key).await.0, 200);
    }
    let r = app
        .api
        .post(
            &format!("/api/v1/tokens/{second_grant}/revoke"),
            &json!({}),
            Some(&seller),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    // 100 are left bought and 140 were served: once the revoke reaches the process
    // (within the route cache's lifetime) nothing more, leased or not.
    let late = refused_within_a_second(&http, &app.gateway, &listing, &key, 402).await;
    assert_eq!(upstream.count(), 140 + late);
    for _ in 0..5 {
        let (status, code, _) = call(&http, &app.gateway, &listing, "x", &key).await;
        assert_eq!((status, code.as_str()), (402, "allowance_exhausted"));
    }
    assert_eq!(upstream.count(), 140 + late);
}
