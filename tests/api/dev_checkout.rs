//! The dev checkout's guards (issue 12, defect 8): its URL carries a random token,
//! not the order id; its buttons refuse cross-site requests; sellers never see it;
//! and it does not start unasked where it looks like a deployment.

use std::time::Duration;

use reqwest::StatusCode;

use crate::common::process::ServerProcess;
use crate::common::{
    Backend, TEST_MASTER_KEYS, TestApp, TestDb, create_listing, listing_body, order, units_left,
};

crate::dual_backend_tests!(
    the_checkout_opens_by_its_token_only,
    checkout_buttons_refuse_cross_site_requests,
    sellers_never_see_checkout_urls,
    the_dev_checkout_must_be_asked_for_on_postgres_or_https,
);

/// A buyer's pending order of `units` units of a fresh 10.00 listing: (seller, buyer,
/// listing, order id, checkout URL).
async fn pending_order(app: &TestApp, units: i64) -> (String, String, String, String, String) {
    let seller = app.signup("seller@example.com").await;
    let buyer = app.signup("buyer@example.com").await;
    let listing = create_listing(app, &seller, &listing_body("dear", 1000, 10)).await;
    let r = order(app, &buyer, &listing, units).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["order"]["status"], "pending_payment");
    let id = r.body["order"]["id"].as_str().unwrap().to_owned();
    let url = r.body["checkout_url"].as_str().unwrap().to_owned();
    (seller, buyer, listing.to_string(), id, url)
}

async fn status_of(app: &TestApp, buyer: &str, id: &str) -> String {
    app.get(&format!("/api/v1/orders/{id}"), Some(buyer))
        .await
        .body["status"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

async fn the_checkout_opens_by_its_token_only(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, buyer, listing, id, url) = pending_order(&app, 2).await;
    let token = url
        .strip_prefix(&format!("{}/dev/checkout/", app.base))
        .expect("a dev checkout URL");
    assert!(token.starts_with("dck_") && token.len() >= 40, "{token}");
    assert!(
        !token.contains(&id[4..]),
        "the token is not made from the order id"
    );
    // Each checkout gets its own token.
    let other = order(&app, &buyer, &listing, 2).await.body["checkout_url"].clone();
    assert_ne!(other.as_str(), Some(url.as_str()));

    // The order id (what the seller knows), a guessed token, and junk open nothing.
    let guessed = format!("dck_{}", "A".repeat(43));
    for key in [
        id.as_str(),
        guessed.as_str(),
        "dck_%00",
        "dck_a%00b",
        "%FF%FE",
    ] {
        let base = format!("{}/dev/checkout/{key}", app.base);
        let page = app.http.get(&base).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::NOT_FOUND, "GET {key}");
        for action in ["pay", "cancel"] {
            let r = app
                .http
                .post(format!("{base}/{action}"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::NOT_FOUND, "{action} {key}");
        }
    }
    assert_eq!(status_of(&app, &buyer, &id).await, "pending_payment");
    assert_eq!(
        units_left(&app, &listing).await,
        6,
        "both reservations stand"
    );

    // The right token opens it.
    let page = app.http.get(&url).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(
        html.contains(&format!("action=\"/dev/checkout/{token}/pay\"")),
        "{html}"
    );
    assert!(html.contains("$20.00"), "{html}");

    // Once cancelled the token is stale: the page and its Cancel are gone.
    let cancelled = app.http.post(format!("{url}/cancel")).send().await.unwrap();
    assert_eq!(cancelled.status(), StatusCode::SEE_OTHER);
    assert_eq!(status_of(&app, &buyer, &id).await, "cancelled");
    assert_eq!(units_left(&app, &listing).await, 8);
    let stale = app.http.get(&url).send().await.unwrap();
    assert_eq!(stale.status(), StatusCode::NOT_FOUND);
    let body: serde_json::Value = stale.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found", "{body}");
    let again = app.http.post(format!("{url}/cancel")).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
    assert_eq!(units_left(&app, &listing).await, 8, "released once");
    app.assert_ledger_clean().await;
}

async fn checkout_buttons_refuse_cross_site_requests(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, buyer, listing, id, url) = pending_order(&app, 2).await;
    let forged: [(&str, &str); 5] = [
        ("sec-fetch-site", "cross-site"),
        ("sec-fetch-site", "same-site"),
        ("origin", "https://evil.example"),
        ("origin", "null"),
        ("origin", "http://127.0.0.1.evil.example"),
    ];
    for action in ["pay", "cancel"] {
        for (name, value) in forged {
            let r = app
                .http
                .post(format!("{url}/{action}"))
                .header(name, value)
                .send()
                .await
                .unwrap();
            assert_eq!(
                r.status(),
                StatusCode::FORBIDDEN,
                "{action} with {name}: {value}"
            );
            let body: serde_json::Value = r.json().await.unwrap();
            assert_eq!(body["error"]["code"], "forbidden", "{body}");
        }
    }
    assert_eq!(status_of(&app, &buyer, &id).await, "pending_payment");
    assert_eq!(units_left(&app, &listing).await, 8);

    // The checkout page itself may press its buttons.
    let r = app
        .http
        .post(format!("{url}/cancel"))
        .header("sec-fetch-site", "same-origin")
        .header("origin", &app.base)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(status_of(&app, &buyer, &id).await, "cancelled");
    let second = order(&app, &buyer, &listing, 1).await;
    let second_url = second.body["checkout_url"].as_str().unwrap();
    let r = app
        .http
        .post(format!("{second_url}/pay"))
        .header("origin", &app.base)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "an older browser's same-origin form"
    );
    let second_id = second.body["order"]["id"].as_str().unwrap();
    assert_eq!(status_of(&app, &buyer, second_id).await, "fulfilled");
    app.assert_ledger_clean().await;
}

