//! Registration, login, sessions and logout.

use reqwest::StatusCode;
use serde_json::json;

use crate::common::{Backend, TestApp};

crate::dual_backend_tests!(
    register_login_me_logout_cycle,
    register_normalizes_and_validates,
    duplicate_email_is_409,
    wrong_password_and_unknown_email_look_the_same,
    bad_tokens_are_401,
    logout_all_kills_every_session,
    expired_session_is_401,
    sessions_are_stored_hashed,
);

async fn register_login_me_logout_cycle(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let r = app
        .post(
            "/api/v1/auth/register",
            &json!({"email": "ann@example.com", "password": "correct horse", "display_name": "Ann"}),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let user = &r.body["user"];
    assert!(user["id"].as_str().unwrap().starts_with("usr_"));
    assert_eq!(user["email"], "ann@example.com");
    assert_eq!(user["display_name"], "Ann");
    assert_eq!(user["is_admin"], false);
    assert!(user["created_at"].as_str().unwrap().ends_with('Z'));
    assert!(user.get("password").is_none() && user.get("password_hash").is_none());

    let r = app
        .post(
            "/api/v1/auth/login",
            &json!({"email": "ann@example.com", "password": "correct horse"}),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let token = r.body["token"].as_str().unwrap().to_owned();
    assert!(r.body["expires_at"].as_str().is_some());
    assert_eq!(r.body["user"]["email"], "ann@example.com");

    let me = app.get("/api/v1/me", Some(&token)).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["id"], user["id"]);
    assert_eq!(
        me.body.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["created_at", "display_name", "email", "id", "is_admin"]
    );

    let out = app
        .post("/api/v1/auth/logout", &json!({}), Some(&token))
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    let me = app.get("/api/v1/me", Some(&token)).await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED);
    assert_eq!(me.error_code(), "unauthorized");
}

async fn register_normalizes_and_validates(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let r = app
        .post(
            "/api/v1/auth/register",
            &json!({"email": "  Bob@Example.ORG ", "password": "12345678"}),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.body["user"]["email"], "bob@example.org");

    let cases = [
        (
            json!({"email": "not-an-email", "password": "12345678"}),
            "email",
        ),
        (json!({"email": "x@y.z", "password": "short"}), "password"),
        (
            json!({"email": "x@y.zz", "password": "p".repeat(1025)}),
            "password",
        ),
        (json!({"password": "12345678"}), "email"),
        (json!({"email": "x@y.zz", "password": 12345678}), "password"),
        (
            json!({"email": "x@y.zz", "password": "12345678", "display_name": "\u{7}"}),
            "display_name",
        ),
    ];
    for (body, field) in cases {
        let r = app.post("/api/v1/auth/register", &body, None).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(r.error_code(), "validation_failed");
        assert_eq!(r.body["error"]["field"], field, "{body}: {:?}", r.body);
    }
    let users = app
        .scalar("SELECT COUNT(*) FROM users WHERE email <> $1", "")
        .await;
    assert_eq!(users, 1, "no invalid registration was stored");
}

async fn duplicate_email_is_409(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.signup("dup@example.com").await;
    let r = app
        .post(
            "/api/v1/auth/register",
            &json!({"email": "DUP@example.com", "password": "another pw"}),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.error_code(), "email_taken");
}

async fn wrong_password_and_unknown_email_look_the_same(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.signup("carol@example.com").await;
    let wrong = app
        .post(
            "/api/v1/auth/login",
            &json!({"email": "carol@example.com", "password": "wrong password"}),
            None,
        )
        .await;
    let unknown = app
        .post(
            "/api/v1/auth/login",
            &json!({"email": "nobody@example.com", "password": "wrong password"}),
            None,
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.error_code(), "invalid_credentials");
    assert_eq!(wrong.status, unknown.status);
    assert_eq!(wrong.body, unknown.body);
}

async fn bad_tokens_are_401(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for auth in [None, Some("garbage"), Some("dGhpcyBpcyBub3QgYSB0b2tlbg")] {
        let r = app.get("/api/v1/me", auth).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert_eq!(r.error_code(), "unauthorized");
    }
    let r = app
        .send(
            app.http
                .get(format!("{}/api/v1/me", app.base))
                .header("authorization", "Basic YTpi"),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

async fn logout_all_kills_every_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = app.signup("dan@example.com").await;
    let second = app.login("dan@example.com", "correct horse battery").await;
    let other = app.signup("eve@example.com").await;
    let r = app
        .post("/api/v1/auth/logout-all", &json!({}), Some(&first))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/api/v1/me", Some(&first)).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get("/api/v1/me", Some(&second)).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get("/api/v1/me", Some(&other)).await.status,
        StatusCode::OK
    );
}

async fn expired_session_is_401(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.signup("fay@example.com").await;
    assert_eq!(
        app.get("/api/v1/me", Some(&token)).await.status,
        StatusCode::OK
    );
    // Age the session in the database rather than waiting for it to expire.
    sqlx::query("UPDATE sessions SET expires_at = 0")
        .execute(app.database().writes())
        .await
        .unwrap();
    let r = app.get("/api/v1/me", Some(&token)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

async fn sessions_are_stored_hashed(backend: Backend) {
    use sha2::Digest;
    use sqlx::Row;
    let app = TestApp::spawn(backend).await;
    let token = app.signup("gus@example.com").await;
    let rows = sqlx::query("SELECT token_hash FROM sessions")
        .fetch_all(app.database().pool())
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let stored: Vec<u8> = rows[0].try_get(0).unwrap();
    assert_eq!(stored, sha2::Sha256::digest(token.as_bytes()).to_vec());
    assert!(!String::from_utf8_lossy(&stored).contains(&token));
    let ttl = app
        .scalar(
            "SELECT expires_at - created_at FROM sessions WHERE $1 = $1",
            "",
        )
        .await;
    assert_eq!(ttl, 7 * 24 * 3600 * 1000, "default session TTL is 7 days");
}
