//! Real `udam` processes: sessions shared through the database, the CLI, logs, signals.

use std::process::Command;

use reqwest::StatusCode;
use serde_json::json;

use crate::common::process::ServerProcess;
use crate::common::{Backend, TestDb};

crate::dual_backend_tests!(
    sessions_are_shared_between_processes,
    logs_never_contain_secrets,
    admin_grant_and_migrate_commands,
);

async fn sessions_are_shared_between_processes(backend: Backend) {
    let db = TestDb::new(backend).await;
    let one = ServerProcess::start(&db.url, &[], &[]).await;
    let two = ServerProcess::start(&db.url, &[], &[]).await;
    let token = one.signup("multi@example.com").await;
    assert_eq!(
        two.get("/api/v1/me", Some(&token)).await.status,
        StatusCode::OK
    );
    let out = two
        .post("/api/v1/auth/logout", &json!({}), Some(&token))
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    let r = one.get("/api/v1/me", Some(&token)).await;
    assert_eq!(
        r.status,
        StatusCode::UNAUTHORIZED,
        "logout on two is effective on one"
    );
    assert!(one.terminate().await, "SIGTERM ends the server cleanly");
    assert!(two.terminate().await);
}

async fn logs_never_contain_secrets(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = ServerProcess::start(&db.url, &["--log-format", "json"], &[]).await;
    let password = "hunter2-very-secret-pw";
    let r = server
        .post(
            "/api/v1/auth/register",
            &json!({"email": "logs@example.com", "password": password}),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let token = server.login("logs@example.com", password).await;
    let bad = server
        .post(
            "/api/v1/auth/login",
            &json!({"email": "logs@example.com", "password": "wrong-secret-pw"}),
            None,
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    server.get("/api/v1/me", Some(&token)).await;
    server
        .post("/api/v1/auth/logout", &json!({}), Some(&token))
        .await;
    // The request line is written after the response; poll until the last one is there.
    let logs = server.wait_for_log("/api/v1/auth/logout").await;
    for secret in [password, "wrong-secret-pw", token.as_str()] {
        assert!(!logs.contains(secret), "a secret leaked into the logs");
    }
    let request_lines: Vec<serde_json::Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["message"] == "request finished")
        .collect();
    assert!(request_lines.len() >= 5, "one line per request: {logs}");
    for line in &request_lines {
        let span = &line["span"];
        assert!(span["request_id"].as_str().is_some_and(|id| !id.is_empty()));
        assert!(span["route"].as_str().is_some());
        assert!(span["method"].as_str().is_some());
        assert!(line["status"].as_u64().is_some());
        assert!(line["latency_ms"].as_f64().is_some());
    }
}

async fn admin_grant_and_migrate_commands(backend: Backend) {
    let db = TestDb::new(backend).await;
    let udam = env!("CARGO_BIN_EXE_udam");
    let migrate = Command::new(udam)
        .args(["migrate", "--database-url", &db.url])
        .args(["--master-keys", crate::common::TEST_MASTER_KEYS])
        .output()
        .unwrap();
    assert!(
        migrate.status.success(),
        "{}",
        String::from_utf8_lossy(&migrate.stderr)
    );

    let server = ServerProcess::start(&db.url, &[], &[]).await;
    let token = server.signup("boss@example.com").await;
    assert_eq!(
        server.get("/api/v1/me", Some(&token)).await.body["is_admin"],
        false
    );

    let grant = Command::new(udam)
        .args([
            "admin",
            "grant",
            "Boss@Example.com",
            "--database-url",
            &db.url,
        ])
        .output()
        .unwrap();
    assert!(
        grant.status.success(),
        "{}",
        String::from_utf8_lossy(&grant.stderr)
    );
    assert_eq!(
        server.get("/api/v1/me", Some(&token)).await.body["is_admin"],
        true
    );

    let unknown = Command::new(udam)
        .args([
            "admin",
            "grant",
            "ghost@example.com",
            "--database-url",
            &db.url,
        ])
        .output()
        .unwrap();
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no user"));
}

#[test]
fn malformed_settings_stop_with_one_clear_line() {
    let udam = env!("CARGO_BIN_EXE_udam");
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case; 4] = [
        (&["--bind", "not-an-address"], &[], "--bind"),
        (&[], &[("UDAM_SESSION_TTL", "forever")], "--session-ttl"),
        (&[], &[("UDAM_LOG_FORMAT", "xml")], "--log-format"),
        (&["--database-url", "mysql://x"], &[], "UDAM_DATABASE_URL"),
    ];
    for (args, env, named) in cases {
        let out = Command::new(udam)
            .args(args)
            .arg("migrate")
            .envs(env.iter().copied())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} {env:?} was accepted");
        assert!(stderr.contains(named), "{named} not named in: {stderr}");
        assert!(!stderr.contains("panicked") && !stderr.contains("backtrace"));
        let first = stderr.lines().next().unwrap_or_default();
        assert!(
            first.starts_with("error:"),
            "first line is the error: {stderr}"
        );
    }
}