async fn sellers_never_see_checkout_urls(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (seller, buyer, _, id, url) = pending_order(&app, 2).await;
    let path = format!("/api/v1/orders/{id}");
    assert_eq!(
        app.get(&path, Some(&buyer)).await.body["checkout_url"],
        url.as_str()
    );
    let theirs = app.get(&path, Some(&seller)).await;
    assert_eq!(theirs.status, StatusCode::OK);
    assert_eq!(theirs.body["status"], "pending_payment");
    assert!(theirs.body["checkout_url"].is_null(), "{:?}", theirs.body);
    let sales = app.get("/api/v1/sales", Some(&seller)).await.body;
    let items = sales["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], id.as_str());
    assert!(items[0]["checkout_url"].is_null(), "{sales}");
    let mine = app.get("/api/v1/orders", Some(&buyer)).await.body;
    assert_eq!(mine["items"][0]["checkout_url"], url.as_str());
    // The seller's web dashboard lists the sale without the link.
    let dashboard = app
        .http
        .get(format!("{}/dashboard", app.base))
        .header("cookie", format!("udam_session={seller}"))
        .send()
        .await
        .unwrap();
    assert_eq!(dashboard.status(), StatusCode::OK);
    let html = dashboard.text().await.unwrap();
    assert!(html.contains(&id), "the sale is listed: {html}");
    assert!(!html.contains("/dev/checkout/"), "{html}");
    app.assert_ledger_clean().await;
}

/// Runs `udam serve` with `args` and no `UDAM_DEV_CHECKOUT`, expecting it to stop
/// at start; returns its stderr.
async fn refused_start(db_url: &str, args: &[&str]) -> String {
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_udam"))
        .args(["--bind", "127.0.0.1:0", "--database-url", db_url])
        .args(["--master-keys", TEST_MASTER_KEYS])
        .args([
            "--metrics-bind",
            "127.0.0.1:0",
            "--gateway-bind",
            "127.0.0.1:0",
        ])
        .args(args)
        .arg("serve")
        .env_remove("UDAM_DEV_CHECKOUT")
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .unwrap_or_else(|_| panic!("udam {args:?} started instead of refusing"))
        .expect("udam runs");
    assert!(!out.status.success(), "udam {args:?} was accepted");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

async fn the_dev_checkout_must_be_asked_for_on_postgres_or_https(backend: Backend) {
    let db = TestDb::new(backend).await;
    let https = ["--public-url", "https://shop.example"];
    let stderr = refused_start(&db.url, &https).await;
    assert!(stderr.contains("--dev-checkout"), "{stderr}");
    assert!(stderr.contains("https public URL"), "{stderr}");
    let plain_env = [("UDAM_DEV_CHECKOUT", "false")];
    if backend == Backend::Postgres {
        let stderr = refused_start(&db.url, &[]).await;
        assert!(stderr.contains("--dev-checkout"), "{stderr}");
        assert!(stderr.contains("PostgreSQL"), "{stderr}");
    } else {
        // SQLite over plain http (the one-command default) keeps it, and says so.
        let server = ServerProcess::start(&db.url, &[], &plain_env).await;
        server.wait_for_log("the dev checkout is on").await;
        drop(server);
    }
    // Asked for, it runs, and warns at every start.
    for start in 0..2 {
        let server = ServerProcess::start(&db.url, &https, &[("UDAM_DEV_CHECKOUT", "true")]).await;
        server.wait_for_log("the dev checkout is on").await;
        let seller = server.signup(&format!("s{start}@example.com")).await;
        let r = server.get("/api/v1/me", Some(&seller)).await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(server.terminate().await, "clean exit");
    }
}
