//! The server's statements are bounded on PostgreSQL (`--db-statement-timeout`): a
//! query left running ends by itself and is answered 503, while migrations, which
//! may rewrite every row, run unbounded on the same database handle.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use udam::db::Db;
use udam::error::ApiError;

use crate::common::{Backend, TestDb};

crate::dual_backend_tests!(statements_are_bounded_and_migrations_are_not);

async fn statements_are_bounded_and_migrations_are_not(backend: Backend) {
    let test_db = TestDb::new(backend).await;
    // A bound so tight that the migrations' table rewrites and index builds could
    // not finish under it: they must run unbounded.
    let db = Db::connect_bounded(&test_db.url, 2, Some(Duration::from_millis(1)))
        .await
        .expect("connect");
    db.migrate().await.expect("migrations run unbounded");
    if backend == Backend::Sqlite {
        // SQLite has no statement timeout; the bound changes nothing there.
        return;
    }
    let db = Db::connect_bounded(&test_db.url, 2, Some(Duration::from_millis(300)))
        .await
        .expect("connect");
    let started = Instant::now();
    let err = sqlx::query("SELECT pg_sleep(5)")
        .execute(db.pool())
        .await
        .expect_err("the statement is ended");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "ended after {:?}",
        started.elapsed()
    );
    let code = err.as_database_error().and_then(|e| e.code());
    assert_eq!(code.as_deref(), Some("57014"), "{err}");
    let answer = ApiError::from(err);
    assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);
    // The pool goes on serving.
    let one: i32 = sqlx::query_scalar("SELECT 1")
        .fetch_one(db.pool())
        .await
        .expect("a short statement runs");
    assert_eq!(one, 1);
    // Unbounded handles (commands) wait as long as their statement needs.
    let unbounded = Db::connect(&test_db.url, 1).await.expect("connect");
    sqlx::query("SELECT pg_sleep(0.5)")
        .execute(unbounded.pool())
        .await
        .expect("no bound");
}
