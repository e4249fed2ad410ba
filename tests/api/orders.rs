//! Orders: instant issuance, checkout reservations, validation, visibility, tokens.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{
    Backend, TestApp, create_listing, listing_body, order, place_order, units_left,
};

crate::dual_backend_tests!(
    small_order_is_fulfilled_at_once_and_owed,
    large_order_is_paid_through_the_dev_checkout,
    cancel_and_dev_cancel_release_units,
    unpaid_cap_sends_orders_to_checkout,
    bad_orders_change_nothing,
    orders_are_visible_to_buyer_and_seller_only,
    tokens_open_keys_and_revocation_is_restricted,
    sellers_cannot_buy_their_own_listing,
    platform_fee_splits_each_instant_sale,
    balance_is_read_from_the_ledger,
);

async fn small_order_is_fulfilled_at_once_and_owed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let seller = app.signup("seller@example.com").await;
    let buyer = app.signup("buyer@example.com").await;
    let listing = create_listing(&app, &seller, &listing_body("weather", 100, 10)).await;
    let r = order(&app, &buyer, &listing, 2).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["payment_requires_confirmation"], false);
    let o = &r.body["order"];
    assert_eq!(o["status"], "fulfilled");
    assert_eq!(o["payment_status"], "deferred");
    assert_eq!(o["total_cents"], 200);
    assert_eq!(o["units"], 2);
    assert!(o["checkout_url"].is_null());
    assert_eq!(units_left(&app, &listing).await, 8);

    let tokens = app.get("/api/v1/tokens", Some(&buyer)).await;
    assert_eq!(tokens.status, StatusCode::OK);
    let items = tokens.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["access_token"], "sk_weather_secret_0123456789");
    assert_eq!(items[0]["status"], "active");
    assert_eq!(items[0]["order_id"], o["id"]);
    assert_eq!(items[0]["service_name"], "weather");
    assert_eq!(items[0]["units"], 2);

    let balance = app.get("/api/v1/balance", Some(&buyer)).await;
    assert_eq!(
        balance.body["items"],
        json!([{"currency": "usd", "owed_cents": 200}])
    );
    let seller_balance = app.get("/api/v1/balance", Some(&seller)).await;
    assert_eq!(seller_balance.body["items"], json!([]));
    app.assert_ledger_clean().await;
}

async fn large_order_is_paid_through_the_dev_checkout(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let seller = app.signup("seller@example.com").await;
    let buyer = app.signup("buyer@example.com").await;
    let listing = create_listing(&app, &seller, &listing_body("stocks", 1000, 5)).await;
    let r = order(&app, &buyer, &listing, 2).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.body["payment_requires_confirmation"], true);
    let o = &r.body["order"];
    assert_eq!(o["status"], "pending_payment");
    assert_eq!(o["payment_status"], "unpaid");
    assert!(o["expires_at"].as_str().is_some());
    let id = o["id"].as_str().unwrap();
    let url = r.body["checkout_url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("{}/dev/checkout/dck_", app.base)) && !url.contains(id),
        "the checkout URL carries its own token: {url}"
    );
    assert_eq!(units_left(&app, &listing).await, 3, "units are reserved");
    assert!(
        app.get("/api/v1/tokens", Some(&buyer)).await.body["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    let page = app.http.get(url).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("Simulation"),
        "clearly labelled as a simulation"
    );
    assert!(html.contains("$20.00"));

    let forged = app
        .http
        .post(format!("{url}/pay"))
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(
        forged.status(),
        StatusCode::FORBIDDEN,
        "a cross-site form cannot pay"
    );
    let o = app
        .get(&format!("/api/v1/orders/{id}"), Some(&buyer))
        .await
        .body;
    assert_eq!(o["status"], "pending_payment");

    let paid = app.http.post(format!("{url}/pay")).send().await.unwrap();
    assert_eq!(paid.status(), StatusCode::SEE_OTHER);
    let o = app
        .get(&format!("/api/v1/orders/{id}"), Some(&buyer))
        .await
        .body;
    assert_eq!(o["status"], "fulfilled");
    assert_eq!(o["payment_status"], "paid");
    let tokens = app.get("/api/v1/tokens", Some(&buyer)).await.body;
    assert_eq!(
        tokens["items"][0]["access_token"],
        "sk_stocks_secret_0123456789"
    );
    assert_eq!(units_left(&app, &listing).await, 3);
    // Paying twice changes nothing.
    app.http.post(format!("{url}/pay")).send().await.unwrap();
    assert_eq!(
        app.get("/api/v1/tokens", Some(&buyer)).await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        app.get("/api/v1/balance", Some(&buyer)).await.body["items"],
        json!([])
    );
}

