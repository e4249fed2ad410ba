//! Stripe Connect onboarding against the fake: the account created once, the
//! onboarding link and its page back to the dashboard, `account.updated` (Connect
//! secret, bound to the account on record, order-proof), Stripe down, the web page,
//! and the simulated provider without Stripe.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::stripe::{
    CONNECT_SECRET, WEBHOOK_SECRET, account_of, deliver_with, onboard, spawn, start_onboarding,
};
use crate::common::{Backend, TestApp, TestDb, fixtures};
use crate::fake_stripe::Failure;

crate::dual_backend_tests!(
    onboarding_round_trip_with_account_updated,
    account_events_are_bound_to_the_account_on_record,
    stripe_down_during_onboarding_changes_nothing,
    the_payouts_page_hands_off_to_stripe_and_back,
    without_stripe_payouts_are_simulated,
    the_upgrade_carries_connected_accounts_forward,
);

async fn onboarding_round_trip_with_account_updated(backend: Backend) {
    let (app, stripe) = spawn(TestDb::new(backend).await, &[]).await;
    let seller = app.signup("seller@example.com").await;
    let before = account_of(&app, &seller).await;
    assert_eq!(
        before,
        json!({"provider": "stripe", "simulated": false, "account": null})
    );

    let r = app
        .post("/api/v1/payouts/account", &json!({}), Some(&seller))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let account = r.body["account"]["id"].as_str().unwrap().to_owned();
    assert!(account.starts_with("acct_"));
    assert_eq!(r.body["account"]["payouts_enabled"], false);
    assert!(
        r.body["account"]["requirements_due"]
            .as_array()
            .unwrap()
            .contains(&json!("external_account"))
    );
    let url = r.body["onboarding_url"].as_str().unwrap().to_owned();
    assert!(url.starts_with(&stripe.base_url()), "{url}");
    let requests = stripe.requests();
    let created = requests.iter().find(|r| r.path == "/v1/accounts").unwrap();
    assert_eq!(created.form_value("type"), Some("express"));
    assert_eq!(created.form_value("email"), Some("seller@example.com"));
    assert!(created.idempotency_key.is_some());
    let link = requests
        .iter()
        .find(|r| r.path == "/v1/account_links")
        .unwrap();
    assert_eq!(link.form_value("type"), Some("account_onboarding"));
    assert_eq!(link.form_value("account"), Some(account.as_str()));
    let back = format!("{}/dashboard/payouts?onboarding=return", app.base);
    assert_eq!(link.form_value("return_url"), Some(back.as_str()));
    assert!(
        link.form_value("refresh_url")
            .unwrap()
            .ends_with("/dashboard/payouts?onboarding=refresh")
    );

    // A second click: the same account, a new link.
    assert_eq!(start_onboarding(&app, &seller).await, account);
    assert_eq!(stripe.account_count(), 1);

    // The seller fills in Stripe's form (its page on the fake) and is sent back.
    let page = app.http.get(&url).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("complete-onboarding"));
    let done = app.http.post(&url).send().await.unwrap();
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert_eq!(done.headers()["location"], back.as_str());
    // Until Stripe's event arrives, UDAM still knows the old state.
    assert_eq!(
        account_of(&app, &seller).await["account"]["payouts_enabled"],
        false
    );
    let event = stripe.account_updated_event(&account);
    let r = deliver_with(&app, &event, CONNECT_SECRET).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["outcome"], "account_updated");
    let now = account_of(&app, &seller).await;
    assert_eq!(now["account"]["id"], account.as_str());
    assert_eq!(now["account"]["payouts_enabled"], true);
    assert_eq!(now["account"]["charges_enabled"], true);
    assert_eq!(now["account"]["details_submitted"], true);
    assert_eq!(now["account"]["requirements_due"], json!([]));
    // The same delivery again changes nothing.
    let r = deliver_with(&app, &event, CONNECT_SECRET).await;
    assert_eq!(r.body["outcome"], "duplicate");
    // The platform endpoint's secret verifies too; a wrong one does not.
    let r = deliver_with(
        &app,
        &stripe.account_updated_event(&account),
        WEBHOOK_SECRET,
    )
    .await;
    assert_eq!(r.body["outcome"], "account_updated");
    let r = deliver_with(&app, &stripe.account_updated_event(&account), "whsec_other").await;
    assert_eq!(
        (r.status, r.error_code()),
        (StatusCode::BAD_REQUEST, "invalid_signature")
    );
    // Another seller sees only their own (absent) account.
    let other = app.signup("other@example.com").await;
    assert_eq!(account_of(&app, &other).await["account"], Value::Null);
    app.assert_ledger_clean().await;
}

