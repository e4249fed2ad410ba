//! Hostile shapes at the edge: NUL bytes, overlong and non-UTF-8 forms of cursors,
//! ids and query text sent to every paginated route, every page and every id route,
//! plus request ids that break the rule. Nothing may answer 5xx (PostgreSQL refuses
//! text holding a NUL byte, so a value that reaches a query shows up as a 500 there).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use reqwest::header::HeaderValue;

use crate::common::{Backend, Resp, TestApp, create_listing, listing_body};
use crate::web::{csrf, get as get_page, post as post_form, session};

crate::dual_backend_tests!(
    malformed_cursors_are_refused_on_every_list,
    malformed_cursors_are_refused_on_every_page,
    malformed_ids_are_not_found_before_any_query,
    malformed_ids_in_forms_never_fail_the_server,
    malformed_query_text_never_fails_the_server,
    bad_request_ids_are_replaced,
    returned_error_codes_are_documented,
);

/// Cursor values a client could send: NUL inside a well-formed encoding, huge
/// numbers, overlong text, invalid UTF-8 (raw and inside the encoding).
fn hostile_cursors() -> Vec<String> {
    let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
    vec![
        "MToA".to_owned(), // "1:\0", the example
        b64(b"1:ord_a\0b"),
        b64(b"n:1:lst_\0"),
        b64(b"99999999999999999999:ord_abc"),
        b64(b"1:"),
        b64(format!("1:ord_{}", "a".repeat(500)).as_bytes()),
        b64(b"1:\xff\xfe"),
        "%00".to_owned(),
        "%FF%FE".to_owned(),
        "A".repeat(4000),
        "not a cursor".replace(' ', "%20"),
    ]
}

fn assert_refused_cursor(r: &Resp, what: &str) {
    assert_eq!(
        r.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{what}: {:?}",
        r.body
    );
    assert_eq!(r.error_code(), "validation_failed", "{what}");
    assert_eq!(r.body["error"]["field"], "cursor", "{what}");
}

