//! Outbound webhooks (issue 17): events reach real local receivers, signed so that
//! the official Standard Webhooks verifier (PyPI `standardwebhooks`, installed by
//! `scripts/services.sh`) accepts them; retries keep the `webhook-id`; crashes and
//! a second process neither lose nor double an attempt; rolled-back purchases emit
//! nothing; internal addresses are refused; users see only their own. Gateway-key
//! alerts and payout events come from real gateway requests and payout runs; key
//! rotation re-seals the signing secrets.
//!
//! Receivers listen on loopback, so these servers run with the dev flags
//! `--gateway-allow-http --gateway-allow-private` (the SSRF tests run without).

mod allowance;
mod delivery;
mod events;
mod isolation;
mod migration;
mod page;
mod payouts;
mod placed_migration;
// Arms crash points, compiled in only with the `failpoints` feature.
#[cfg(feature = "failpoints")]
mod processes;
mod receiver;
mod retention;
mod rotate;
mod step_aside;

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{Client, TestApp};
pub use receiver::{Received, Receiver};

/// Flags of a server that may post to a local receiver, quickly.
pub const LOCAL_DELIVERY: [&str; 10] = [
    "--gateway-allow-http",
    "--gateway-allow-private",
    "--webhook-poll-interval",
    "20ms",
    "--webhook-first-retry",
    "100ms",
    "--webhook-timeout",
    "2s",
    "--sweep-interval",
    "100ms",
];

/// Every event type a seller may receive, and a buyer.
pub const SELLER_EVENTS: [&str; 6] = [
    "order.created",
    "order.fulfilled",
    "order.cancelled",
    "order.expired",
    "listing.sold_out",
    "grant.revoked",
];
/// Every event type a buyer may receive.
pub const BUYER_EVENTS: [&str; 4] = [
    "order.fulfilled",
    "order.expired",
    "grant.revoked",
    "settlement.paid",
];

/// A server that may deliver to local receivers.
pub async fn spawn(backend: crate::common::Backend) -> TestApp {
    TestApp::spawn_with(backend, &LOCAL_DELIVERY).await
}

/// Registers an endpoint (asserting 201); returns its id and secret.
pub async fn register(app: &Client, token: &str, url: &str, events: &[&str]) -> (String, String) {
    let r = app
        .post(
            "/api/v1/webhook-endpoints",
            &json!({"url": url, "events": events, "description": "test receiver"}),
            Some(token),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let secret = r.body["secret"]
        .as_str()
        .expect("secret shown once")
        .to_owned();
    assert!(secret.starts_with("whsec_"));
    (r.body["id"].as_str().expect("id").to_owned(), secret)
}

/// Polls the endpoint's deliveries until `done` holds for them (within 30 s).
pub async fn deliveries_until(
    app: &Client,
    token: &str,
    endpoint: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = app
            .get(
                &format!("/api/v1/webhook-endpoints/{endpoint}/deliveries?limit=100"),
                Some(token),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        let items = r.body["items"].as_array().cloned().unwrap_or_default();
        if done(&items) {
            return items;
        }
        assert!(
            Instant::now() < deadline,
            "deliveries never reached the expected state: {items:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Checks messages with the official verifier: for each `(message, secrets)`, whether
/// `standardwebhooks.Webhook(secret).verify(body, headers)` accepts it, per secret.
pub async fn verify(cases: &[(&Received, Vec<&str>)]) -> Vec<Vec<bool>> {
    let python = std::env::var("UDAM_WEBHOOK_VERIFIER").unwrap_or_else(|_| {
        panic!(
            "UDAM_WEBHOOK_VERIFIER is not set: run the tests through scripts/test.sh, \
             which installs the official standardwebhooks verifier"
        )
    });
    let input: Vec<Value> = cases
        .iter()
        .map(|(m, secrets)| {
            json!({
                "secrets": secrets,
                "body": m.body,
                "headers": {
                    "webhook-id": m.id,
                    "webhook-timestamp": m.timestamp,
                    "webhook-signature": m.signature,
                },
            })
        })
        .collect();
    const SCRIPT: &str = r#"
import json, sys
from standardwebhooks import Webhook
out = []
for case in json.load(sys.stdin):
    verdicts = []
    for secret in case["secrets"]:
        try:
            Webhook(secret).verify(case["body"], case["headers"])
            verdicts.append(True)
        except Exception:
            verdicts.append(False)
    out.append(verdicts)
print(json.dumps(out))
"#;
    let mut child = tokio::process::Command::new(python)
        .args(["-c", SCRIPT])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the verifier's python starts");
    {
        use tokio::io::AsyncWriteExt;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(&serde_json::to_vec(&input).expect("json"))
            .await
            .expect("write to the verifier");
    }
    let out = child.wait_with_output().await.expect("verifier runs");
    assert!(out.status.success(), "the verifier failed");
    serde_json::from_slice(&out.stdout).expect("verifier output")
}

/// Asserts that every message verifies with `secret`.
pub async fn assert_all_signed(messages: &[Received], secret: &str) {
    let cases: Vec<(&Received, Vec<&str>)> = messages.iter().map(|m| (m, vec![secret])).collect();
    let verdicts = verify(&cases).await;
    for (m, v) in messages.iter().zip(&verdicts) {
        assert_eq!(v, &vec![true], "{} ({}) must verify", m.id, m.event_type());
    }
}
