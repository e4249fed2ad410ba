//! What a buyer or an upstream might do to get around the meter or at the seller's
//! key: a priced route written another way, an upstream redirect that echoes the
//! key's query parameter, an upstream that prints the key in its answer, an upstream
//! that hangs up without answering, a client trying keys by the thousand.

use std::time::Duration;

use serde_json::json;
use tokio::io::AsyncReadExt;

use crate::common::{Backend, Client, create_listing};

use super::harness::{
    Bought, GatewayApp, SELLER_KEY, Upstream, buy, call, eventually, gateway_listing, listing_with,
    one_unit_bought,
};

crate::dual_backend_tests!(
    a_priced_route_costs_the_same_however_its_path_is_written,
    a_redirect_never_hands_the_buyer_the_seller_key,
    an_upstream_echoing_the_key_in_its_body_never_hands_it_over,
    an_upstream_that_hangs_up_charges_nothing_under_either_meter,
    an_address_sending_unknown_keys_is_refused_and_others_are_not,
);

/// `requests_used` of the buyer's token for `listing` once leases have flushed to it.
async fn settles_at(api: &Client, buyer: &str, listing: &str, used: i64) {
    eventually(5, &format!("{used} requests used"), || async {
        let tokens = api.get("/api/v1/tokens", Some(buyer)).await.body;
        tokens["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["listing_id"] == listing && t["requests_used"] == used)
    })
    .await;
}

async fn a_priced_route_costs_the_same_however_its_path_is_written(backend: Backend) {
    let upstream = Upstream::start().await;
    let app = GatewayApp::spawn(backend, &[]).await;
    let seller = app.api.signup("seller@example.com").await;
    let buyer = app.api.signup("buyer@example.com").await;
    let costs = json!({"route_costs": [{"prefix": "/reports/", "cost": 10}]});
    let listing = create_listing(
        &app.api,
        &seller,
        &listing_with(&upstream.base, 100, "all", costs),
    )
    .await;
    let key = buy(&app.api, &buyer, &listing, 1).await.unwrap();
    let http = reqwest::Client::new();
    // Each of these reaches the upstream (which answers 200) and is the priced route
    // to an upstream that decodes, merges slashes, drops `;` parameters or ignores case.
    let spellings = [
        "reports/a",
        "%72eports/a",
        "%52EPORTS/a",
        "/reports/a",
        "reports;v=2/a",
        "Reports/a",
    ];
    for (i, path) in spellings.iter().enumerate() {
        let (status, code, _) = call(&http, &app.gateway, &listing, path, &key).await;
        assert_eq!(status, 200, "{path}: {code}");
        settles_at(&app.api, &buyer, &listing, 10 * (i as i64 + 1)).await;
    }
    // A path outside the prefix still costs 1.
    assert_eq!(
        call(&http, &app.gateway, &listing, "report/a", &key)
            .await
            .0,
        200
    );
    settles_at(&app.api, &buyer, &listing, 61).await;
    assert_eq!(upstream.count(), spellings.len() + 1);
}

async fn a_redirect_never_hands_the_buyer_the_seller_key(backend: Backend) {
    let upstream = Upstream::start().await;
    let app = GatewayApp::spawn(backend, &[]).await;
    let seller = app.api.signup("seller@example.com").await;
    let buyer = app.api.signup("buyer@example.com").await;
    let in_query = json!({"inject_query": "api_key"});
    let listing = create_listing(
        &app.api,
        &seller,
        &listing_with(&upstream.base, 10, "all", in_query),
    )
    .await;
    let key = buy(&app.api, &buyer, &listing, 1).await.unwrap();
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}/{listing}/redirect?city=oslo", app.gateway))
        .bearer_auth(&key)
        .send()
        .await
        .expect("gateway answers");
    assert_eq!(response.status(), 301, "the redirect is passed on");
    // The upstream got the key in its query and echoed it into two headers.
    let received = upstream.received();
    assert!(received[0].target.contains(SELLER_KEY), "{:?}", received[0]);
    let headers = format!("{:?}", response.headers());
    assert!(!headers.contains(SELLER_KEY), "{headers}");
    assert!(response.headers().get("location").is_none());
    assert!(response.headers().get("content-location").is_none());
    let body = response.text().await.unwrap();
    assert!(!body.contains(SELLER_KEY));
}

