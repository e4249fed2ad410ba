//! Shared steps of the Stripe Connect payout tests: a server configured for Stripe
//! (platform and Connect webhook secrets) against the fake, sellers onboarded
//! through the API and `account.updated`, and sales paid through Stripe Checkout.

use reqwest::StatusCode;
use serde_json::Value;

use crate::common::{Client, Resp, TestApp, TestDb, order};
use crate::fake_stripe::FakeStripe;

/// The fake's API key.
pub const SECRET_KEY: &str = "sk_test_udam_connect";
/// The platform endpoint's signing secret.
pub const WEBHOOK_SECRET: &str = "whsec_udam_platform";
/// The Connect endpoint's signing secret.
pub const CONNECT_SECRET: &str = "whsec_udam_connect";

/// A server on Stripe (the fake) with `extra` settings.
pub async fn spawn(db: TestDb, extra: &[&str]) -> (TestApp, FakeStripe) {
    let stripe = FakeStripe::start(SECRET_KEY).await;
    let base = stripe.base_url();
    let mut args = vec![
        "--stripe-secret-key",
        SECRET_KEY,
        "--stripe-webhook-secret",
        WEBHOOK_SECRET,
        "--stripe-connect-webhook-secret",
        CONNECT_SECRET,
        "--stripe-api-base",
        &base,
    ];
    args.extend_from_slice(extra);
    let app = TestApp::spawn_on(db, &args).await;
    (app, stripe)
}

/// The arguments a `udam` child process needs to reach the same fake.
pub fn process_args(stripe: &FakeStripe) -> Vec<String> {
    vec![
        "--stripe-secret-key".into(),
        SECRET_KEY.into(),
        "--stripe-webhook-secret".into(),
        WEBHOOK_SECRET.into(),
        "--stripe-api-base".into(),
        stripe.base_url(),
    ]
}

/// Delivers `body` to the webhook endpoint signed with `secret`.
pub async fn deliver_with(app: &Client, body: &str, secret: &str) -> Resp {
    let signature = FakeStripe::signed_header(body, secret);
    app.send(
        app.http
            .post(format!("{}/api/v1/webhooks/stripe", app.base))
            .header("stripe-signature", signature)
            .header("content-type", "application/json")
            .body(body.to_owned()),
    )
    .await
}

/// Delivers a platform event and checks its outcome.
pub async fn deliver(app: &Client, body: &str, outcome: &str) {
    let r = deliver_with(app, body, WEBHOOK_SECRET).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["outcome"], outcome, "{body}");
}

/// The seller starts onboarding through the API; returns the account id.
pub async fn start_onboarding(app: &Client, seller: &str) -> String {
    let r = app
        .post(
            "/api/v1/payouts/account",
            &serde_json::json!({}),
            Some(seller),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    r.body["account"]["id"]
        .as_str()
        .expect("account id")
        .to_owned()
}

/// The seller onboards completely: account created, form completed at Stripe,
/// `account.updated` delivered by the Connect endpoint. Returns the account id.
pub async fn onboard(app: &Client, stripe: &FakeStripe, seller: &str) -> String {
    let account = start_onboarding(app, seller).await;
    stripe.complete_onboarding(&account);
    let r = deliver_with(app, &stripe.account_updated_event(&account), CONNECT_SECRET).await;
    assert_eq!(r.body["outcome"], "account_updated", "{:?}", r.body);
    account
}

/// The caller's payout account as the API shows it.
pub async fn account_of(app: &Client, token: &str) -> Value {
    let r = app.get("/api/v1/payouts/account", Some(token)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.body
}

/// Buys one unit of `listing` (priced above the instant limit) and pays it through
/// Stripe Checkout; returns the PaymentIntent.
pub async fn buy_through_stripe(
    app: &TestApp,
    stripe: &FakeStripe,
    buyer: &str,
    listing: &str,
) -> String {
    let r = order(app, buyer, listing, 1).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let id = r.body["order"]["id"].as_str().expect("order id");
    let session: String =
        sqlx::query_scalar("SELECT provider_session_id FROM orders WHERE id = $1")
            .bind(id)
            .fetch_one(app.database().writes())
            .await
            .expect("a checkout session");
    let paid = stripe.complete_session(&session);
    deliver(app, &stripe.checkout_completed_event(&session), "fulfilled").await;
    paid.payment_intent.expect("a payment intent")
}

/// The `POST /v1/transfers` requests the fake received, as idempotency keys.
pub fn transfer_keys(stripe: &FakeStripe) -> Vec<String> {
    stripe
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path == "/v1/transfers")
        .map(|r| r.idempotency_key.unwrap_or_default())
        .collect()
}
