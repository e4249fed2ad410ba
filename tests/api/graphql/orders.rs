//! Every query and mutation against its REST twin, idempotent `placeOrder`, and the
//! five-buyers-on-three-units race through GraphQL.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{data, first_code, gql};
use crate::common::{Backend, TestApp, assert_invariant, units_left};

crate::dual_backend_tests!(
    every_query_and_mutation_matches_rest,
    place_order_with_a_key_is_idempotent,
    five_buyers_race_for_three_units,
);

const CREATE: &str = "mutation($input: CreateListingInput!) {
    createListing(input: $input) { id sellerId serviceName priceCents currency availableUnits status createdAt }
}";
const PLACE: &str = "mutation($input: PlaceOrderInput!, $key: String) {
    placeOrder(input: $input, idempotencyKey: $key) {
        replayed paymentRequiresConfirmation checkoutUrl
        order { id status paymentStatus units totalCents currency listingId }
    }
}";

fn listing_input(name: &str, price: i64, units: i64) -> Value {
    json!({
        "serviceName": name,
        "description": format!("{name} data, fresh every minute"),
        "unitDescription": "per 1000 requests",
        "priceCents": price,
        "currency": "USD",
        "availableUnits": units,
        "apiKey": format!("sk_{name}_secret_0123456789"),
    })
}

async fn create(app: &TestApp, token: &str, name: &str, price: i64, units: i64) -> String {
    let r = gql(
        app,
        Some(token),
        CREATE,
        json!({"input": listing_input(name, price, units)}),
    )
    .await;
    data(&r)["createListing"]["id"].as_str().unwrap().to_owned()
}

async fn place(
    app: &TestApp,
    token: &str,
    listing: &str,
    units: i64,
    key: Option<&str>,
) -> crate::common::Resp {
    gql(
        app,
        Some(token),
        PLACE,
        json!({"input": {"listingId": listing, "units": units}, "key": key}),
    )
    .await
}

