//! The delivery filter of search and browse (issue 19): `delivery=gateway` keeps the
//! listings buyers reach through the metered gateway, `delivery=key` those that hand
//! out the seller's key, with and without search text, in every sort, through REST
//! and GraphQL and on the web search form; anything else is refused (422) in the
//! error envelope.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{Backend, TestApp, create_listing};

crate::dual_backend_tests!(delivery_filter_keeps_one_mode);

/// A listing named `name` (all of them mention tides), delivered as `delivery`.
fn listing(name: &str, delivery: &str) -> Value {
    let mut body = json!({
        "service_name": name,
        "description": "Tide tables for every harbour.",
        "price_cents": 300,
        "currency": "usd",
        "available_units": 10,
        "api_key": "sk_search_test_0123456789",
        "delivery": delivery,
    });
    if delivery == "gateway" {
        // Never called here: the test only lists it.
        body["gateway"] =
            json!({"upstream_base_url": "http://127.0.0.1:9/v1", "requests_per_unit": 10});
    }
    body
}

fn sorted_names(body: &Value) -> Vec<String> {
    let mut names: Vec<String> = body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["service_name"].as_str().expect("name").to_owned())
        .collect();
    names.sort();
    names
}

async fn delivery_filter_keeps_one_mode(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        &["--gateway-allow-http", "--gateway-allow-private"],
    )
    .await;
    let seller = app.signup("tides@example.com").await;
    for (name, delivery) in [
        ("Tide key one", "key"),
        ("Tide gateway one", "gateway"),
        ("Tide key two", "key"),
        ("Tide gateway two", "gateway"),
    ] {
        create_listing(&app, &seller, &listing(name, delivery)).await;
    }
    let gateway = vec!["Tide gateway one", "Tide gateway two"];
    let key = vec!["Tide key one", "Tide key two"];
    for (delivery, expected) in [("gateway", &gateway), ("key", &key)] {
        for query in [
            "q=tide",
            "sort=newest",
            "sort=price_asc",
            "q=tide&sort=price_desc",
        ] {
            let r = app
                .get(
                    &format!("/api/v1/listings?{query}&delivery={delivery}&in_stock=true"),
                    None,
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
            assert_eq!(&sorted_names(&r.body), expected, "{query} {delivery}");
        }
    }
    let r = app
        .post(
            "/graphql",
            &json!({"query": "{ listings(filter: {q: \"tide\", delivery: \"gateway\"}) { nodes { serviceName } } }"}),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let mut names: Vec<&str> = r.body["data"]["listings"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["serviceName"].as_str().expect("name"))
        .collect();
    names.sort_unstable();
    assert_eq!(names, gateway, "{:?}", r.body);

    // The web search form offers the same filter, keeps the choice, and its "any"
    // (an empty value) lists both modes.
    let page = |query: &'static str| {
        let url = format!("{}/{query}", app.client.base);
        let http = app.client.http.clone();
        async move {
            let r = http.get(url).send().await.expect("the home page");
            assert_eq!(r.status(), StatusCode::OK);
            r.text().await.expect("html")
        }
    };
    let html = page("?delivery=gateway").await;
    assert!(html.contains("Tide gateway one") && html.contains("Tide gateway two"));
    assert!(!html.contains("Tide key"), "{html}");
    assert!(
        html.contains(r#"<option value="gateway" selected>"#),
        "{html}"
    );
    let html = page("?delivery=&sort=newest").await;
    assert!(html.contains("Tide key one") && html.contains("Tide gateway one"));

    for bad in ["email", "", "Gateway"] {
        let r = app
            .get(&format!("/api/v1/listings?delivery={bad}"), None)
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad:?}: {:?}",
            r.body
        );
        assert_eq!(r.body["error"]["code"], "validation_failed", "{:?}", r.body);
    }
}
