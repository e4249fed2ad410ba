//! The authorization matrix's cases through GraphQL: anonymous, buyer A, buyer B,
//! the seller and an administrator each get the outcome REST gives them, the REST
//! status read as its code (`unauthorized`, `forbidden`, `not_found`, or the
//! conflict's own code), and both APIs are asked side by side for every read.

use serde_json::json;

use super::{first_code, gql};
use crate::common::{Backend, Client, TestApp, create_listing, listing_body, place_order};

crate::dual_backend_tests!(graphql_gives_every_caller_the_rest_outcome);

const CALLERS: [&str; 5] = ["anonymous", "buyer A", "buyer B", "seller", "admin"];

/// One case: a GraphQL operation, its REST twin for reads, and each caller's outcome
/// ("ok" or an error code).
struct Case {
    name: &'static str,
    query: String,
    rest_get: Option<String>,
    expect: [&'static str; 5],
}

fn outcome_of_status(status: u16, conflict: &str) -> String {
    match status {
        200..=299 => "ok".to_owned(),
        401 => "unauthorized".to_owned(),
        403 => "forbidden".to_owned(),
        404 => "not_found".to_owned(),
        _ => conflict.to_owned(),
    }
}

async fn outcome(client: &Client, token: Option<&str>, query: &str) -> String {
    let r = gql(client, token, query, json!({})).await;
    assert_eq!(r.status, reqwest::StatusCode::OK, "{query}: {:?}", r.body);
    if r.body["errors"].is_null() {
        "ok".to_owned()
    } else {
        first_code(&r).to_owned()
    }
}

async fn graphql_gives_every_caller_the_rest_outcome(backend: Backend) {
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
    place_order(&app, &b, &listing, 3).await;
    let a_pending = place_order(&app, &a, &dear, 1).await;
    let tokens = app.get("/api/v1/tokens", Some(&a)).await.body;
    let a_grant = tokens["items"][0]["id"].as_str().unwrap().to_owned();

    let signed_in = |ok: &'static str| ["unauthorized", ok, ok, ok, ok];
    let create = r#"mutation { createListing(input: {serviceName: "more", priceCents: 100, availableUnits: 5, apiKey: "sk_more_secret_0123456789"}) { id } }"#;
    let cases = vec![
        Case {
            name: "me",
            query: "{ me { id } }".into(),
            rest_get: Some("/api/v1/me".into()),
            expect: signed_in("ok"),
        },
        Case {
            name: "createListing",
            query: create.into(),
            rest_get: None,
            expect: signed_in("ok"),
        },
        Case {
            name: "listings",
            query: "{ listings { nodes { id } } }".into(),
            rest_get: Some("/api/v1/listings".into()),
            expect: ["ok"; 5],
        },
        Case {
            name: "listing",
            query: format!("{{ listing(id: \"{listing}\") {{ id }} }}"),
            rest_get: Some(format!("/api/v1/listings/{listing}")),
            expect: ["ok"; 5],
        },
        Case {
            name: "updateListing",
            query: format!(
                "mutation {{ updateListing(id: \"{listing}\", input: {{description: \"changed\"}}) {{ id }} }}"
            ),
            rest_get: None,
            expect: ["unauthorized", "forbidden", "forbidden", "ok", "ok"],
        },
        Case {
            name: "placeOrder",
            query: format!(
                "mutation {{ placeOrder(input: {{listingId: \"{listing}\", units: 1}}) {{ order {{ id }} }} }}"
            ),
            rest_get: None,
            expect: ["unauthorized", "ok", "ok", "own_listing", "ok"],
        },
        Case {
            name: "myOrders",
            query: "{ myOrders { nodes { id } } }".into(),
            rest_get: Some("/api/v1/orders".into()),
            expect: signed_in("ok"),
        },
        Case {
            name: "order",
            query: format!("{{ order(id: \"{a_order}\") {{ id }} }}"),
            rest_get: Some(format!("/api/v1/orders/{a_order}")),
            expect: ["unauthorized", "ok", "not_found", "ok", "ok"],
        },
        Case {
            name: "sales",
            query: "{ sales { nodes { id } } }".into(),
            rest_get: Some("/api/v1/sales".into()),
            expect: signed_in("ok"),
        },
        Case {
            name: "balance",
            query: "{ balance { owedCents } }".into(),
            rest_get: Some("/api/v1/balance".into()),
            expect: signed_in("ok"),
        },
        Case {
            name: "earnings",
            query: "{ earnings { pendingCents } }".into(),
            rest_get: Some("/api/v1/earnings".into()),
            expect: signed_in("ok"),
        },
        Case {
            name: "settleBalance",
            query: "mutation { settleBalance(currency: \"usd\") { id } }".into(),
            rest_get: None,
            expect: ["unauthorized", "ok", "ok", "nothing_owed", "ok"],
        },
        Case {
            name: "myTokens",
            query: "{ myTokens { nodes { id } } }".into(),
            rest_get: Some("/api/v1/tokens".into()),
            expect: signed_in("ok"),
        },
        Case {
            name: "revokeToken",
            query: format!("mutation {{ revokeToken(id: \"{a_grant}\") {{ id }} }}"),
            rest_get: None,
            expect: ["unauthorized", "forbidden", "not_found", "ok", "ok"],
        },
        Case {
            name: "cancelOrder",
            query: format!("mutation {{ cancelOrder(id: \"{a_pending}\") {{ id }} }}"),
            rest_get: None,
            expect: ["unauthorized", "ok", "not_found", "not_found", "not_found"],
        },
        Case {
            name: "archiveListing",
            query: format!("mutation {{ archiveListing(id: \"{doomed}\") }}"),
            rest_get: None,
            expect: ["unauthorized", "forbidden", "forbidden", "ok", "ok"],
        },
    ];
    let tokens = [
        None,
        Some(a.as_str()),
        Some(b.as_str()),
        Some(seller.as_str()),
        Some(admin.as_str()),
    ];
    let mut failures = Vec::new();
    for case in &cases {
        // As in the REST matrix, the buyer cancels last so the others see a pending order.
        let order: Vec<usize> = if case.name == "cancelOrder" {
            vec![0, 2, 3, 4, 1]
        } else {
            (0..5).collect()
        };
        for caller in order {
            let got = outcome(&app, tokens[caller], &case.query).await;
            if got != case.expect[caller] {
                failures.push(format!(
                    "{} as {}: expected {}, got {got}",
                    case.name, CALLERS[caller], case.expect[caller]
                ));
            }
            if let Some(path) = &case.rest_get {
                let rest = app.get(path, tokens[caller]).await;
                let rest = outcome_of_status(rest.status.as_u16(), rest.error_code());
                if rest != got {
                    failures.push(format!(
                        "{} as {}: REST says {rest}, GraphQL {got}",
                        case.name, CALLERS[caller]
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "GraphQL authorization mismatches:\n{}",
        failures.join("\n")
    );
}
