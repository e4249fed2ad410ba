//! Malformed documents, limits, rate limits and authentication: never a 5xx, every
//! error with the REST `extensions.code`, a field error naming its GraphQL field.

use reqwest::StatusCode;
use serde_json::json;

use super::{data, first_code, gql};
use crate::common::{Backend, TestApp};

crate::dual_backend_tests!(
    malformed_documents_and_limits_are_graphql_errors,
    requests_that_are_not_graphql_get_the_envelope,
    viewer_comes_from_the_bearer_token,
    a_request_spends_a_rest_call_per_root_field,
    each_nested_search_spends_a_rest_call,
);

async fn malformed_documents_and_limits_are_graphql_errors(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let seller = app.signup("seller@example.com").await;
    let cases = [
        ("{ listings {", "bad_request"),
        ("{ nosuchfield }", "bad_request"),
        (
            "query($n: Int!) { listings(first: $n) { nodes { id } } }",
            "bad_request",
        ),
        (
            "mutation { createListing(input: {}) { id } }",
            "bad_request",
        ),
        ("", "bad_request"),
        ("query A { me { id } } query A { me { id } }", "bad_request"),
    ];
    for (query, code) in cases {
        let r = gql(&app, Some(&seller), query, json!({})).await;
        assert_eq!(r.status, StatusCode::OK, "{query}: {:?}", r.body);
        assert_eq!(first_code(&r), code, "{query}: {:?}", r.body);
    }
    // Too deep.
    let deep = "{ listings(first: 1) { nodes { seller { listings(first: 1) { nodes { seller { listings(first: 1) { nodes { seller { listings(first: 1) { nodes { seller { listings(first: 1) { nodes { seller { id } } } } } } } } } } } } } } } }";
    let r = gql(&app, None, deep, json!({})).await;
    assert_eq!(first_code(&r), "bad_request");
    assert!(
        r.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("too deep"),
        "{:?}",
        r.body
    );
    // Too complex: 100 listings each with 100 of the seller's listings.
    let wide = "{ listings(first: 100) { nodes { seller { listings(first: 100) { nodes { id serviceName } } } } } }";
    let r = gql(&app, None, wide, json!({})).await;
    assert!(
        r.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("complex"),
        "{:?}",
        r.body
    );
    // Too large a document.
    let big = format!(
        "{{ listings {{ nodes {{ id }} }} }} #{}",
        "x".repeat(20 * 1024)
    );
    let r = gql(&app, None, &big, json!({})).await;
    assert_eq!(first_code(&r), "payload_too_large");
    // A service's validation error names the GraphQL field or argument.
    let r = gql(
        &app,
        None,
        "{ listings(first: 500) { nodes { id } } }",
        json!({}),
    )
    .await;
    assert_eq!(first_code(&r), "validation_failed");
    assert_eq!(r.body["errors"][0]["extensions"]["field"], "first");
    let r = gql(
        &app,
        None,
        "{ listings(after: \"nonsense!\") { nodes { id } } }",
        json!({}),
    )
    .await;
    assert_eq!(r.body["errors"][0]["extensions"]["field"], "after");
    let r = gql(
        &app,
        Some(&seller),
        "mutation { createListing(input: {serviceName: \"x\", priceCents: -1, availableUnits: 1, apiKey: \"k\"}) { id } }",
        json!({}),
    )
    .await;
    assert_eq!(first_code(&r), "validation_failed");
    assert_eq!(r.body["errors"][0]["extensions"]["field"], "priceCents");
    assert_eq!(r.body["errors"][0]["path"], json!(["createListing"]));
    // Nothing was created by the refused mutation.
    let r = gql(&app, None, "{ listings { nodes { id } } }", json!({})).await;
    assert_eq!(data(&r)["listings"]["nodes"], json!([]));
}