/// Creates a webhook endpoint (at a documentation address, never reached) and
/// returns its id: the deliveries list needs one.
async fn webhook_endpoint(app: &TestApp, token: &str) -> String {
    let r = app
        .post(
            "/api/v1/webhook-endpoints",
            &serde_json::json!({"url": "https://192.0.2.1/hook", "events": ["order.created"]}),
            Some(token),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    r.body["id"].as_str().expect("endpoint id").to_owned()
}

async fn malformed_cursors_are_refused_on_every_list(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.signup("edges-lists@example.com").await;
    let hook = webhook_endpoint(&app, &token).await;
    let deliveries = format!("/api/v1/webhook-endpoints/{hook}/deliveries?cursor=");
    let lists = [
        "/api/v1/listings?cursor=",
        "/api/v1/listings?sort=price_asc&cursor=",
        "/api/v1/orders?cursor=",
        "/api/v1/sales?cursor=",
        "/api/v1/tokens?cursor=",
        "/api/v1/earnings/entries?cursor=",
        "/api/v1/payouts?cursor=",
        "/api/v1/webhook-endpoints?cursor=",
        &deliveries,
    ];
    for list in lists {
        for cursor in hostile_cursors() {
            let path = format!("{list}{cursor}");
            let r = app.get(&path, Some(&token)).await;
            assert_refused_cursor(&r, &path);
        }
    }
}

async fn malformed_cursors_are_refused_on_every_page(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.signup("edges-pages@example.com").await;
    let cookie = session(&token);
    let pages = [
        "/?cursor=",
        "/?sort=price_desc&cursor=",
        "/orders?cursor=",
        "/tokens?cursor=",
        "/dashboard?lcursor=",
        "/dashboard?scursor=",
    ];
    for page in pages {
        for cursor in hostile_cursors() {
            let path = format!("{page}{cursor}");
            let r = get_page(&app, &path, Some(&cookie)).await;
            assert!(r.status.is_client_error(), "{path}: {}", r.status);
            let content_type = r
                .headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            assert!(
                content_type.starts_with("text/html"),
                "{path}: {content_type}"
            );
        }
    }
}

/// Id forms: NUL, invalid UTF-8, overlong, a wrong shape.
fn hostile_ids() -> Vec<String> {
    vec![
        "stl_%00".to_owned(),
        "ord_%00".to_owned(),
        "lst_a%00b".to_owned(),
        "tok_%FF%FE".to_owned(),
        "%C0%80".to_owned(),
        format!("ord_{}", "a".repeat(1000)),
        "ORD_abc".to_owned(),
    ]
}

async fn malformed_ids_are_not_found_before_any_query(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.signup("edges-ids@example.com").await;
    let cookie = session(&token);
    for id in hostile_ids() {
        let api = [
            ("GET", format!("/api/v1/listings/{id}")),
            ("PATCH", format!("/api/v1/listings/{id}")),
            ("DELETE", format!("/api/v1/listings/{id}")),
            ("GET", format!("/api/v1/orders/{id}")),
            ("POST", format!("/api/v1/orders/{id}/cancel")),
            ("POST", format!("/api/v1/tokens/{id}/revoke")),
            ("POST", format!("/api/v1/tokens/{id}/roll")),
            ("GET", format!("/api/v1/tokens/{id}/usage")),
            ("GET", format!("/api/v1/listings/{id}/usage")),
            ("GET", format!("/api/v1/webhook-endpoints/{id}")),
            ("PATCH", format!("/api/v1/webhook-endpoints/{id}")),
            ("DELETE", format!("/api/v1/webhook-endpoints/{id}")),
            ("GET", format!("/api/v1/webhook-endpoints/{id}/deliveries")),
            (
                "POST",
                format!("/api/v1/webhook-endpoints/{id}/rotate-secret"),
            ),
            ("POST", format!("/api/v1/webhook-endpoints/{id}/test")),
            (
                "POST",
                format!("/api/v1/webhook-endpoints/deliveries/{id}/retry"),
            ),
            ("GET", format!("/dev/checkout/{id}")),
            ("POST", format!("/dev/checkout/{id}/pay")),
            ("POST", format!("/dev/checkout/{id}/cancel")),
        ];
        for (method, path) in api {
            let url = format!("{}{path}", app.base);
            let request = match method {
                "GET" => app.http.get(&url),
                "DELETE" => app.http.delete(&url),
                "PATCH" => app.http.patch(&url).json(&serde_json::json!({})),
                _ => app.http.post(&url),
            };
            let r = app.send(request.bearer_auth(&token)).await;
            if path.starts_with("/dev/") {
                // The dev checkout's pages are HTML for people; a bad id is a 404 all the same.
                assert_eq!(r.status, StatusCode::NOT_FOUND, "{method} {path}");
                continue;
            }
            assert_eq!(
                r.status,
                StatusCode::NOT_FOUND,
                "{method} {path}: {:?}",
                r.body
            );
            assert_eq!(r.error_code(), "not_found", "{method} {path}");
        }
        let pages = [
            format!("/listings/{id}"),
            format!("/orders/{id}/pay"),
            format!("/orders/{id}/success"),
            format!("/orders/{id}/cancelled"),
            format!("/balance/settlements/{id}/pay"),
        ];
        for path in pages {
            let r = get_page(&app, &path, Some(&cookie)).await;
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
        }
    }
}

/// The pages' forms that name a row in their path, posted with a valid CSRF token so
/// that the id is what gets judged: a malformed one is a client error, never a 5xx.
async fn malformed_ids_in_forms_never_fail_the_server(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.signup("edges-forms@example.com").await;
    let cookie = session(&token);
    let csrf = csrf(&token);
    for id in hostile_ids() {
        let forms = [
            format!("/listings/{id}/buy"),
            format!("/orders/{id}/cancel"),
            format!("/dashboard/listings/{id}/edit"),
            format!("/dashboard/listings/{id}/status"),
            format!("/dashboard/listings/{id}/archive"),
            format!("/dashboard/tokens/{id}/revoke"),
            format!("/developers/endpoints/{id}/enabled"),
            format!("/developers/endpoints/{id}/rotate"),
            format!("/developers/endpoints/{id}/test"),
            format!("/developers/endpoints/{id}/delete"),
            format!("/developers/deliveries/{id}/retry"),
        ];
        for path in forms {
            let r = post_form(
                &app,
                &path,
                Some(&cookie),
                &[("csrf", &csrf), ("units", "1"), ("status", "paused")],
            )
            .await;
            assert!(r.status.is_client_error(), "{path}: {}", r.status);
        }
    }
}

async fn malformed_query_text_never_fails_the_server(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for query in [
        "q=%00",
        "q=a%00b",
        "q=%FF%FE",
        "seller_id=%00",
        "seller_id=usr_%FF",
        "sort=%00",
        "limit=%00",
        "limit=99999999999999999999",
    ] {
        let path = format!("/api/v1/listings?{query}");
        let r = app.get(&path, None).await;
        assert!(!r.status.is_server_error(), "{path}: {}", r.status);
        if !r.status.is_success() {
            assert_eq!(r.error_code(), "validation_failed", "{path}");
        }
        let page = get_page(&app, &format!("/?{query}"), None).await;
        assert!(!page.status.is_server_error(), "/?{query}: {}", page.status);
    }
    // The gateway usage reports' one parameter, on a listing and a token of the caller.
    let token = app.signup("edges-usage@example.com").await;
    let listing = create_listing(&app, &token, &listing_body("edges-usage", 100, 5)).await;
    for granularity in ["%00", "%FF%FE", "hour%00", &"h".repeat(4000)] {
        for path in [
            format!("/api/v1/listings/{listing}/usage?granularity={granularity}"),
            format!("/api/v1/tokens/tok_missing/usage?granularity={granularity}"),
        ] {
            let r = app.get(&path, Some(&token)).await;
            assert!(r.status.is_client_error(), "{path}: {}", r.status);
        }
    }
}

async fn bad_request_ids_are_replaced(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let longest = "a".repeat(64);
    let kept = app
        .send(
            app.http
                .get(format!("{}/healthz", app.base))
                .header("x-request-id", &longest),
        )
        .await;
    assert_eq!(kept.header("x-request-id"), Some(longest.as_str()));

    let bad: Vec<HeaderValue> = vec![
        HeaderValue::from_str(&"a".repeat(65)).expect("header"),
        HeaderValue::from_str(&"x".repeat(15_000)).expect("header"),
        HeaderValue::from_static("two words"),
        HeaderValue::from_static("<script>"),
        HeaderValue::from_bytes(b"id-\xff\xfe").expect("header"),
    ];
    for value in bad {
        for path in ["/healthz", "/api/v1/nope"] {
            let r = app
                .send(
                    app.http
                        .get(format!("{}{path}", app.base))
                        .header("x-request-id", value.clone()),
                )
                .await;
            assert!(!r.status.is_server_error(), "{path}");
            let answered = r.headers.get("x-request-id").expect("a request id");
            assert_ne!(answered, &value, "a bad id is never echoed");
            let answered = answered.to_str().expect("ASCII id");
            assert!(
                (1..=64).contains(&answered.len())
                    && answered
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)),
                "the fresh id follows the rule: {answered}"
            );
        }
    }
    // Two ids at once are ambiguous: both are dropped.
    let r = app
        .send(
            app.http
                .get(format!("{}/healthz", app.base))
                .header("x-request-id", "first")
                .header("x-request-id", "second"),
        )
        .await;
    let answered = r.header("x-request-id").unwrap_or_default();
    assert!(answered != "first" && answered != "second" && !answered.is_empty());
}

async fn returned_error_codes_are_documented(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let doc = app.get("/api/openapi.json", None).await;
    let documented: Vec<&str> = doc.body["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .expect("ErrorCode is an enum in the document")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    let token = app.signup("edges-codes@example.com").await;
    let answers = [
        app.get("/api/v1/nope", None).await,
        app.get("/api/v1/me", None).await,
        app.get("/api/v1/listings?cursor=MToA", None).await,
        app.get("/api/v1/orders/ord_nope", Some(&token)).await,
        app.delete("/api/v1/auth/login", None).await,
        app.post(
            "/api/v1/auth/login",
            &serde_json::json!({"email": "edges-codes@example.com", "password": "wrong password!"}),
            None,
        )
        .await,
        app.post(
            "/api/v1/auth/register",
            &serde_json::json!({"email": "edges-codes@example.com", "password": "long enough password"}),
            None,
        )
        .await,
    ];
    for r in &answers {
        assert!(!r.status.is_success());
        let code = r.error_code();
        assert!(!code.is_empty(), "{:?}", r.body);
        assert!(
            documented.contains(&code),
            "{code} is returned but not in the document"
        );
    }
}