/// An event with its fields replaced, under a new event id.
fn altered(event: &str, tag: &str, change: impl FnOnce(&mut Value)) -> String {
    let mut v: Value = serde_json::from_str(event).unwrap();
    v["id"] = json!(format!("{}_{tag}", v["id"].as_str().unwrap()));
    change(&mut v);
    v.to_string()
}

async fn account_events_are_bound_to_the_account_on_record(backend: Backend) {
    let (app, stripe) = spawn(TestDb::new(backend).await, &[]).await;
    let seller = app.signup("seller@example.com").await;
    let account = onboard(&app, &stripe, &seller).await;
    let current = stripe.account_updated_event(&account);

    // Stripe sends events out of order: an older one (payouts not yet enabled)
    // arriving late changes nothing.
    let older = altered(&current, "older", |v| {
        v["created"] = json!(v["created"].as_i64().unwrap() - 60);
        v["data"]["object"]["payouts_enabled"] = json!(false);
    });
    let r = deliver_with(&app, &older, CONNECT_SECRET).await;
    assert_eq!(r.body["outcome"], "ignored", "{:?}", r.body);
    assert_eq!(
        account_of(&app, &seller).await["account"]["payouts_enabled"],
        true
    );
    // A newer one applies: Stripe disabled payouts, and needs a document.
    let newer = altered(&current, "newer", |v| {
        v["created"] = json!(v["created"].as_i64().unwrap() + 60);
        v["data"]["object"]["payouts_enabled"] = json!(false);
        v["data"]["object"]["requirements"]["currently_due"] =
            json!(["individual.verification.document"]);
    });
    let r = deliver_with(&app, &newer, CONNECT_SECRET).await;
    assert_eq!(r.body["outcome"], "account_updated");
    let now = account_of(&app, &seller).await;
    assert_eq!(now["account"]["payouts_enabled"], false);
    assert_eq!(
        now["account"]["requirements_due"],
        json!(["individual.verification.document"])
    );

    // An account not on record: stored with its reason, 2xx, nothing changed.
    let unknown = altered(&current, "unknown", |v| {
        v["account"] = json!("acct_unknown");
        v["data"]["object"]["id"] = json!("acct_unknown");
        v["created"] = json!(v["created"].as_i64().unwrap() + 120);
    });
    let r = deliver_with(&app, &unknown, CONNECT_SECRET).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["outcome"], "mismatched");
    // An event on one account carrying another: refused the same way.
    let crossed = altered(&current, "crossed", |v| {
        v["account"] = json!("acct_elsewhere");
        v["created"] = json!(v["created"].as_i64().unwrap() + 120);
        v["data"]["object"]["payouts_enabled"] = json!(true);
    });
    let r = deliver_with(&app, &crossed, CONNECT_SECRET).await;
    assert_eq!(r.body["outcome"], "mismatched");
    assert_eq!(
        account_of(&app, &seller).await["account"]["payouts_enabled"],
        false
    );
    let stored: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM webhook_events WHERE mismatch IS NOT NULL AND event_type = 'account.updated'",
    )
    .fetch_one(app.database().pool())
    .await
    .unwrap();
    assert_eq!(stored, 2, "both kept for an operator");
    app.assert_ledger_clean().await;
}

async fn stripe_down_during_onboarding_changes_nothing(backend: Backend) {
    let (app, stripe) = spawn(TestDb::new(backend).await, &[]).await;
    let seller = app.signup("seller@example.com").await;
    stripe.set_failure(Some(Failure::ServerError));
    let r = app
        .post("/api/v1/payouts/account", &json!({}), Some(&seller))
        .await;
    assert_eq!(
        (r.status, r.error_code()),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "payment_provider_unavailable"
        )
    );
    assert!(!r.body.to_string().contains(super::stripe::SECRET_KEY));
    assert_eq!(account_of(&app, &seller).await["account"], Value::Null);
    // The account was created but its answer lost: the retry gets the same one.
    stripe.set_failure(Some(Failure::LostResponse));
    let r = app
        .post("/api/v1/payouts/account", &json!({}), Some(&seller))
        .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    stripe.set_failure(None);
    start_onboarding(&app, &seller).await;
    assert_eq!(stripe.account_count(), 1, "one account despite the retries");
    app.assert_ledger_clean().await;
}

