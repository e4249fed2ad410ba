//! Every event type reaches its owner, signed, with the REST API's object shapes.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Row;

use super::{BUYER_EVENTS, Receiver, SELLER_EVENTS, assert_all_signed, register, spawn, verify};
use crate::common::{Backend, create_listing, listing_body, order, place_order};

crate::dual_backend_tests!(
    every_event_type_reaches_its_owner_signed,
    a_sold_out_event_is_dated_at_the_sale,
);

fn count(types: &[String], t: &str) -> usize {
    types.iter().filter(|x| *x == t).count()
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

async fn every_event_type_reaches_its_owner_signed(backend: Backend) {
    let app = spawn(backend).await;
    let seller = app.signup("seller@example.com").await;
    let buyer = app.signup("buyer@example.com").await;
    let seller_rx = Receiver::start().await;
    let buyer_rx = Receiver::start().await;
    let (_, seller_secret) = register(&app, &seller, &seller_rx.url, &SELLER_EVENTS).await;
    let (_, buyer_secret) = register(&app, &buyer, &buyer_rx.url, &BUYER_EVENTS).await;

    // Two instant purchases sell the small listing out.
    let small = create_listing(&app, &seller, &listing_body("ticks", 100, 2)).await;
    let first = place_order(&app, &buyer, &small, 1).await;
    place_order(&app, &buyer, &small, 1).await;
    // The seller revokes the first order's token.
    let tokens = app.get("/api/v1/tokens", Some(&buyer)).await.body;
    let grant = tokens["items"]
        .as_array()
        .expect("tokens")
        .iter()
        .find(|t| t["order_id"] == first.to_string().as_str())
        .expect("the first order's token")["id"]
        .as_str()
        .expect("grant id")
        .to_owned();
    let r = app
        .post(
            &format!("/api/v1/tokens/{grant}/revoke"),
            &json!({}),
            Some(&seller),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    // A large order goes to checkout; one is cancelled, one lapses.
    let big = create_listing(&app, &seller, &listing_body("bulk", 2000, 5)).await;
    let cancelled = place_order(&app, &buyer, &big, 1).await;
    let r = app
        .post(
            &format!("/api/v1/orders/{cancelled}/cancel"),
            &json!({}),
            Some(&buyer),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let lapsed = order(&app, &buyer, &big, 1).await.body["order"]["id"]
        .as_str()
        .expect("order id")
        .to_owned();
    sqlx::query("UPDATE orders SET expires_at = 0 WHERE id = $1")
        .bind(&lapsed)
        .execute(app.database().writes())
        .await
        .expect("age the reservation");
    // The buyer settles the balance the instant orders left.
    let r = app
        .post(
            "/api/v1/balance/settle",
            &json!({"currency": "usd"}),
            Some(&buyer),
        )
        .await;
    assert!(r.status.is_success(), "{:?}", r.body);
    let checkout = r.body["checkout_url"]
        .as_str()
        .expect("checkout url")
        .to_owned();
    let paid = app
        .http
        .post(format!("{checkout}/pay"))
        .send()
        .await
        .expect("pay");
    assert_eq!(paid.status(), StatusCode::SEE_OTHER);

    let seller_got = seller_rx
        .wait_until("every seller event", |got| {
            let types: Vec<String> = got.iter().map(|m| m.event_type()).collect();
            count(&types, "order.created") == 4
                && count(&types, "order.fulfilled") == 2
                && count(&types, "order.cancelled") == 1
                && count(&types, "order.expired") == 1
                && count(&types, "listing.sold_out") == 1
                && count(&types, "grant.revoked") == 1
        })
        .await;
    let buyer_got = buyer_rx
        .wait_until("every buyer event", |got| {
            let types: Vec<String> = got.iter().map(|m| m.event_type()).collect();
            count(&types, "order.fulfilled") == 2
                && count(&types, "order.expired") == 1
                && count(&types, "grant.revoked") == 1
                && count(&types, "settlement.paid") == 1
        })
        .await;
    // Two of the orders awaited payment when created; their checkout URL is the
    // buyer's alone (whoever holds it can pay or cancel), never in a seller's event.
    assert!(
        seller_got
            .iter()
            .all(|m| m.json()["data"]["checkout_url"].is_null()),
        "a seller's event carried a checkout URL"
    );
    assert_all_signed(&seller_got, &seller_secret).await;
    assert_all_signed(&buyer_got, &buyer_secret).await;
    // Neither secret verifies the other's messages.
    let crossed = verify(&[
        (&seller_got[0], vec![buyer_secret.as_str()]),
        (&buyer_got[0], vec![seller_secret.as_str()]),
    ])
    .await;
    assert_eq!(crossed, vec![vec![false], vec![false]]);
    for t in ["order.created", "order.cancelled", "listing.sold_out"] {
        assert!(
            !buyer_got.iter().any(|m| m.event_type() == t),
            "buyers do not receive {t}"
        );
    }

    // The envelope, and data in the REST API's shapes.
    for m in seller_got.iter().chain(&buyer_got) {
        let body = m.json();
        assert_eq!(
            body["id"],
            m.id.as_str(),
            "the envelope id is the webhook-id"
        );
        assert!(m.id.starts_with("evt_"));
        assert!(
            body["created_at"]
                .as_str()
                .is_some_and(|t| t.ends_with('Z'))
        );
        assert!(body["data"].is_object());
    }
    let cancel_event = seller_got
        .iter()
        .find(|m| m.event_type() == "order.cancelled")
        .expect("order.cancelled")
        .json();
    let rest = app
        .get(&format!("/api/v1/orders/{cancelled}"), Some(&buyer))
        .await
        .body;
    assert_eq!(
        cancel_event["data"], rest,
        "a final order reads as the API shows it"
    );
    let expired = seller_got
        .iter()
        .find(|m| m.event_type() == "order.expired")
        .expect("order.expired")
        .json();
    assert_eq!(expired["data"]["id"], lapsed.as_str());
    assert_eq!(expired["data"]["status"], "expired");
    let created = seller_got
        .iter()
        .find(|m| {
            m.event_type() == "order.created"
                && m.json()["data"]["id"] == cancelled.to_string().as_str()
        })
        .expect("order.created of the cancelled order")
        .json();
    assert_eq!(
        created["data"]["status"], "pending_payment",
        "state at event time"
    );
    assert_eq!(keys(&created["data"]), keys(&rest));
    let sold_out = seller_got
        .iter()
        .find(|m| m.event_type() == "listing.sold_out")
        .expect("listing.sold_out")
        .json();
    let listing = app
        .get(&format!("/api/v1/listings/{small}"), None)
        .await
        .body;
    assert_eq!(sold_out["data"]["status"], "sold_out");
    assert_eq!(sold_out["data"]["available_units"], 0);
    assert_eq!(keys(&sold_out["data"]), keys(&listing));
    let revoked = buyer_got
        .iter()
        .find(|m| m.event_type() == "grant.revoked")
        .expect("grant.revoked")
        .json();
    assert_eq!(revoked["data"]["id"], grant.as_str());
    assert_eq!(revoked["data"]["status"], "revoked");
    assert!(
        revoked["data"].get("access_token").is_none(),
        "no key in events"
    );
    let settled = buyer_got
        .iter()
        .find(|m| m.event_type() == "settlement.paid")
        .expect("settlement.paid")
        .json();
    assert_eq!(settled["data"]["status"], "paid");
    assert_eq!(settled["data"]["amount_cents"], 200);

    // Nothing left behind in the outbox, and no seller-side secrets stored in it.
    let left: i64 = sqlx::query("SELECT COUNT(*) FROM webhook_outbox WHERE fanned_out = 0")
        .fetch_one(app.database().writes())
        .await
        .expect("outbox")
        .try_get(0)
        .expect("count");
    assert_eq!(left, 0);
    app.assert_ledger_clean().await;
}

/// `listing.sold_out` carries the time of the sale that sold the listing out, not of
/// the listing's last edit (which a sale no longer moves).
async fn a_sold_out_event_is_dated_at_the_sale(backend: Backend) {
    let app = spawn(backend).await;
    let seller = app.signup("seller@example.com").await;
    let buyer = app.signup("buyer@example.com").await;
    let seller_rx = Receiver::start().await;
    register(&app, &seller, &seller_rx.url, &["listing.sold_out"]).await;
    let listing = create_listing(&app, &seller, &listing_body("last", 100, 1)).await;
    // Last edited long ago.
    sqlx::query("UPDATE listings SET updated_at = 1000 WHERE id = $1")
        .bind(listing.as_str())
        .execute(app.database().writes())
        .await
        .expect("age the listing");
    let before_sale = udam::clock::now_ms();
    place_order(&app, &buyer, &listing, 1).await;
    let dated: i64 = sqlx::query_scalar(
        "SELECT created_at FROM webhook_outbox WHERE event_type = 'listing.sold_out'",
    )
    .fetch_one(app.database().pool())
    .await
    .expect("a sold-out event");
    assert!(
        dated >= before_sale - 1_000,
        "dated {dated}, the sale came after {before_sale}"
    );
}
