//! The error envelope on every failure path, and the operational endpoints.

use reqwest::StatusCode;
use serde_json::json;

use crate::common::{Backend, TestApp};

crate::dual_backend_tests!(
    unknown_route_and_wrong_method,
    bad_bodies_get_envelopes,
    request_ids_are_honoured_or_generated,
    probes_and_security_headers,
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
