//! Seller payouts (issue 13): earnings held then available on the payout clock,
//! payout runs through the dev provider (exactly once, also with two `udam`
//! processes racing), the admin hold, and a refund after a payout recovered from the
//! next payout; Stripe Connect onboarding ([`connect`]) and payouts by Stripe
//! Transfers ([`transfers`]) against the fake Stripe. Every test ends with the
//! ledger clean.

mod connect;
mod earnings;
mod runs;
pub mod stripe;
mod transfers;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{Client, TestApp, create_listing, listing_body, order};

/// A week and a day: past the default seven-day hold.
pub const PAST_HOLD: Duration = Duration::from_secs(8 * 86_400);

/// Buys one unit of a listing priced above the instant limit and pays its dev
/// checkout; returns the order id.
pub async fn buy_and_pay(app: &Client, buyer: &str, listing: &str) -> String {
    let r = order(app, buyer, listing, 1).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let id = r.body["order"]["id"].as_str().expect("order id").to_owned();
    let url = r.body["order"]["checkout_url"]
        .as_str()
        .expect("a checkout for a large order")
        .to_owned();
    let paid = app
        .http
        .post(format!("{url}/pay"))
        .send()
        .await
        .expect("pay");
    assert_eq!(paid.status(), StatusCode::SEE_OTHER, "dev checkout pays");
    id
}

/// A listing of `name` priced `price` (usd), 1000 units, by `seller`.
pub async fn listing(app: &Client, seller: &str, name: &str, price: i64) -> String {
    create_listing(app, seller, &listing_body(name, price, 1000))
        .await
        .as_str()
        .to_owned()
}

/// The caller's earnings in usd (the whole item).
pub async fn usd_earnings(app: &Client, token: &str) -> Value {
    let r = app.get("/api/v1/earnings", Some(token)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.body["items"]
        .as_array()
        .and_then(|items| items.iter().find(|i| i["currency"] == "usd"))
        .cloned()
        .unwrap_or(Value::Null)
}

/// Signs up `admin@example.com` and makes them an administrator.
pub async fn admin(app: &TestApp) -> String {
    let token = app.signup("admin@example.com").await;
    sqlx::query("UPDATE users SET is_admin = 1 WHERE email = 'admin@example.com'")
        .execute(app.database().writes())
        .await
        .expect("grant admin");
    token
}

/// Runs payouts through the admin route; returns (recorded, sent).
pub async fn run_payouts(app: &Client, admin: &str) -> (i64, i64) {
    let r = app
        .post("/api/v1/admin/payouts/run", &json!({}), Some(admin))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["ran"], true);
    (
        r.body["recorded"].as_i64().expect("recorded"),
        r.body["sent"].as_i64().expect("sent"),
    )
}

/// The caller's payouts (first page).
pub async fn payouts_of(app: &Client, token: &str) -> Vec<Value> {
    let r = app.get("/api/v1/payouts", Some(token)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.body["items"].as_array().expect("items").clone()
}