async fn requests_that_are_not_graphql_get_the_envelope(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let r = app
        .send(
            app.http
                .post(format!("{}/graphql", app.base))
                .body("{ listings { nodes { id } } }"),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(r.error_code(), "unsupported_media_type");
    let r = app
        .send(
            app.http
                .post(format!("{}/graphql", app.base))
                .header("content-type", "application/json")
                .body("{\"query\": "),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.error_code(), "malformed_json");
    let r = app.post("/graphql", &json!({"query": 5}), None).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.error_code(), "validation_failed");

    // GET runs queries, cacheably when anonymous; never mutations.
    let r = app
        .get(
            "/graphql?query=%7B%20listings%20%7B%20nodes%20%7B%20id%20%7D%20%7D%20%7D",
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["data"]["listings"]["nodes"], json!([]));
    assert_eq!(
        r.header("cache-control"),
        Some("public, max-age=0, must-revalidate")
    );
    let r = app
        .get(
            "/graphql?query=mutation%20%7B%20archiveListing(id%3A%20%22x%22)%20%7D",
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.error_code(), "method_not_allowed");
    let r = app.get("/graphql?variables=%7B", None).await;
    assert!(r.status.is_client_error(), "{:?}", r);
    assert!(!r.error_code().is_empty());
    let r = app.delete("/graphql", None).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.error_code(), "method_not_allowed");
}

async fn viewer_comes_from_the_bearer_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let r = gql(&app, None, "{ me { id } }", json!({})).await;
    assert_eq!(first_code(&r), "unauthorized");
    assert_eq!(r.body["errors"][0]["path"], json!(["me"]));
    // A bad token is no viewer, but public fields still answer.
    let r = gql(
        &app,
        Some("not-a-session"),
        "{ me { id } listings { nodes { id } } }",
        json!({}),
    )
    .await;
    assert_eq!(first_code(&r), "unauthorized");
    assert_eq!(r.body["data"]["listings"]["nodes"], json!([]));
    let token = app.signup("ann@example.com").await;
    let r = gql(&app, Some(&token), "{ me { email } }", json!({})).await;
    assert_eq!(data(&r)["me"]["email"], "ann@example.com");
    // A signed-out session is no viewer.
    let out = app
        .post("/api/v1/auth/logout", &json!({}), Some(&token))
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    let r = gql(&app, Some(&token), "{ me { email } }", json!({})).await;
    assert_eq!(first_code(&r), "unauthorized");
}

async fn a_request_spends_a_rest_call_per_root_field(backend: Backend) {
    let app = TestApp::spawn_with(backend, &["--rate-limit-ip", "6/min"]).await;
    let five = "{ a: listings { nodes { id } } b: listings { nodes { id } } c: listings { nodes { id } } d: listings { nodes { id } } e: listings { nodes { id } } }";
    let r = gql(&app, None, five, json!({})).await;
    data(&r);
    // The sixth call passes the middleware; the next four it stands for do not.
    let r = gql(&app, None, five, json!({})).await;
    assert_eq!(first_code(&r), "rate_limited", "{:?}", r.body);
    assert!(
        r.body["errors"][0]["extensions"]["retryAfter"]
            .as_u64()
            .unwrap()
            >= 1
    );
    assert!(r.body["data"].is_null());
    // And the bucket is the REST one: REST is refused now too.
    let r = app.get("/api/v1/listings", None).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
}

/// A page of listings each asking for its seller's listings runs a search per
/// listing: it is charged as those searches, not as one page.
async fn each_nested_search_spends_a_rest_call(backend: Backend) {
    let app = TestApp::spawn_with(backend, &["--rate-limit-ip", "8/min"]).await;
    let nested =
        "{ listings(first: 5) { nodes { seller { listings(first: 1) { nodes { id } } } } } }";
    // One page and five nested searches: six of the eight calls.
    let r = gql(&app, None, nested, json!({})).await;
    data(&r);
    // Two calls are left: the same request again is refused before it resolves.
    let r = gql(&app, None, nested, json!({})).await;
    assert_eq!(first_code(&r), "rate_limited", "{:?}", r.body);
    assert!(r.body["data"].is_null());
}
