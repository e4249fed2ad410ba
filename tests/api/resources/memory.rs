//! Resident memory under a login flood stays within the documented budget.

use std::time::Instant;

use reqwest::StatusCode;
use serde_json::json;

use super::spawn::{Launch, Udam};
use crate::common::{Backend, TestDb};
use crate::dual_backend_tests;

/// The budget the issue sets for the default settings.
const BUDGET_KIB: u64 = 64 * 1024;
const LOGINS: usize = 1_000;
const BURST: usize = 50;

/// 1,000 logins in bursts of 50 parallel requests against a real `udam serve` with
/// the default settings (two hashing workers): every login succeeds and the peak
/// resident memory (VmHWM, which covers every moment, not just the end), less the
/// binary's file-backed pages, stays under 64 MiB.
async fn login_bursts_stay_under_64_mib(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = Udam::start(backend, &db.url, Launch::default()).await;
    let users: Vec<String> = (0..5).map(|i| format!("burst{i}@example.com")).collect();
    for email in &users {
        let created = server
            .client
            .post(
                "/api/v1/auth/register",
                &json!({"email": email, "password": "correct horse battery"}),
                None,
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    }
    let started = Instant::now();
    for burst in 0..LOGINS / BURST {
        let logins = (0..BURST).map(|i| {
            let client = server.client.clone();
            let email = users[(burst + i) % users.len()].clone();
            async move {
                client
                    .post(
                        "/api/v1/auth/login",
                        &json!({"email": email, "password": "correct horse battery"}),
                        None,
                    )
                    .await
            }
        });
        for answer in futures::future::join_all(logins).await {
            assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
            assert!(answer.body["token"].is_string());
        }
    }
    // Less the file-backed pages (the binary's code and shared libraries), which
    // grow with the build, not with load (see `ServerProcess::assert_peak_under`).
    let file = server.status_kib("RssFile");
    let peak = server.status_kib("VmHWM").saturating_sub(file);
    let now = server.status_kib("VmRSS").saturating_sub(file);
    eprintln!(
        "{backend:?}: {LOGINS} logins in {:?}; less {file} KiB of file pages: VmRSS {now} KiB, VmHWM {peak} KiB",
        started.elapsed()
    );
    assert!(peak < BUDGET_KIB, "peak resident memory {peak} KiB");
    assert!(now < BUDGET_KIB, "resident memory {now} KiB");
}

/// With room for one waiting sign-in, a burst of 30 logins is partly refused at
/// once with 503, the JSON envelope and `Retry-After`; the rest succeed, and the
/// server keeps answering sign-ins afterwards.
async fn a_full_hashing_queue_answers_503_with_retry_after(backend: Backend) {
    let db = TestDb::new(backend).await;
    let server = Udam::start(
        backend,
        &db.url,
        Launch {
            args: &["--password-hash-queue", "1"],
            ..Launch::default()
        },
    )
    .await;
    let body = json!({"email": "queue@example.com", "password": "correct horse battery"});
    let created = server
        .client
        .post("/api/v1/auth/register", &body, None)
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    let logins = (0..30).map(|_| server.client.post("/api/v1/auth/login", &body, None));
    let answers = futures::future::join_all(logins).await;
    let mut refused = 0;
    for answer in &answers {
        match answer.status {
            StatusCode::OK => assert!(answer.body["token"].is_string()),
            StatusCode::SERVICE_UNAVAILABLE => {
                assert_eq!(answer.error_code(), "unavailable");
                assert_eq!(answer.header("retry-after"), Some("1"));
                refused += 1;
            }
            other => panic!("unexpected {other}: {:?}", answer.body),
        }
    }
    assert!(refused > 0, "no login was refused");
    assert!(refused < answers.len(), "every login was refused");
    let again = server.client.post("/api/v1/auth/login", &body, None).await;
    assert_eq!(again.status, StatusCode::OK, "{again:?}");
}

dual_backend_tests!(
    login_bursts_stay_under_64_mib,
    a_full_hashing_queue_answers_503_with_retry_after
);
