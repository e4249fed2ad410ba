//! Gateway usage on the pages: requests made through the real gateway to a real
//! upstream show as a chart on the seller's dashboard (per listing) and on the
//! buyer's tokens page (per key), and a listing name full of markup stays text in
//! the SVG and the tables.

use std::time::Duration;

use axum::Router;
use reqwest::StatusCode;
use serde_json::json;
use tokio::sync::oneshot;
use udam::server::Server;

use super::{chart, chart_total, page, table_rows};
use crate::common::{Backend, Client, TestDb, assert_ledger_clean, create_listing, test_config};

crate::dual_backend_tests!(gateway_usage_is_charted_and_names_stay_text);

/// A name that would break out of an attribute or inject a script if unescaped.
const NASTY: &str = "<script>alert(1)</script> \"Tides\" & <b>co</b>";

/// A minimal upstream answering 200 to everything; stops when dropped.
async fn upstream() -> (String, oneshot::Sender<()>) {
    let app = Router::new().fallback(|| async { "{\"ok\":true}" });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await
            .unwrap();
    });
    (base, tx)
}

async fn gateway_usage_is_charted_and_names_stay_text(backend: Backend) {
    let (upstream, _stop_upstream) = upstream().await;
    let db = TestDb::new(backend).await;
    let config = test_config(
        &db.url,
        &[
            "--gateway-bind",
            "127.0.0.1:0",
            "--gateway-allow-http",
            "--gateway-allow-private",
            "--gateway-usage-flush",
            "50ms",
        ],
    );
    let server = Server::bind(config).await.expect("server starts");
    let app = Client::new(format!("http://{}", server.local_addr().unwrap()));
    let gateway = format!("http://{}", server.gateway_addr().expect("gateway listens"));
    let database = server.state().db.clone();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(server.run(async {
        let _ = stopped.await;
    }));

    let seller = app.signup("seller@example.com").await;
    let buyer = app.signup("buyer@example.com").await;
    let body = json!({
        "service_name": NASTY,
        "description": "metered",
        "unit_description": "per 10 requests",
        "price_cents": 100,
        "currency": "usd",
        "available_units": 100,
        "api_key": "sk_live_seller_secret_0123456789",
        "delivery": "gateway",
        "gateway": {"upstream_base_url": format!("{upstream}/v1"), "requests_per_unit": 10},
    });
    let listing = create_listing(&app, &seller, &body)
        .await
        .as_str()
        .to_owned();
    let r = app
        .post(
            "/api/v1/orders",
            &json!({"listing_id": listing, "units": 1}),
            Some(&buyer),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let key = r.body["gateway"]["gateway_key"]
        .as_str()
        .expect("the key, shown once in the order's answer")
        .to_owned();
    let tokens = app.get("/api/v1/tokens", Some(&buyer)).await.body;
    let grant = tokens["items"][0]["id"].as_str().unwrap().to_owned();

    for _ in 0..3 {
        let r = app
            .http
            .get(format!("{gateway}/{listing}/weather"))
            .bearer_auth(&key)
            .send()
            .await
            .expect("gateway answers");
        assert_eq!(r.status(), StatusCode::OK);
    }
    // Usage is written in batches: poll the seller's report until all three show.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let report = app
            .get(
                &format!("/api/v1/listings/{listing}/usage?granularity=day"),
                Some(&seller),
            )
            .await
            .body;
        let counted: i64 = report["items"]
            .as_array()
            .map(|items| items.iter().filter_map(|b| b["requests"].as_i64()).sum())
            .unwrap_or(0);
        if counted == 3 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "usage never flushed: {report}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let html = page(&app, "/dashboard", &seller).await.html;
    let usage = chart(&html, &format!("usage-{listing}"));
    assert_eq!(chart_total(usage), "3");
    // Requests used come from the allowance (exact once leases settle; a lease still
    // held may make it trail the chart), out of the 10 bought.
    assert!(html.contains(" of 10 requests used"), "{html}");
    assert!(
        !html.contains("<script>alert") && !html.contains("<b>co"),
        "{html}"
    );
    assert!(
        usage.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
        "{usage}"
    );
    let units = table_rows(&html, "units-sold");
    assert_eq!(units.len(), 1);
    assert!(
        units[0].contains("&#60;script&#62;") && units[0].ends_with("|1|1|$1.00"),
        "{units:?}"
    );

    let tokens_page = page(&app, "/tokens", &buyer).await.html;
    let mine = chart(&tokens_page, &format!("usage-{grant}"));
    assert_eq!(chart_total(mine), "3");
    assert!(!tokens_page.contains("<script>alert"));
    // The key is not shown again, and the curl example points at the gateway.
    assert!(!tokens_page.contains(&key));
    assert!(
        tokens_page.contains(&format!("{gateway}/{listing}")),
        "{tokens_page}"
    );
    // The seller's own key never reaches a page.
    assert!(
        !html.contains("sk_live_seller_secret") && !tokens_page.contains("sk_live_seller_secret")
    );

    // Another buyer's tokens page shows none of it.
    let other = app.signup("other@example.com").await;
    let theirs = page(&app, "/tokens", &other).await.html;
    assert!(!theirs.contains("<figure") && !theirs.contains(&listing));
    assert_ledger_clean(&database).await;
    let _ = stop.send(());
}
