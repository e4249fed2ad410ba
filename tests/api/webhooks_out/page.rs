//! The Developers page: add an endpoint (secret shown once), send a test event that
//! the official verifier accepts, watch its delivery, delete; CSRF like every form.

use std::time::{Duration, Instant};

use reqwest::StatusCode;

use super::{Receiver, assert_all_signed, spawn};
use crate::common::Backend;
use crate::web::{csrf, get, post, session};

crate::dual_backend_tests!(developers_page_manages_endpoints);

fn between<'a>(html: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = html.find(start)? + start.len();
    let len = html[from..].find(end)?;
    Some(&html[from..from + len])
}

async fn developers_page_manages_endpoints(backend: Backend) {
    let app = spawn(backend).await;
    let token = app.signup("dev@example.com").await;
    let cookie = session(&token);
    let token_csrf = csrf(&token);
    let rx = Receiver::start().await;

    let page = get(&app, "/developers", Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.html.contains("No endpoints yet"));
    assert!(page.html.contains("aria-current=\"page\">Developers"));

    let forged = post(
        &app,
        "/developers/endpoints",
        Some(&cookie),
        &[("url", rx.url.as_str()), ("events", "order.created")],
    )
    .await;
    assert_eq!(
        forged.status,
        StatusCode::FORBIDDEN,
        "no CSRF token, no endpoint"
    );
    let list = app
        .get("/api/v1/webhook-endpoints", Some(&token))
        .await
        .body;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(0));

    let created = post(
        &app,
        "/developers/endpoints",
        Some(&cookie),
        &[
            ("csrf", token_csrf.as_str()),
            ("url", rx.url.as_str()),
            ("description", "my receiver"),
            ("events", "order.created"),
            ("events", "listing.sold_out"),
        ],
    )
    .await;
    assert_eq!(created.status, StatusCode::OK);
    let secret = between(&created.html, "id=\"secret-value\">", "<")
        .expect("the new secret is shown")
        .to_owned();
    assert!(secret.starts_with("whsec_"));
    let list = app
        .get("/api/v1/webhook-endpoints", Some(&token))
        .await
        .body;
    let endpoint = list["items"][0]["id"]
        .as_str()
        .expect("endpoint")
        .to_owned();
    assert_eq!(list["items"][0]["events"].as_array().map(Vec::len), Some(2));
    let again = get(&app, "/developers", Some(&cookie)).await;
    assert!(!again.html.contains(&secret), "the secret is shown once");
    assert!(again.html.contains("my receiver"));

    let sent = post(
        &app,
        &format!("/developers/endpoints/{endpoint}/test"),
        Some(&cookie),
        &[("csrf", token_csrf.as_str())],
    )
    .await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER);
    let got = rx.wait_until("the test event", |got| !got.is_empty()).await;
    assert_eq!(got[0].event_type(), "webhook.test");
    assert_all_signed(&got, &secret).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let page = get(&app, "/developers", Some(&cookie)).await;
        if page.html.contains("delivery-succeeded") && page.html.contains("HTTP 200") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the delivery never showed as succeeded"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let deleted = post(
        &app,
        &format!("/developers/endpoints/{endpoint}/delete"),
        Some(&cookie),
        &[("csrf", token_csrf.as_str())],
    )
    .await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER);
    let page = get(&app, "/developers?done=deleted", Some(&cookie)).await;
    assert!(page.html.contains("No endpoints yet"));
    assert!(page.html.contains("were deleted"));
}
