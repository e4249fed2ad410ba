//! The audit log under load: concurrent token reads each leave exactly their own
//! record, and on PostgreSQL the records share commits (`src/audit.rs`).

use futures::future::join_all;
use reqwest::StatusCode;
use sqlx::Row;

use crate::common::{Backend, TestApp, create_listing, listing_body, order};

crate::dual_backend_tests!(concurrent_token_reads_each_leave_one_record);

/// Token reads fired at once.
const READS: usize = 48;

async fn concurrent_token_reads_each_leave_one_record(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let seller = app.signup("seller@example.com").await;
    let buyers = [
        app.signup("ada@example.com").await,
        app.signup("bo@example.com").await,
    ];
    let listing = create_listing(&app, &seller, &listing_body("audited", 100, 50)).await;
    for buyer in &buyers {
        for _ in 0..2 {
            let r = order(&app, buyer, &listing, 1).await;
            assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        }
    }

    let reads = (0..READS).map(|i| {
        let client = app.client.clone();
        let token = buyers[i % 2].clone();
        async move { client.get("/api/v1/tokens", Some(&token)).await }
    });
    for r in join_all(reads).await {
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        assert_eq!(r.body["items"].as_array().map(Vec::len), Some(2));
    }

    // Exactly one record per read, each naming its own reader's grants only.
    let rows = sqlx::query(
        "SELECT a.actor_id, a.subject, u.email FROM audit_log a \
         JOIN users u ON u.id = a.actor_id WHERE a.action = $1",
    )
    .bind("open_grants")
    .fetch_all(app.database().writes())
    .await
    .expect("audit rows");
    assert_eq!(rows.len(), READS, "one record per request");
    for row in &rows {
        let actor: String = row.try_get("actor_id").expect("actor");
        let subject: String = row.try_get("subject").expect("subject");
        let ids: Vec<&str> = subject.split(',').collect();
        assert_eq!(ids.len(), 2, "{subject}");
        for id in ids {
            let buyer: String = sqlx::query("SELECT buyer_id FROM grants WHERE id = $1")
                .bind(id)
                .fetch_one(app.database().writes())
                .await
                .expect("grant")
                .try_get("buyer_id")
                .expect("buyer");
            assert_eq!(buyer, actor, "a record names only its reader's grants");
        }
    }
    assert_eq!(
        rows.iter()
            .filter(|r| r
                .try_get::<String, _>("email")
                .is_ok_and(|e| e == "ada@example.com"))
            .count(),
        READS / 2
    );

    if backend == Backend::Postgres {
        // Records of concurrent requests share commits (one `xmin` per transaction).
        let commits = app
            .scalar(
                "SELECT COUNT(DISTINCT xmin::text) FROM audit_log WHERE action = $1",
                "open_grants",
            )
            .await;
        assert!(
            commits < READS as i64,
            "{READS} records were written by {commits} commits"
        );
    }
    app.assert_ledger_clean().await;
}