async fn cancel_and_dev_cancel_release_units(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let seller = app.signup("seller@example.com").await;
    let buyer = app.signup("buyer@example.com").await;
    let other = app.signup("other@example.com").await;
    let listing = create_listing(&app, &seller, &listing_body("big", 2000, 4)).await;
    let first = place_order(&app, &buyer, &listing, 1).await;
    let second = place_order(&app, &buyer, &listing, 2).await;
    assert_eq!(units_left(&app, &listing).await, 1);

    let r = app
        .post(
            &format!("/api/v1/orders/{first}/cancel"),
            &json!({}),
            Some(&other),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "only the buyer cancels");
    let r = app
        .post(
            &format!("/api/v1/orders/{first}/cancel"),
            &json!({}),
            Some(&buyer),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["status"], "cancelled");
    assert_eq!(units_left(&app, &listing).await, 2);
    let again = app
        .post(
            &format!("/api/v1/orders/{first}/cancel"),
            &json!({}),
            Some(&buyer),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.error_code(), "order_not_pending");
    assert_eq!(
        units_left(&app, &listing).await,
        2,
        "units come back only once"
    );

    let checkout = app
        .get(&format!("/api/v1/orders/{second}"), Some(&buyer))
        .await
        .body["checkout_url"]
        .as_str()
        .expect("the buyer's checkout")
        .to_owned();
    let cancelled = app
        .http
        .post(format!("{checkout}/cancel"))
        .send()
        .await
        .unwrap();
    assert_eq!(cancelled.status(), StatusCode::SEE_OTHER);
    assert_eq!(units_left(&app, &listing).await, 4);
    let o = app
        .get(&format!("/api/v1/orders/{second}"), Some(&buyer))
        .await
        .body;
    assert_eq!(o["status"], "cancelled");
    assert!(o["checkout_url"].is_null());
    app.assert_ledger_clean().await;
}

async fn unpaid_cap_sends_orders_to_checkout(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let seller = app.signup("seller@example.com").await;
    let buyer = app.signup("buyer@example.com").await;
    let listing = create_listing(&app, &seller, &listing_body("cap", 500, 100)).await;
    for _ in 0..4 {
        let r = order(&app, &buyer, &listing, 1).await;
        assert_eq!(r.body["payment_requires_confirmation"], false);
    }
    let fifth = order(&app, &buyer, &listing, 1).await;
    assert_eq!(fifth.status, StatusCode::CREATED);
    assert_eq!(
        fifth.body["payment_requires_confirmation"], true,
        "2000 owed: pay first"
    );
    assert_eq!(fifth.body["order"]["status"], "pending_payment");
    let balance = app.get("/api/v1/balance", Some(&buyer)).await;
    assert_eq!(
        balance.body["items"],
        json!([{"currency": "usd", "owed_cents": 2000}])
    );
    app.assert_ledger_clean().await;
}

async fn bad_orders_change_nothing(backend: Backend) {
    let app = TestApp::spawn_with(backend, &["--max-units-per-order", "10"]).await;
    let seller = app.signup("seller@example.com").await;
    let buyer = app.signup("buyer@example.com").await;
    let listing = create_listing(&app, &seller, &listing_body("v", 100, 5)).await;
    for (units, field) in [(0, "units"), (-1, "units"), (11, "units")] {
        let r = order(&app, &buyer, &listing, units).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(r.body["error"]["field"], field);
    }
    let r = app
        .post(
            "/api/v1/orders",
            &json!({"listing_id": listing, "units": "2"}),
            Some(&buyer),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = order(&app, &buyer, "lst_missing", 1).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // Ids PostgreSQL would refuse in a statement other purchases share.
    for odd in ["lst_\u{0}", "lst_a\u{0}b", "", "lst_é"] {
        let r = order(&app, &buyer, odd, 1).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{odd:?}: {:?}", r.body);
    }
    let r = order(&app, &buyer, &listing, 6).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.error_code(), "insufficient_units");
    assert_eq!(
        order(&app, &buyer, &listing, 1).await.status,
        StatusCode::CREATED
    );
    let path = format!("/api/v1/listings/{listing}");
    app.patch(&path, &json!({"status": "paused"}), Some(&seller))
        .await;
    let r = order(&app, &buyer, &listing, 1).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.error_code(), "listing_unavailable");
    app.delete(&path, Some(&seller)).await;
    assert_eq!(
        order(&app, &buyer, &listing, 1).await.error_code(),
        "listing_unavailable"
    );
    // A price whose orders or sums could overflow is refused when listed.
    let r = app
        .post(
            "/api/v1/listings",
            &listing_body("pricey", 4_000_000_000_000_000_000, 5),
            Some(&seller),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    assert_eq!(r.body["error"]["field"], "price_cents");
    assert_eq!(
        order(&app, "", &listing, 1).await.status,
        StatusCode::UNAUTHORIZED
    );
    let orders = app
        .scalar("SELECT COUNT(*) FROM orders WHERE buyer_id <> $1", "")
        .await;
    assert_eq!(orders, 1, "only the one valid order exists");
    app.assert_ledger_clean().await;
}

