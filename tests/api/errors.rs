//! The error envelope on every failure path, and the operational endpoints.

use reqwest::StatusCode;
use serde_json::json;

use crate::common::{Backend, TestApp};

crate::dual_backend_tests!(
    unknown_route_and_wrong_method,
    bad_bodies_get_envelopes,
    request_ids_are_honoured_or_generated,
    probes_and_security_headers,
    one_error_answers_as_json_or_as_a_page,
);

async fn unknown_route_and_wrong_method(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let r = app.get("/api/v1/nope", None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.error_code(), "not_found");
    let r = app.delete("/api/v1/auth/login", None).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.error_code(), "method_not_allowed");
}

async fn bad_bodies_get_envelopes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let url = format!("{}/api/v1/auth/register", app.base);
    let malformed = app
        .send(
            app.http
                .post(&url)
                .header("content-type", "application/json")
                .body("{\"email\": "),
        )
        .await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    assert_eq!(malformed.error_code(), "malformed_json");

    let wrong_type = app
        .send(
            app.http
                .post(&url)
                .header("content-type", "text/plain")
                .body("{}"),
        )
        .await;
    assert_eq!(wrong_type.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(wrong_type.error_code(), "unsupported_media_type");

    // Announce a body over the hard cap and read the answer before sending it: the
    // server refuses from the Content-Length alone.
    let (status, body) = headers_only_post(&app.base, "/api/v1/auth/register", 300 * 1024).await;
    assert_eq!(status, 413);
    let body: serde_json::Value = serde_json::from_str(&body).expect("JSON envelope");
    assert_eq!(body["error"]["code"], "payload_too_large");
    // A real body over the 64 KiB default of this route.
    let huge = json!({"email": "a@b.cd", "password": "x".repeat(70 * 1024)});
    let too_large = app.post("/api/v1/auth/register", &huge, None).await;
    assert_eq!(too_large.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(too_large.error_code(), "payload_too_large");

    let not_object = app
        .post("/api/v1/auth/register", &json!([1, 2]), None)
        .await;
    assert_eq!(not_object.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(not_object.error_code(), "validation_failed");

    let unknown_field = app
        .post(
            "/api/v1/auth/login",
            &json!({"email": "a@b.cd", "password": "12345678", "admin": true}),
            None,
        )
        .await;
    assert_eq!(unknown_field.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(unknown_field.body["error"]["field"], "admin");
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM users WHERE $1 = $1", "")
            .await,
        0
    );
}

async fn request_ids_are_honoured_or_generated(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let given = app
        .send(
            app.http
                .get(format!("{}/healthz", app.base))
                .header("x-request-id", "trace-me-42"),
        )
        .await;
    assert_eq!(given.header("x-request-id"), Some("trace-me-42"));
    let generated = app.get("/healthz", None).await;
    let id = generated.header("x-request-id").expect("generated id");
    assert!(id.len() >= 16);
    let error = app.get("/nope", None).await;
    assert!(
        error.header("x-request-id").is_some(),
        "errors carry the id too"
    );
}

async fn probes_and_security_headers(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let health = app.get("/healthz", None).await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.body["status"], "ok");
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.status, StatusCode::OK);
    assert_eq!(ready.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(ready.header("x-frame-options"), Some("DENY"));
    assert!(ready.header("content-security-policy").is_some());
}

/// Sends only the head of a POST announcing `content_length` bytes and returns the
/// status and body of the server's answer.
async fn headers_only_post(base: &str, path: &str, content_length: usize) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {content_length}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text[9..12].parse().unwrap();
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// The same bare rejection (a body over the limit, made by a layer, not a handler) is
/// an envelope for programs and the HTML error page for a browser asking for a page;
/// an API error stays JSON even for a browser.
async fn one_error_answers_as_json_or_as_a_page(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let big = "x".repeat(200 * 1024);
    let post = |path: &str, accept: &str| {
        app.http
            .post(format!("{}{path}", app.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", accept)
            .body(big.clone())
    };

    let program = app.send(post("/signin", "application/json")).await;
    assert_eq!(program.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(program.error_code(), "payload_too_large");

    let browser = post("/signin", "text/html,application/xhtml+xml")
        .send()
        .await
        .expect("request");
    assert_eq!(browser.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let content_type = browser.headers()["content-type"]
        .to_str()
        .unwrap_or_default();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let page = browser.text().await.expect("page");
    assert!(page.contains("<html") && page.contains("413"), "{page}");

    let api = app.send(post("/api/v1/auth/login", "text/html")).await;
    assert_eq!(api.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(api.error_code(), "payload_too_large");
}