async fn an_upstream_echoing_the_key_in_its_body_never_hands_it_over(backend: Backend) {
    let upstream = Upstream::start().await;
    let app = GatewayApp::spawn(backend, &[]).await;
    let seller = app.api.signup("seller@example.com").await;
    let buyer = app.api.signup("buyer@example.com").await;
    let mask = "*".repeat(SELLER_KEY.len());
    let http = reqwest::Client::new();
    // The key in a header (the default) and in the query.
    for extra in [json!({}), json!({"inject_query": "api_key"})] {
        let listing = create_listing(
            &app.api,
            &seller,
            &listing_with(&upstream.base, 10, "all", extra.clone()),
        )
        .await;
        let key = buy(&app.api, &buyer, &listing, 1).await.unwrap();
        for path in ["whoami", "whoami?chunked"] {
            let sent_before = upstream.count();
            let response = http
                .get(format!("{}/{listing}/{path}", app.gateway))
                .bearer_auth(&key)
                .header("accept-encoding", "gzip")
                .send()
                .await
                .expect("gateway answers");
            assert_eq!(response.status(), 200, "{extra} {path}");
            let length = response.content_length();
            let body = response.text().await.unwrap();
            let received = &upstream.received()[sent_before];
            assert!(
                format!("{received:?}").contains(SELLER_KEY),
                "the upstream got the key: {received:?}"
            );
            assert_eq!(
                received.header("accept-encoding"),
                Some("identity"),
                "asked for a body the gateway can read"
            );
            assert!(!body.contains(SELLER_KEY), "{extra} {path}: {body}");
            assert!(
                body.contains(&mask),
                "{extra} {path}: masked in place: {body}"
            );
            if path == "whoami" {
                assert_eq!(length, Some(body.len() as u64), "Content-Length stays true");
            }
        }
        // An upstream that compresses though asked not to: what the gateway cannot
        // check is not passed on, and not charged.
        let sent_before = upstream.count();
        let (status, code, body) =
            call(&http, &app.gateway, &listing, "whoami?compressed", &key).await;
        assert_eq!(
            (status, code.as_str()),
            (502, "upstream_unavailable"),
            "{body}"
        );
        assert!(!body.contains(SELLER_KEY), "{body}");
        assert_eq!(upstream.count(), sent_before + 1, "the upstream was asked");
        settles_at(&app.api, &buyer, &listing, 2).await;
    }
}

/// A TCP server that reads each request and closes the connection unanswered.
async fn hang_up_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = tokio::time::timeout(Duration::from_secs(2), socket.read(&mut buf)).await;
            drop(socket);
        }
    });
    format!("http://{addr}")
}

async fn an_upstream_that_hangs_up_charges_nothing_under_either_meter(backend: Backend) {
    let base = hang_up_server().await;
    let app = GatewayApp::spawn(backend, &[]).await;
    let seller = app.api.signup("seller@example.com").await;
    let buyer = app.api.signup("buyer@example.com").await;
    let http = reqwest::Client::new();
    for meter in ["all", "success"] {
        let listing = create_listing(&app.api, &seller, &gateway_listing(&base, 10, meter)).await;
        let key = buy(&app.api, &buyer, &listing, 1).await.unwrap();
        for _ in 0..3 {
            let (status, code, _) = call(&http, &app.gateway, &listing, "x", &key).await;
            assert_eq!(
                (status, code.as_str()),
                (502, "upstream_unavailable"),
                "{meter}"
            );
        }
        settles_at(&app.api, &buyer, &listing, 0).await;
    }
}

/// A call with `key` as if from `address` (the test server trusts loopback's
/// `X-Forwarded-For`): its status, error code and `Retry-After`.
async fn call_from(
    http: &reqwest::Client,
    app: &GatewayApp,
    listing: &str,
    address: &str,
    key: &str,
) -> (u16, String, Option<u64>) {
    let r = http
        .get(format!("{}/{listing}/x", app.gateway))
        .bearer_auth(key)
        .header("x-forwarded-for", address)
        .send()
        .await
        .expect("gateway answers");
    let status = r.status().as_u16();
    let retry_after = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok()?.parse().ok());
    let body: serde_json::Value = r.json().await.unwrap_or_default();
    let code = body["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    (status, code, retry_after)
}

/// Every well-formed key costs a database read; an address that sends more unknown
/// ones than `--gateway-unknown-key-limit` gets 429 for a while, without reaching
/// the upstream, while buyers at other addresses are served as before.
async fn an_address_sending_unknown_keys_is_refused_and_others_are_not(backend: Backend) {
    let upstream = Upstream::start().await;
    let flags = [
        "--gateway-unknown-key-limit",
        "3/min",
        "--trusted-proxies",
        "127.0.0.1",
    ];
    let app = GatewayApp::spawn(backend, &flags).await;
    let Bought { listing, key, .. } = one_unit_bought(&app, &upstream).await;
    let http = reqwest::Client::new();
    let scanner = "203.0.113.5";
    let unknown = || udam::gateway::key::issue().plaintext.expose().to_owned();

    for _ in 0..3 {
        let (status, code, _) = call_from(&http, &app, &listing, scanner, &unknown()).await;
        assert_eq!((status, code.as_str()), (401, "gateway_key_invalid"));
    }
    // The fourth is over the limit, and so is every next one for a while.
    for _ in 0..2 {
        let (status, code, retry_after) =
            call_from(&http, &app, &listing, scanner, &unknown()).await;
        assert_eq!((status, code.as_str()), (429, "rate_limited"));
        let retry_after = retry_after.expect("a Retry-After");
        assert!((1..=60).contains(&retry_after), "{retry_after}");
    }
    // Malformed keys never read the database: they are refused as before.
    let (status, _, _) = call_from(&http, &app, &listing, scanner, "udam_nope").await;
    assert_eq!(status, 401);

    // Another address: the buyer is served, and its own unknown keys are its own.
    let buyer_address = "203.0.113.6";
    let (status, _, _) = call_from(&http, &app, &listing, buyer_address, &key).await;
    assert_eq!(status, 200);
    let (status, _, _) = call_from(&http, &app, &listing, buyer_address, &unknown()).await;
    assert_eq!(status, 401);
    assert_eq!(upstream.count(), 1, "only the buyer's call went upstream");
}