async fn orders_are_visible_to_buyer_and_seller_only(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let seller = app.signup("seller@example.com").await;
    let a = app.signup("a@example.com").await;
    let b = app.signup("b@example.com").await;
    let listing = create_listing(&app, &seller, &listing_body("vis", 100, 50)).await;
    let mut mine = Vec::new();
    for _ in 0..3 {
        mine.push(place_order(&app, &a, &listing, 1).await);
    }
    order(&app, &b, &listing, 1).await;
    let path = format!("/api/v1/orders/{}", mine[0]);
    assert_eq!(app.get(&path, Some(&a)).await.status, StatusCode::OK);
    assert_eq!(app.get(&path, Some(&seller)).await.status, StatusCode::OK);
    assert_eq!(app.get(&path, Some(&b)).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get(&path, None).await.status, StatusCode::UNAUTHORIZED);

    let ids = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let page1 = app.get("/api/v1/orders?limit=2", Some(&a)).await.body;
    let cursor = page1["next_cursor"].as_str().unwrap();
    let page2 = app
        .get(&format!("/api/v1/orders?limit=2&cursor={cursor}"), Some(&a))
        .await
        .body;
    assert!(page2["next_cursor"].is_null());
    let mut all = ids(&page1);
    all.extend(ids(&page2));
    mine.reverse();
    assert_eq!(all, mine, "A's orders, newest first, nothing of B's");
    let sales = app.get("/api/v1/sales", Some(&seller)).await.body;
    assert_eq!(sales["items"].as_array().unwrap().len(), 4);
    assert!(
        app.get("/api/v1/sales", Some(&a)).await.body["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let b_tokens = app.get("/api/v1/tokens", Some(&b)).await.body;
    assert_eq!(
        b_tokens["items"].as_array().unwrap().len(),
        1,
        "B sees only B's token"
    );
    app.assert_ledger_clean().await;
}

async fn tokens_open_keys_and_revocation_is_restricted(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let seller = app.signup("seller@example.com").await;
    let buyer = app.signup("buyer@example.com").await;
    let stranger = app.signup("stranger@example.com").await;
    let admin = app.signup("admin@example.com").await;
    sqlx::query("UPDATE users SET is_admin = 1 WHERE email = 'admin@example.com'")
        .execute(app.database().writes())
        .await
        .unwrap();
    let listing = create_listing(&app, &seller, &listing_body("keys", 100, 50)).await;
    for _ in 0..3 {
        order(&app, &buyer, &listing, 1).await;
    }
    let audits_before = app
        .scalar(
            "SELECT COUNT(*) FROM audit_log WHERE action = $1",
            "open_grants",
        )
        .await;
    let tokens = app.get("/api/v1/tokens", Some(&buyer)).await.body;
    let audits_after = app
        .scalar(
            "SELECT COUNT(*) FROM audit_log WHERE action = $1",
            "open_grants",
        )
        .await;
    assert_eq!(
        audits_after - audits_before,
        1,
        "one audit record per request, not per token"
    );
    let ids: Vec<String> = tokens["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 3);
    let subject: String = {
        use sqlx::Row;
        sqlx::query("SELECT subject FROM audit_log WHERE action = 'open_grants'")
            .fetch_one(app.database().writes())
            .await
            .unwrap()
            .try_get(0)
            .unwrap()
    };
    for id in &ids {
        assert!(subject.contains(id.as_str()));
    }
    assert!(
        !subject.contains("sk_keys"),
        "the audit never holds the secret"
    );

    let revoke = |token: String, id: String| {
        let app = app.client.clone();
        async move {
            app.post(
                &format!("/api/v1/tokens/{id}/revoke"),
                &json!({}),
                Some(&token),
            )
            .await
        }
    };
    assert_eq!(
        revoke(buyer.clone(), ids[0].clone()).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        revoke(stranger.clone(), ids[0].clone()).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        revoke(seller.clone(), "tok_nope".into()).await.status,
        StatusCode::NOT_FOUND
    );
    let r = revoke(seller.clone(), ids[0].clone()).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["status"], "revoked");
    assert_eq!(
        revoke(admin.clone(), ids[1].clone()).await.status,
        StatusCode::OK
    );
    let after = app.get("/api/v1/tokens", Some(&buyer)).await.body;
    for t in after["items"].as_array().unwrap() {
        if t["id"] == ids[0] || t["id"] == ids[1] {
            assert_eq!(t["status"], "revoked");
            assert!(t["access_token"].is_null());
        } else {
            assert_eq!(t["status"], "active");
            assert_eq!(t["access_token"], "sk_keys_secret_0123456789");
        }
    }
    let revocations = app
        .scalar(
            "SELECT COUNT(*) FROM audit_log WHERE action = $1",
            "revoke_grant",
        )
        .await;
    assert_eq!(revocations, 2);
    app.assert_ledger_clean().await;
}

/// Defect 7: a seller buying their own listing is refused with 409 `own_listing`, on
/// every path (on PostgreSQL the batch leaves the seller out and the one-at-a-time
/// path refuses), with or without an Idempotency-Key, and nothing changes.
async fn sellers_cannot_buy_their_own_listing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let seller = app.signup("seller@example.com").await;
    let cheap = create_listing(&app, &seller, &listing_body("mine", 100, 10)).await;
    let dear = create_listing(&app, &seller, &listing_body("dear", 5000, 10)).await;
    for listing in [&cheap, &dear] {
        let r = order(&app, &seller, listing, 1).await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.body);
        assert_eq!(r.error_code(), "own_listing");
        assert_eq!(units_left(&app, listing).await, 10);
    }
    let keyed = app
        .send(
            app.http
                .post(format!("{}/api/v1/orders", app.base))
                .bearer_auth(&seller)
                .header("idempotency-key", "own-1")
                .json(&json!({"listing_id": cheap, "units": 1})),
        )
        .await;
    assert_eq!(keyed.error_code(), "own_listing");
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM orders WHERE seller_id <> $1", "")
            .await,
        0
    );
    assert_eq!(
        app.get("/api/v1/balance", Some(&seller)).await.body["items"],
        json!([])
    );
    app.assert_ledger_clean().await;
}