async fn every_query_and_mutation_matches_rest(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let seller = app.signup("seller@example.com").await;
    let buyer = app.signup("buyer@example.com").await;

    // createListing: the same listing REST shows.
    let r = gql(
        &app,
        Some(&seller),
        CREATE,
        json!({"input": listing_input("weather", 100, 10)}),
    )
    .await;
    let created = data(&r)["createListing"].clone();
    let id = created["id"].as_str().unwrap().to_owned();
    let rest = app.get(&format!("/api/v1/listings/{id}"), None).await.body;
    assert_eq!(created["currency"], "usd");
    assert_eq!(created["priceCents"], rest["price_cents"]);
    assert_eq!(created["availableUnits"], rest["available_units"]);
    assert_eq!(created["sellerId"], rest["seller_id"]);
    assert_eq!(created["createdAt"], rest["created_at"]);
    assert_eq!(created["status"], "active");
    let other = create(&app, &seller, "tides", 300, 5).await;
    let dear = create(&app, &seller, "dear", 5000, 10).await;

    // listings: search with highlights, filters, and cursors shared with REST.
    let r = gql(
        &app,
        None,
        "{ listings(filter: {q: \"weather\"}) { nodes { id highlight } pageInfo { hasNextPage endCursor } } }",
        json!({}),
    )
    .await;
    let page = &data(&r)["listings"];
    assert_eq!(page["nodes"].as_array().unwrap().len(), 1);
    assert_eq!(page["nodes"][0]["id"], id.as_str());
    assert!(page["nodes"][0]["highlight"].is_object());
    assert_eq!(page["pageInfo"]["hasNextPage"], false);
    let r = gql(
        &app,
        None,
        "{ listings(first: 1, filter: {sort: \"price_asc\", minPriceCents: 200}) { nodes { id } pageInfo { hasNextPage endCursor } } }",
        json!({}),
    )
    .await;
    let page = &data(&r)["listings"];
    assert_eq!(page["nodes"][0]["id"], other.as_str());
    let cursor = page["pageInfo"]["endCursor"].as_str().unwrap();
    let rest = app
        .get(
            &format!("/api/v1/listings?limit=1&sort=price_asc&min_price_cents=200&cursor={cursor}"),
            None,
        )
        .await;
    assert_eq!(
        rest.body["items"][0]["id"],
        dear.as_str(),
        "the GraphQL cursor continues the REST list"
    );

    // listing(id), its seller's listings, and seller(id).
    let r = gql(
        &app,
        None,
        "query($id: ID!) { listing(id: $id) { serviceName seller { id listings(first: 10) { nodes { id } } } } }",
        json!({"id": id}),
    )
    .await;
    let listing = &data(&r)["listing"];
    assert_eq!(listing["serviceName"], "weather");
    assert_eq!(
        listing["seller"]["listings"]["nodes"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    // updateListing: REST sees the change.
    let r = gql(
        &app,
        Some(&seller),
        "mutation($id: ID!) { updateListing(id: $id, input: {description: \"changed\", priceCents: 120}) { description priceCents } }",
        json!({"id": id}),
    )
    .await;
    assert_eq!(
        data(&r)["updateListing"],
        json!({"description": "changed", "priceCents": 120})
    );
    let rest = app.get(&format!("/api/v1/listings/{id}"), None).await.body;
    assert_eq!(rest["description"], "changed");

    // placeOrder: fulfilled at once and owed; myOrders, order, sales, myTokens, balance.
    let r = place(&app, &buyer, &id, 2, None).await;
    let placed = &data(&r)["placeOrder"];
    assert_eq!(placed["order"]["status"], "fulfilled");
    assert_eq!(placed["order"]["paymentStatus"], "deferred");
    assert_eq!(placed["order"]["totalCents"], 240);
    assert_eq!(placed["replayed"], false);
    let order = placed["order"]["id"].as_str().unwrap().to_owned();
    assert_eq!(units_left(&app, &id).await, 8);

    let r = gql(
        &app,
        Some(&buyer),
        "query($id: ID!) {
            me { email isAdmin }
            myOrders { nodes { id listing { serviceName } } pageInfo { hasNextPage } }
            order(id: $id) { id units totalCents currency }
            myTokens { nodes { orderId accessToken status units } }
            balance { currency owedCents }
        }",
        json!({"id": order}),
    )
    .await;
    let d = data(&r);
    assert_eq!(
        d["me"],
        json!({"email": "buyer@example.com", "isAdmin": false})
    );
    assert_eq!(
        d["myOrders"]["nodes"],
        json!([{"id": order, "listing": {"serviceName": "weather"}}])
    );
    assert_eq!(
        d["order"],
        json!({"id": order, "units": 2, "totalCents": 240, "currency": "usd"})
    );
    assert_eq!(
        d["myTokens"]["nodes"],
        json!([{"orderId": order, "accessToken": "sk_weather_secret_0123456789", "status": "active", "units": 2}])
    );
    assert_eq!(d["balance"], json!([{"currency": "usd", "owedCents": 240}]));
    let rest_balance = app.get("/api/v1/balance", Some(&buyer)).await.body;
    assert_eq!(
        rest_balance["items"],
        json!([{"currency": "usd", "owed_cents": 240}])
    );
    // Opening keys wrote the same audit record REST writes, once.
    let audits = app
        .scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'open_grants' AND actor_id = (SELECT id FROM users WHERE email = $1)", "buyer@example.com")
        .await;
    assert_eq!(audits, 1);
    // Twice in one request: refused, so a request opens keys (and audits) once.
    let r = gql(
        &app,
        Some(&buyer),
        "{ a: myTokens { nodes { id } } b: myTokens { nodes { id } } }",
        json!({}),
    )
    .await;
    assert_eq!(first_code(&r), "bad_request");
    let audits = app
        .scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'open_grants' AND actor_id = (SELECT id FROM users WHERE email = $1)", "buyer@example.com")
        .await;
    assert_eq!(audits, 2);

    let r = gql(
        &app,
        Some(&seller),
        "{ sales { nodes { id buyerId } } earnings { currency pendingCents availableCents } }",
        json!({}),
    )
    .await;
    let d = data(&r);
    assert_eq!(d["sales"]["nodes"][0]["id"], order.as_str());
    let rest_earnings = app.get("/api/v1/earnings", Some(&seller)).await.body;
    assert_eq!(
        d["earnings"][0]["pendingCents"],
        rest_earnings["items"][0]["pending_cents"]
    );
    assert_eq!(
        d["earnings"][0]["availableCents"],
        rest_earnings["items"][0]["available_cents"]
    );

    // A large order waits for payment; cancelOrder releases its units.
    let r = place(&app, &buyer, &dear, 1, None).await;
    let placed = &data(&r)["placeOrder"];
    assert_eq!(placed["paymentRequiresConfirmation"], true);
    assert!(
        placed["checkoutUrl"]
            .as_str()
            .unwrap()
            .contains("/dev/checkout/")
    );
    let pending = placed["order"]["id"].as_str().unwrap().to_owned();
    assert_eq!(units_left(&app, &dear).await, 9);
    // The checkout URL is the buyer's alone: whoever holds it can pay or cancel.
    let one =
        "query($id: ID!) { order(id: $id) { checkoutUrl } sales { nodes { id checkoutUrl } } }";
    let r = gql(&app, Some(&seller), one, json!({"id": pending})).await;
    let seen = data(&r);
    assert!(seen["order"]["checkoutUrl"].is_null(), "{seen}");
    assert!(
        seen["sales"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["checkoutUrl"].is_null()),
        "{seen}"
    );
    let mine =
        "query($id: ID!) { order(id: $id) { checkoutUrl } myOrders { nodes { checkoutUrl } } }";
    let r = gql(&app, Some(&buyer), mine, json!({"id": pending})).await;
    assert_eq!(data(&r)["order"]["checkoutUrl"], placed["checkoutUrl"]);
    let r = gql(
        &app,
        Some(&buyer),
        "mutation($id: ID!) { cancelOrder(id: $id) { id status } }",
        json!({"id": pending}),
    )
    .await;
    assert_eq!(data(&r)["cancelOrder"]["status"], "cancelled");
    assert_eq!(units_left(&app, &dear).await, 10);

    // revokeToken by the seller: REST shows the token revoked.
    let tokens = app.get("/api/v1/tokens", Some(&buyer)).await.body;
    let grant = tokens["items"][0]["id"].as_str().unwrap().to_owned();
    let r = gql(
        &app,
        Some(&seller),
        "mutation($id: ID!) { revokeToken(id: $id) { id status } }",
        json!({"id": grant}),
    )
    .await;
    assert_eq!(
        data(&r)["revokeToken"],
        json!({"id": grant, "status": "revoked"})
    );
    let tokens = app.get("/api/v1/tokens", Some(&buyer)).await.body;
    assert_eq!(tokens["items"][0]["status"], "revoked");

    // settleBalance: a settlement of exactly what is owed.
    let r = gql(&app, Some(&buyer), "mutation { settleBalance(currency: \"usd\") { id amountCents currency status checkoutUrl } }", json!({})).await;
    let settlement = &data(&r)["settleBalance"];
    assert_eq!(settlement["amountCents"], 240);
    assert_eq!(settlement["currency"], "usd");
    let again = gql(
        &app,
        Some(&buyer),
        "mutation { settleBalance(currency: \"usd\") { id } }",
        json!({}),
    )
    .await;
    assert_eq!(
        data(&again)["settleBalance"]["id"],
        settlement["id"],
        "the open settlement comes back"
    );

    // archiveListing: gone for buyers through both APIs.
    let r = gql(
        &app,
        Some(&seller),
        "mutation($id: ID!) { archiveListing(id: $id) }",
        json!({"id": other}),
    )
    .await;
    assert_eq!(data(&r)["archiveListing"], other.as_str());
    let r = gql(
        &app,
        None,
        "query($id: ID!) { listing(id: $id) { id } }",
        json!({"id": other}),
    )
    .await;
    assert_eq!(first_code(&r), "not_found");
    assert_eq!(r.body["errors"][0]["path"], json!(["listing"]));
    assert_eq!(
        app.get(&format!("/api/v1/listings/{other}"), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    app.assert_ledger_clean().await;
}

async fn place_order_with_a_key_is_idempotent(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let seller = app.signup("seller@example.com").await;
    let buyer = app.signup("buyer@example.com").await;
    let listing = create(&app, &seller, "weather", 100, 10).await;

    let first = place(&app, &buyer, &listing, 2, Some("key-1")).await;
    let first = data(&first)["placeOrder"].clone();
    let second = place(&app, &buyer, &listing, 2, Some("key-1")).await;
    let second = data(&second)["placeOrder"].clone();
    assert_eq!(
        first["order"]["id"], second["order"]["id"],
        "same key, same order"
    );
    assert_eq!(first["replayed"], false);
    assert_eq!(second["replayed"], true);
    assert_eq!(units_left(&app, &listing).await, 8, "bought once");

    // The key is shared with REST: the same body through REST replays the same order.
    let rest = app
        .send(
            app.http
                .post(format!("{}/api/v1/orders", app.base))
                .bearer_auth(&buyer)
                .header("idempotency-key", "key-1")
                .json(&json!({"listing_id": listing, "units": 2})),
        )
        .await;
    assert_eq!(rest.status, StatusCode::CREATED);
    assert_eq!(rest.header("idempotent-replayed"), Some("true"));
    assert_eq!(rest.body["order"]["id"], first["order"]["id"]);

    // Another body under the same key is refused, and buys nothing.
    let other = place(&app, &buyer, &listing, 3, Some("key-1")).await;
    assert_eq!(first_code(&other), "idempotency_key_reuse");
    assert!(other.body["data"].is_null());
    // A refusal is replayed too: the seller's own listing, under a key.
    let own = place(&app, &seller, &listing, 1, Some("key-own")).await;
    assert_eq!(first_code(&own), "own_listing");
    let own = place(&app, &seller, &listing, 1, Some("key-own")).await;
    assert_eq!(first_code(&own), "own_listing");
    // A malformed key names the argument.
    let bad = place(&app, &buyer, &listing, 1, Some("")).await;
    assert_eq!(first_code(&bad), "validation_failed");
    assert_eq!(
        bad.body["errors"][0]["extensions"]["field"],
        "idempotencyKey"
    );
    assert_eq!(units_left(&app, &listing).await, 8);
    app.assert_ledger_clean().await;
}

async fn five_buyers_race_for_three_units(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let seller = app.signup("seller@example.com").await;
    let listing = create(&app, &seller, "scarce", 100, 3).await;
    let mut buyers = Vec::new();
    for i in 0..5 {
        buyers.push(app.signup(&format!("buyer{i}@example.com")).await);
    }
    let answers =
        futures::future::join_all(buyers.iter().map(|b| place(&app, b, &listing, 1, None))).await;
    let mut bought = 0;
    let mut refused = 0;
    for r in &answers {
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        if r.body["errors"].is_null() {
            assert_eq!(r.body["data"]["placeOrder"]["order"]["status"], "fulfilled");
            bought += 1;
        } else {
            assert_eq!(first_code(r), "insufficient_units", "{:?}", r.body);
            refused += 1;
        }
    }
    assert_eq!((bought, refused), (3, 2));
    let (left, held) = assert_invariant(app.database(), &listing, 3).await;
    assert_eq!((left, held), (0, 3));
    app.assert_ledger_clean().await;
}
