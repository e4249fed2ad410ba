//! Marketplace helpers shared by the test files: listing bodies, creating listings,
//! placing orders, reading units left, and the no-oversell invariant checked in SQL.

use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Row;

use super::{Client, ListingId, OrderId, Resp};

/// A valid listing body: `price` cents per unit in usd, `units` available.
pub fn listing_body(name: &str, price: i64, units: i64) -> Value {
    json!({
        "service_name": name,
        "description": format!("{name} data, fresh every minute"),
        "unit_description": "per 1000 requests",
        "price_cents": price,
        "currency": "usd",
        "available_units": units,
        "api_key": format!("sk_{name}_secret_0123456789"),
    })
}

/// Creates a listing as `token` (asserting 201) and returns its id.
pub async fn create_listing(app: &Client, token: &str, body: &Value) -> ListingId {
    let r = app.post("/api/v1/listings", body, Some(token)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    ListingId::new(r.body["id"].as_str().expect("listing id"))
}

/// Sends `POST /api/v1/orders` and returns the answer, whatever it is.
pub async fn order(app: &Client, token: &str, listing: &str, units: i64) -> Resp {
    app.post(
        "/api/v1/orders",
        &json!({"listing_id": listing, "units": units}),
        Some(token),
    )
    .await
}

/// Fires one 1-unit order per `(token, listing)` pair, all at once, spread over
/// `clients` in turn; returns each outcome in pair order: the order's status, or
/// the error code.
pub async fn race_orders<'a>(
    clients: &[Client],
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Vec<String> {
    let attempts = pairs.into_iter().enumerate().map(|(i, (token, listing))| {
        let client = &clients[i % clients.len()];
        async move {
            let r = order(client, token, listing, 1).await;
            match r.status {
                StatusCode::CREATED => r.body["order"]["status"].as_str().unwrap().to_owned(),
                _ => r.error_code().to_owned(),
            }
        }
    });
    futures::future::join_all(attempts).await
}

/// Places an order (asserting 201) and returns its id.
pub async fn place_order(app: &Client, token: &str, listing: &str, units: i64) -> OrderId {
    let r = order(app, token, listing, units).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    OrderId::new(r.body["order"]["id"].as_str().expect("order id"))
}

/// Places the first order of a gateway listing and returns the buyer's key, which
/// only that order's answer shows in full.
pub async fn place_gateway_order(app: &Client, token: &str, listing: &str, units: i64) -> String {
    let r = order(app, token, listing, units).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    r.body["gateway"]["gateway_key"]
        .as_str()
        .expect("the key, shown once in the order's answer")
        .to_owned()
}

/// The listing's available units, as the public API reports them.
pub async fn units_left(app: &Client, listing: &str) -> i64 {
    app.get(&format!("/api/v1/listings/{listing}"), None)
        .await
        .body["available_units"]
        .as_i64()
        .expect("available_units")
}

/// Asserts the no-oversell invariant for one listing and returns (units left, units
/// held by orders): held + left = listed, only fulfilled or pending orders hold
/// units, and every fulfilled order has exactly one grant for its own buyer and
/// units (checked order by order, so a missing grant cannot hide behind an extra one).
pub async fn assert_invariant(db: &udam::db::Db, listing: &str, listed: i64) -> (i64, i64) {
    let row = sqlx::query(
        "SELECT l.available_units, \
           (SELECT CAST(COALESCE(SUM(o.units), 0) AS BIGINT) FROM orders o WHERE o.listing_id = l.id AND o.holds_units = 1), \
           (SELECT COUNT(*) FROM orders o WHERE o.listing_id = l.id AND o.holds_units = 1 \
              AND o.status NOT IN ('fulfilled', 'pending_payment')) \
         FROM listings l WHERE l.id = $1",
    )
    .bind(listing)
    .fetch_one(db.pool())
    .await
    .expect("invariant query");
    let left: i64 = row.try_get(0).expect("left");
    let held: i64 = row.try_get(1).expect("held");
    let stray: i64 = row.try_get(2).expect("stray");
    assert_eq!(
        held + left,
        listed,
        "held {held} + left {left} must equal listed {listed}"
    );
    assert_eq!(stray, 0, "only fulfilled or pending orders hold units");

    // Every order of the listing with the grants that point at it: a fulfilled order
    // has exactly one, matching its buyer and units; any other order has none.
    let orders = sqlx::query(
        "SELECT o.id, o.status, \
           (SELECT COUNT(*) FROM grants g WHERE g.order_id = o.id), \
           (SELECT COUNT(*) FROM grants g WHERE g.order_id = o.id \
              AND g.buyer_id = o.buyer_id AND g.units = o.units AND g.listing_id = o.listing_id) \
         FROM orders o WHERE o.listing_id = $1",
    )
    .bind(listing)
    .fetch_all(db.pool())
    .await
    .expect("grants per order");
    for row in orders {
        let id: String = row.try_get(0).expect("id");
        let status: String = row.try_get(1).expect("status");
        let grants: i64 = row.try_get(2).expect("grants");
        let matching: i64 = row.try_get(3).expect("matching grants");
        let expected = i64::from(status == "fulfilled");
        assert_eq!(
            grants, expected,
            "order {id} ({status}) has {grants} grants"
        );
        assert_eq!(
            matching, expected,
            "order {id}'s grant names its buyer and units"
        );
    }
    (left, held)
}
