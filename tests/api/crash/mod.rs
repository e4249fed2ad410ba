//! Crash tests (issue 12): a real `udam serve` aborts at a named crash point in the
//! middle of a money movement (`FAILPOINTS=<point>=return`, src/failpoint.rs), a new
//! process starts on the same database, the client retries with the same
//! Idempotency-Key, and the outcome must be as if the first request had run once:
//! one order per key, the retry's answer that order, units and ledger consistent.
//!
//! The processes run with a 2 s request timeout, which is also how long a claim
//! whose request died counts as still running; the retry polls past it.

mod purchase;

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;

use crate::common::process::ServerProcess;
use crate::common::{Client, Resp};

/// The request timeout of the crash tests' servers (and so the lease of a claim).
const REQUEST_TIMEOUT: &str = "2s";

/// Starts `udam serve` on `db_url`, armed to abort at `point` when given.
async fn start(db_url: &str, point: Option<&str>) -> ServerProcess {
    let armed = point.map(|p| format!("{p}=return"));
    let env: Vec<(&str, &str)> = armed
        .as_deref()
        .map(|a| vec![("FAILPOINTS", a)])
        .unwrap_or_default();
    ServerProcess::start(db_url, &["--request-timeout", REQUEST_TIMEOUT], &env).await
}

/// POSTs `body` to `path` with an Idempotency-Key; `None` when the connection broke
/// (the process died under the request).
async fn post_keyed(
    client: &Client,
    path: &str,
    token: &str,
    key: &str,
    body: &Value,
) -> Option<Resp> {
    let response = client
        .http
        .post(format!("{}{path}", client.base))
        .bearer_auth(token)
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await
        .ok()?;
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.ok()?;
    Some(Resp {
        status,
        headers,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    })
}

/// Retries a keyed POST until it is no longer "in progress" (the dead request's
/// claim lapses after the request timeout), within 30 s.
async fn retry_until_settled(
    client: &Client,
    path: &str,
    token: &str,
    key: &str,
    body: &Value,
) -> Resp {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = post_keyed(client, path, token, key, body)
            .await
            .expect("the restarted server answers");
        let in_progress =
            r.status == StatusCode::CONFLICT && r.error_code() == "idempotency_in_progress";
        if !in_progress {
            return r;
        }
        assert!(
            Instant::now() < deadline,
            "the key stayed in progress for 30 s"
        );
        // Polling interval while the dead claim's lease runs out.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// True when nothing answers at `client`'s address any more.
async fn is_dead(client: &Client) -> bool {
    client
        .http
        .get(format!("{}/healthz", client.base))
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .is_err()
}
