//! `udam rotate-keys` re-seals webhook signing secrets (the current one and the one a
//! secret rotation keeps for 24 h) under the new master key, so the old master key can
//! leave the ring; a second run has nothing left to do.

use reqwest::StatusCode;
use serde_json::json;
use sqlx::Row;
use udam::crypto::{KeyRing, Purpose};
use udam::webhooks::endpoints::previous_aad;

use super::{LOCAL_DELIVERY, Receiver, register};
use crate::common::{Backend, TEST_MASTER_KEYS, TestApp, TestDb};

crate::dual_backend_tests!(rotate_keys_reseals_webhook_secrets);

/// Runs `udam rotate-keys` on `db_url` with `master_keys`; returns what it printed.
async fn rotate_keys(db_url: &str, master_keys: &str) -> String {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_udam"))
        .args([
            "--database-url",
            db_url,
            "--master-keys",
            master_keys,
            "rotate-keys",
        ])
        .kill_on_drop(true)
        .output()
        .await
        .expect("udam rotate-keys runs");
    let printed = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "rotate-keys failed:\n{printed}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    printed
}

async fn rotate_keys_reseals_webhook_secrets(backend: Backend) {
    let db = TestDb::new(backend).await;
    let url = db.url.clone();
    let app = TestApp::spawn_on(db, &LOCAL_DELIVERY).await;
    let user = app.signup("dev@example.com").await;
    let rx = Receiver::start().await;
    let (endpoint, first) = register(&app, &user, &rx.url, &["order.created"]).await;
    let r = app
        .post(
            &format!("/api/v1/webhook-endpoints/{endpoint}/rotate-secret"),
            &json!({}),
            Some(&user),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let second = r.body["secret"].as_str().expect("new secret").to_owned();

    let new_spec = udam::crypto::generate_key_spec("k2").expect("a new key");
    let printed = rotate_keys(&url, &format!("{new_spec},{TEST_MASTER_KEYS}")).await;
    assert!(
        printed.contains("and 2 webhook secret(s) under k2"),
        "{printed}"
    );

    // Both secrets now open with the new key alone.
    let row = sqlx::query(
        "SELECT secret_key_id, secret_sealed, previous_secret_key_id, previous_secret_sealed \
         FROM webhook_endpoints WHERE id = $1",
    )
    .bind(&endpoint)
    .fetch_one(app.database().pool())
    .await
    .expect("endpoint row");
    let key_id: String = row.try_get("secret_key_id").expect("key id");
    let previous_key_id: String = row.try_get("previous_secret_key_id").expect("key id");
    assert_eq!((key_id.as_str(), previous_key_id.as_str()), ("k2", "k2"));
    let only_new = KeyRing::parse(&new_spec).expect("ring");
    let current = only_new
        .open(
            Purpose::WebhookSecret,
            &endpoint,
            &key_id,
            &row.try_get::<Vec<u8>, _>("secret_sealed").expect("blob"),
        )
        .expect("the current secret opens with the new key");
    assert_eq!(current.expose(), second);
    let previous = only_new
        .open(
            Purpose::WebhookSecret,
            &previous_aad(&endpoint),
            &previous_key_id,
            &row.try_get::<Vec<u8>, _>("previous_secret_sealed")
                .expect("blob"),
        )
        .expect("the previous secret opens with the new key");
    assert_eq!(previous.expose(), first);

    let again = rotate_keys(&url, &format!("{new_spec},{TEST_MASTER_KEYS}")).await;
    assert!(again.contains("and 0 webhook secret(s)"), "{again}");
}