async fn the_payouts_page_hands_off_to_stripe_and_back(backend: Backend) {
    use crate::web::{csrf, get, post, session};
    let (app, stripe) = spawn(TestDb::new(backend).await, &[]).await;
    let seller = app.signup("seller@example.com").await;
    stripe.deliver_events_to(
        &format!("{}/api/v1/webhooks/stripe", app.base),
        CONNECT_SECRET,
    );
    let cookie = session(&seller);
    let page = get(&app, "/dashboard/payouts", Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.html.contains("id=\"setup-payouts\""), "{}", page.html);
    assert!(page.html.contains("id=\"no-account\""));
    // Without the session's CSRF token the button does nothing.
    let refused = post(&app, "/dashboard/payouts/onboard", Some(&cookie), &[]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(stripe.account_count(), 0);
    let handoff = post(
        &app,
        "/dashboard/payouts/onboard",
        Some(&cookie),
        &[("csrf", &csrf(&seller))],
    )
    .await;
    assert_eq!(handoff.status, StatusCode::OK, "{}", handoff.html);
    let marker = "id=\"continue\" href=\"";
    let start = handoff.html.find(marker).expect("a link to Stripe") + marker.len();
    let url = handoff.html[start..]
        .split('"')
        .next()
        .unwrap()
        .replace("&#x2f;", "/")
        .replace("&#x3a;", ":");
    assert!(url.starts_with(&stripe.base_url()), "{url}");
    // Stripe's form, completed: back to the page, with the event delivered.
    let done = app.http.post(&url).send().await.unwrap();
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    let back = done.headers()["location"].to_str().unwrap().to_owned();
    let path = back.strip_prefix(&app.base).expect("back to this server");
    let page = get(&app, path, Some(&cookie)).await;
    assert!(page.html.contains("id=\"onboarding-back\""));
    assert!(page.html.contains("Enabled"), "{}", page.html);
    assert_eq!(
        account_of(&app, &seller).await["account"]["payouts_enabled"],
        true
    );
    app.assert_ledger_clean().await;
}

async fn without_stripe_payouts_are_simulated(backend: Backend) {
    use crate::web::{csrf, get, post, session};
    let app = TestApp::spawn(backend).await;
    let seller = app.signup("seller@example.com").await;
    assert_eq!(
        account_of(&app, &seller).await,
        json!({"provider": "dev", "simulated": true, "account": null})
    );
    let r = app
        .post("/api/v1/payouts/account", &json!({}), Some(&seller))
        .await;
    assert_eq!(
        (r.status, r.error_code()),
        (StatusCode::NOT_FOUND, "not_found")
    );
    let r = app.post("/api/v1/payouts/account", &json!({}), None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let cookie = session(&seller);
    let page = get(&app, "/dashboard/payouts", Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.html.contains("id=\"payouts-simulated\""));
    assert!(!page.html.contains("id=\"setup-payouts\""));
    let r = post(
        &app,
        "/dashboard/payouts/onboard",
        Some(&cookie),
        &[("csrf", &csrf(&seller))],
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.html.contains("simulated"));
    // Signed out, the page sends the browser to sign in.
    let page = get(&app, "/dashboard/payouts", None).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    app.assert_ledger_clean().await;
}

/// A database at the schema before migration 0011 with a connected account in it,
/// then the server (which applies 0011): the account is kept, and the first event
/// about it applies.
async fn the_upgrade_carries_connected_accounts_forward(backend: Backend) {
    let db = TestDb::new(backend).await;
    {
        // The schema before 0011.
        let old = fixtures::connect_migrated_to(&db.url, 10).await;
        let pool = old.writes();
        fixtures::insert_users(pool, &["usr_old"]).await;
        sqlx::query(
            "INSERT INTO connected_accounts (seller_id, stripe_account_id, payouts_enabled, \
             requirements_due, created_at, updated_at) \
             VALUES ('usr_old', 'acct_old', 0, 'external_account', 5, 5)",
        )
        .execute(pool)
        .await
        .expect("connected account");
        old.close().await;
    }
    let (app, _stripe) = spawn(db, &[]).await;
    let state_at: i64 = sqlx::query_scalar(
        "SELECT state_at FROM connected_accounts WHERE stripe_account_id = 'acct_old'",
    )
    .fetch_one(app.database().writes())
    .await
    .expect("the account is kept");
    assert_eq!(state_at, 0);
    let event = crate::fake_stripe::event_json(
        "account.updated",
        json!({"id": "acct_old", "object": "account", "charges_enabled": true,
               "payouts_enabled": true, "details_submitted": true,
               "requirements": {"currently_due": []}}),
    );
    let r = deliver_with(&app, &event, CONNECT_SECRET).await;
    assert_eq!(r.body["outcome"], "account_updated", "{:?}", r.body);
    let enabled: i64 = sqlx::query_scalar(
        "SELECT payouts_enabled FROM connected_accounts WHERE seller_id = 'usr_old'",
    )
    .fetch_one(app.database().writes())
    .await
    .unwrap();
    assert_eq!(enabled, 1);
    app.assert_ledger_clean().await;
}