/// The balance of one ledger account, as people read it.
async fn ledger_balance(app: &TestApp, owner: &str, kind: udam::ledger::AccountKind) -> i64 {
    let mut conn = app.database().pool().acquire().await.unwrap();
    udam::ledger::balance(&mut conn, &udam::ledger::Account::new(owner, kind, "usd"))
        .await
        .unwrap()
}

/// `--platform-fee-bps 250`: each instant sale is split, fee rounded down, in the same
/// transaction as the order; the buyer owes the whole total.
async fn platform_fee_splits_each_instant_sale(backend: Backend) {
    use udam::ledger::AccountKind;
    let app = TestApp::spawn_with(backend, &["--platform-fee-bps", "250"]).await;
    let seller = app.signup("seller@example.com").await;
    let buyer = app.signup("buyer@example.com").await;
    let listing = create_listing(&app, &seller, &listing_body("fee", 199, 10)).await;
    // 2 × 1.99 = 3.98; 2.5 % is 0.0995: the fee is 0.09, the seller gets 3.89.
    let r = order(&app, &buyer, &listing, 2).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let buyer_id = r.body["order"]["buyer_id"].as_str().unwrap().to_owned();
    let seller_id = r.body["order"]["seller_id"].as_str().unwrap().to_owned();
    assert_eq!(
        ledger_balance(&app, &buyer_id, AccountKind::BuyerReceivable).await,
        398
    );
    assert_eq!(
        ledger_balance(&app, &seller_id, AccountKind::SellerPending).await,
        389
    );
    assert_eq!(
        ledger_balance(&app, "platform", AccountKind::PlatformFees).await,
        9
    );
    assert_eq!(
        app.get("/api/v1/balance", Some(&buyer)).await.body["items"],
        json!([{"currency": "usd", "owed_cents": 398}])
    );
    app.assert_ledger_clean().await;
}

/// `/api/v1/balance` is the journal's figure, not the old `balances` table's.
async fn balance_is_read_from_the_ledger(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let seller = app.signup("seller@example.com").await;
    let buyer = app.signup("buyer@example.com").await;
    let listing = create_listing(&app, &seller, &listing_body("led", 150, 10)).await;
    let r = order(&app, &buyer, &listing, 2).await;
    let buyer_id = r.body["order"]["buyer_id"].as_str().unwrap().to_owned();
    sqlx::query("UPDATE balances SET owed_cents = 999 WHERE user_id = $1")
        .bind(&buyer_id)
        .execute(app.database().writes())
        .await
        .unwrap();
    assert_eq!(
        app.get("/api/v1/balance", Some(&buyer)).await.body["items"],
        json!([{"currency": "usd", "owed_cents": 300}])
    );
}
