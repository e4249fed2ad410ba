//! The authorization matrix: every API route, as every kind of caller, with the
//! exact status each gets. A route added without a row here fails the test.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{Backend, Client, TestApp, create_listing, listing_body, place_order};

crate::dual_backend_tests!(every_route_as_every_caller);

/// Callers, in the order of each row's expected statuses.
const CALLERS: [&str; 5] = ["anonymous", "buyer A", "buyer B", "seller", "admin"];

/// One route: method, documented path, the concrete path to call, the body, and the
/// expected status for [anonymous, A, B, seller, admin].
struct Row {
    method: Method,
    route: &'static str,
    path: String,
    body: Option<Value>,
    expect: [u16; 5],
}

fn row(
    method: Method,
    route: &'static str,
    path: impl Into<String>,
    body: Option<Value>,
    expect: [u16; 5],
) -> Row {
    Row {
        method,
        route,
        path: path.into(),
        body,
        expect,
    }
}

async fn call(client: &Client, token: Option<&str>, row: &Row, caller: usize) -> StatusCode {
    let mut req = client
        .http
        .request(row.method.clone(), format!("{}{}", client.base, row.path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(body) = &row.body {
        // Registration needs a fresh email per caller.
        let body = match body.get("email").and_then(Value::as_str) {
            Some(e) if e.starts_with("new-") => {
                json!({"email": format!("{caller}-{e}"), "password": "correct horse battery"})
            }
            _ => body.clone(),
        };
        req = req.json(&body);
    }
    client.send(req).await.status
}

async fn every_route_as_every_caller(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let a = app.signup("a@example.com").await;
    let b = app.signup("b@example.com").await;
    let seller = app.signup("seller@example.com").await;
    let admin = app.signup("admin@example.com").await;
    sqlx::query("UPDATE users SET is_admin = 1 WHERE email = 'admin@example.com'")
        .execute(app.database().writes())
        .await
        .unwrap();
    let listing = create_listing(&app, &seller, &listing_body("matrix", 100, 1000)).await;
    let dear = create_listing(&app, &seller, &listing_body("dear", 5000, 10)).await;
    let doomed = create_listing(&app, &seller, &listing_body("doomed", 100, 10)).await;
    let a_order = place_order(&app, &a, &listing, 1).await;
    // B buys three units, A one: their balances differ, so a balance endpoint that
    // answered with someone else's debt (or everyone's) would show.
    let b_order = place_order(&app, &b, &listing, 3).await;
    let a_pending = place_order(&app, &a, &dear, 1).await;
    // A never reads B's balance. It holds no ids, only amounts, so compare them: A
    // sees exactly its own 1 x 100 cents, B its own 3 x 100 (before the matrix's rows
    // place more orders).
    for (token, owed) in [(&a, 100), (&b, 300)] {
        let balance = app.get("/api/v1/balance", Some(token)).await.body;
        assert_eq!(
            balance["items"],
            json!([{"currency": "usd", "owed_cents": owed}])
        );
    }
    let tokens = app.get("/api/v1/tokens", Some(&a)).await.body;
    let a_grant = tokens["items"][0]["id"].as_str().unwrap().to_owned();
    // Spare sessions, so the logout rows do not end the sessions the other rows use.
    let spare: Vec<String> = futures::future::join_all(
        [
            "a@example.com",
            "b@example.com",
            "seller@example.com",
            "admin@example.com",
        ]
        .map(|e| app.login(e, "correct horse battery")),
    )
    .await;

    // A's webhook endpoints (a documentation address, never routed) and a delivery.
    let hook = json!({"url": "https://192.0.2.1/hook", "events": ["order.created"]});
    let a_hook = app
        .post("/api/v1/webhook-endpoints", &hook, Some(&a))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let a_doomed_hook = app
        .post("/api/v1/webhook-endpoints", &hook, Some(&a))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let a_delivery = app
        .post(
            &format!("/api/v1/webhook-endpoints/{a_hook}/test"),
            &json!({}),
            Some(&a),
        )
        .await
        .body["delivery_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let own_hook = |status: u16| [401, status, 404, 404, 404];

    let get = Method::GET;
    let post = Method::POST;
    let ok = [200; 5];
    let signed_in = |status: u16| [401, status, status, status, status];
    let seller_id: String =
        sqlx::query_scalar("SELECT id FROM users WHERE email = 'seller@example.com'")
            .fetch_one(app.database().writes())
            .await
            .unwrap();
    let rows = vec![
        row(get.clone(), "/healthz", "/healthz", None, ok),
        row(get.clone(), "/readyz", "/readyz", None, ok),
        row(
            post.clone(),
            "/api/v1/auth/register",
            "/api/v1/auth/register",
            Some(json!({"email": "new-user@example.com"})),
            [201; 5],
        ),
        row(
            post.clone(),
            "/api/v1/auth/login",
            "/api/v1/auth/login",
            Some(json!({"email": "a@example.com", "password": "correct horse battery"})),
            ok,
        ),
        row(
            get.clone(),
            "/api/v1/me",
            "/api/v1/me",
            None,
            signed_in(200),
        ),
        row(
            post.clone(),
            "/api/v1/listings",
            "/api/v1/listings",
            Some(listing_body("more", 100, 5)),
            signed_in(201),
        ),
        row(
            get.clone(),
            "/api/v1/listings",
            "/api/v1/listings",
            None,
            ok,
        ),
        row(
            get.clone(),
            "/api/v1/listings/{id}",
            format!("/api/v1/listings/{listing}"),
            None,
            ok,
        ),
        row(
            Method::PATCH,
            "/api/v1/listings/{id}",
            format!("/api/v1/listings/{listing}"),
            Some(json!({"description": "changed"})),
            [401, 403, 403, 200, 200],
        ),
        row(
            post.clone(),
            "/api/v1/orders",
            "/api/v1/orders",
            Some(json!({"listing_id": listing, "units": 1})),
            // The seller cannot buy their own listing (409 own_listing).
            [401, 201, 201, 409, 201],
        ),
        row(
            get.clone(),
            "/api/v1/orders",
            "/api/v1/orders",
            None,
            signed_in(200),
        ),
        row(
            get.clone(),
            "/api/v1/orders/{id}",
            format!("/api/v1/orders/{a_order}"),
            None,
            [401, 200, 404, 200, 200],
        ),
        row(
            get.clone(),
            "/api/v1/sales",
            "/api/v1/sales",
            None,
            signed_in(200),
        ),
        row(
            get.clone(),
            "/api/v1/balance",
            "/api/v1/balance",
            None,
            signed_in(200),
        ),
        row(
            get.clone(),
            "/api/v1/earnings",
            "/api/v1/earnings",
            None,
            signed_in(200),
        ),
        row(
            post.clone(),
            "/api/v1/balance/settle",
            "/api/v1/balance/settle",
            Some(json!({"currency": "usd"})),
            // The seller bought nothing, so owes nothing (409 nothing_owed).
            [401, 201, 201, 409, 201],
        ),
        row(
            get.clone(),
            "/api/v1/tokens",
            "/api/v1/tokens",
            None,
            signed_in(200),
        ),
        row(
            post.clone(),
            "/api/v1/tokens/{id}/revoke",
            format!("/api/v1/tokens/{a_grant}/revoke"),
            None,
            [401, 403, 404, 200, 200],
        ),
        // Stripe is not configured in this test: the endpoint does not exist for anyone.
        row(
            post.clone(),
            "/api/v1/webhooks/stripe",
            "/api/v1/webhooks/stripe",
            Some(json!({})),
            [404; 5],
        ),
        // Only the buyer may cancel; A goes last so the others see a pending order.
        row(
            post.clone(),
            "/api/v1/orders/{id}/cancel",
            format!("/api/v1/orders/{a_pending}/cancel"),
            None,
            [401, 200, 404, 404, 404],
        ),
        // A key-delivery listing's token has no gateway key: its buyer gets 409.
        row(
            post.clone(),
            "/api/v1/tokens/{id}/roll",
            format!("/api/v1/tokens/{a_grant}/roll"),
            None,
            [401, 409, 404, 403, 403],
        ),
        row(
            get.clone(),
            "/api/v1/tokens/{id}/usage",
            format!("/api/v1/tokens/{a_grant}/usage"),
            None,
            [401, 409, 404, 403, 403],
        ),
        row(
            get.clone(),
            "/api/v1/listings/{id}/usage",
            format!("/api/v1/listings/{listing}/usage"),
            None,
            [401, 403, 403, 409, 409],
        ),
        row(
            Method::DELETE,
            "/api/v1/listings/{id}",
            format!("/api/v1/listings/{doomed}"),
            None,
            [401, 403, 403, 204, 204],
        ),
        // Payouts (issue 13): the caller's own, and two administrator routes (before
        // the logout rows, which end the sessions).
        row(
            get.clone(),
            "/api/v1/earnings/entries",
            "/api/v1/earnings/entries",
            None,
            signed_in(200),
        ),
        row(
            get.clone(),
            "/api/v1/payouts",
            "/api/v1/payouts",
            None,
            signed_in(200),
        ),
        row(
            get.clone(),
            "/api/v1/payouts/account",
            "/api/v1/payouts/account",
            None,
            signed_in(200),
        ),
        // Without Stripe there is no account to create (payouts are simulated).
        row(
            post.clone(),
            "/api/v1/payouts/account",
            "/api/v1/payouts/account",
            None,
            signed_in(404),
        ),
        row(
            post.clone(),
            "/api/v1/admin/sellers/{id}/payouts-hold",
            format!("/api/v1/admin/sellers/{seller_id}/payouts-hold"),
            Some(json!({"held": false})),
            [401, 403, 403, 403, 200],
        ),
        row(
            post.clone(),
            "/api/v1/admin/payouts/run",
            "/api/v1/admin/payouts/run",
            None,
            [401, 403, 403, 403, 200],
        ),
        row(
            post.clone(),
            "/api/v1/webhook-endpoints",
            "/api/v1/webhook-endpoints",
            Some(hook.clone()),
            signed_in(201),
        ),
        row(
            get.clone(),
            "/api/v1/webhook-endpoints",
            "/api/v1/webhook-endpoints",
            None,
            signed_in(200),
        ),
        // Only the owner sees or changes an endpoint; to anyone else it does not exist.
        row(
            get.clone(),
            "/api/v1/webhook-endpoints/{id}",
            format!("/api/v1/webhook-endpoints/{a_hook}"),
            None,
            own_hook(200),
        ),
        row(
            Method::PATCH,
            "/api/v1/webhook-endpoints/{id}",
            format!("/api/v1/webhook-endpoints/{a_hook}"),
            Some(json!({"description": "changed"})),
            own_hook(200),
        ),
        row(
            post.clone(),
            "/api/v1/webhook-endpoints/{id}/rotate-secret",
            format!("/api/v1/webhook-endpoints/{a_hook}/rotate-secret"),
            None,
            own_hook(200),
        ),
        row(
            post.clone(),
            "/api/v1/webhook-endpoints/{id}/test",
            format!("/api/v1/webhook-endpoints/{a_hook}/test"),
            None,
            own_hook(202),
        ),
        row(
            get.clone(),
            "/api/v1/webhook-endpoints/{id}/deliveries",
            format!("/api/v1/webhook-endpoints/{a_hook}/deliveries"),
            None,
            own_hook(200),
        ),
        row(
            post.clone(),
            "/api/v1/webhook-endpoints/deliveries/{id}/retry",
            format!("/api/v1/webhook-endpoints/deliveries/{a_delivery}/retry"),
            None,
            own_hook(202),
        ),
        row(
            Method::DELETE,
            "/api/v1/webhook-endpoints/{id}",
            format!("/api/v1/webhook-endpoints/{a_doomed_hook}"),
            None,
            own_hook(204),
        ),
        row(
            post.clone(),
            "/api/v1/auth/logout",
            "/api/v1/auth/logout",
            None,
            signed_in(204),
        ),
        row(
            post.clone(),
            "/api/v1/auth/logout-all",
            "/api/v1/auth/logout-all",
            None,
            signed_in(204),
        ),
    ];

    // Every documented operation has a row, and every row is a documented operation.
    let (_, doc) = udam::http::routes_and_doc();
    let doc = serde_json::to_value(&doc).unwrap();
    let documented: BTreeSet<String> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |m| format!("{} {path}", m.to_uppercase()))
        })
        .collect();
    let covered: BTreeSet<String> = rows
        .iter()
        .map(|r| format!("{} {}", r.method, r.route))
        .collect();
    assert_eq!(
        documented, covered,
        "the matrix must list exactly the documented routes"
    );

    let main_tokens = [
        None,
        Some(a.as_str()),
        Some(b.as_str()),
        Some(seller.as_str()),
        Some(admin.as_str()),
    ];
    let mut failures = Vec::new();
    for row in &rows {
        // The cancel row runs A last; everything else in caller order.
        let order: Vec<usize> = if row.route.ends_with("/cancel") {
            vec![0, 2, 3, 4, 1]
        } else {
            (0..5).collect()
        };
        for caller in order {
            let token = if row.route == "/api/v1/auth/logout" {
                (caller > 0).then(|| spare[caller - 1].as_str())
            } else {
                main_tokens[caller]
            };
            let got = call(&app.client, token, row, caller).await;
            if got.as_u16() != row.expect[caller] {
                failures.push(format!(
                    "{} {} as {}: expected {}, got {}",
                    row.method, row.route, CALLERS[caller], row.expect[caller], got
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "authorization matrix mismatches:\n{}",
        failures.join("\n")
    );

    // A never reads B's orders or tokens (checked with fresh sessions).
    let a2 = app.login("a@example.com", "correct horse battery").await;
    let orders = app
        .get("/api/v1/orders?limit=100", Some(&a2))
        .await
        .body
        .to_string();
    assert!(orders.contains(a_order.as_str()) && !orders.contains(b_order.as_str()));
    let tokens = app.get("/api/v1/tokens?limit=100", Some(&a2)).await.body;
    assert!(!tokens.to_string().contains(b_order.as_str()));

    let revoked = tokens["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == a_grant.as_str())
        .unwrap();
    assert_eq!(revoked["status"], "revoked");
}
