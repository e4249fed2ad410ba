//! A fake Stripe API server for tests: real HTTP on 127.0.0.1, Stripe's wire
//! format (form-encoded requests, Bearer auth, `Idempotency-Key`, JSON objects
//! and error envelopes in Stripe's documented shapes), in-memory state.
//!
//! It covers only what UDAM calls, one file per resource: Checkout Sessions
//! ([`checkout`]), refunds ([`refunds`]) and Stripe Connect ([`connect`]: accounts,
//! onboarding links and their page, transfers); [`http`] records, authenticates,
//! fails on demand, replays idempotent requests and routes; [`wire`] reads and
//! writes Stripe's wire format. Tests drive the buyer's side with
//! [`FakeStripe::complete_session`] and friends, then build the webhook events
//! Stripe would send with the `*_event` helpers and sign them with
//! [`FakeStripe::signed_header`].
//!
//! Helpers panic on misuse (unknown session id, completing an expired
//! session): that is a bug in the test, and a panic names it. The HTTP side
//! never panics on what a client sends.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::http::StatusCode;
use serde_json::{Value, json};
use udam::payments::stripe::webhook::sign_payload;

mod checkout;
mod connect;
mod http;
mod refunds;
mod wire;

use http::Outcome;
use wire::{error_body, integer, invalid_param, no_such, reply, required, value};

/// API version stamped on events, as Stripe stamps the endpoint's version.
const API_VERSION: &str = "2024-06-20";

/// A way to make the fake misbehave, for "Stripe is down" tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Every request gets HTTP 500 with Stripe's `api_error` body.
    ServerError,
    /// Every request gets HTTP 400 with an `invalid_request_error` body.
    BadRequest,
    /// Requests are accepted and never answered (client timeouts fire).
    Hang,
    /// POSTs get HTTP 500 with Stripe's `api_error` body before being carried out;
    /// reads are answered normally (Stripe failing to create, not to list).
    WritesFail,
    /// POSTs get HTTP 400 with an `invalid_request_error` body before being carried
    /// out; reads are answered normally (Stripe refusing a transfer for good, e.g. an
    /// account that can no longer receive them).
    WritesRefused,
    /// POSTs are carried out (and saved under their idempotency key), then answered
    /// with HTTP 500: the answer is lost, the outcome unknown to the caller. Reads
    /// are answered normally.
    LostResponse,
}

/// One request as the fake received it (recorded before auth or failures).
#[derive(Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// Path without query, e.g. `/v1/checkout/sessions`.
    pub path: String,
    /// The `Idempotency-Key` header.
    pub idempotency_key: Option<String>,
    /// The raw `Authorization` header (redacted in Debug output).
    pub authorization: Option<String>,
    /// The `Content-Type` header.
    pub content_type: Option<String>,
    /// The decoded form body, in the order sent (empty if none or unparsable).
    pub form: Vec<(String, String)>,
}

impl RecordedRequest {
    /// The value of the first form field named `key`.
    pub fn form_value(&self, key: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

impl fmt::Debug for RecordedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordedRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("idempotency_key", &self.idempotency_key)
            .field(
                "authorization",
                &self.authorization.as_ref().map(|_| "[redacted]"),
            )
            .field("content_type", &self.content_type)
            .field("form", &self.form)
            .finish()
    }
}

/// A running fake Stripe. Clones share the same server and state.
#[derive(Clone)]
pub struct FakeStripe {
    base_url: String,
    state: Arc<Mutex<Inner>>,
}

/// A response saved under an idempotency key, with what it answered.
struct Saved {
    method: String,
    path: String,
    form: Vec<(String, String)>,
    status: StatusCode,
    body: Value,
}

struct Inner {
    /// `http://127.0.0.1:<port>`, for links to the fake's own pages.
    base_url: String,
    secret_key: String,
    sessions: HashMap<String, Value>,
    payments: HashMap<String, refunds::Payment>,
    idempotency: HashMap<String, Saved>,
    requests: Vec<RecordedRequest>,
    failure: Option<Failure>,
    connect: connect::ConnectState,
}

impl FakeStripe {
    /// Starts a fake accepting `secret_key` as the only valid API key.
    /// The listener is bound before this returns, so it is ready at once.
    pub async fn start(secret_key: &str) -> FakeStripe {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake Stripe on loopback");
        let addr = listener.local_addr().expect("fake Stripe address");
        let state = Arc::new(Mutex::new(Inner {
            base_url: format!("http://{addr}"),
            secret_key: secret_key.to_owned(),
            sessions: HashMap::new(),
            payments: HashMap::new(),
            idempotency: HashMap::new(),
            requests: Vec::new(),
            failure: None,
            connect: connect::ConnectState::default(),
        }));
        let app = Router::new()
            .fallback(http::handle)
            .with_state(state.clone());
        // Lives as long as the test's runtime.
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeStripe {
            base_url: format!("http://{addr}"),
            state,
        }
    }

    /// `http://127.0.0.1:<port>`, to use as the client's API base.
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().requests.clone()
    }

    /// Makes every following request fail the given way (`None` heals it).
    /// Responses forced this way are not saved under idempotency keys, like
    /// an outage in front of Stripe's API: a retry with the same key after
    /// recovery really executes.
    pub fn set_failure(&self, failure: Option<Failure>) {
        self.lock().failure = failure;
    }

    /// A `Stripe-Signature` value for `body`, signed now with `webhook_secret`.
    pub fn signed_header(body: &str, webhook_secret: &str) -> String {
        sign_payload(body.as_bytes(), webhook_secret, now_unix())
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        lock(&self.state)
    }
}

/// A Stripe event envelope around `object`, as a JSON body string.
pub fn event_json(event_type: &str, object: Value) -> String {
    json!({
        "id": new_id("evt"),
        "object": "event",
        "api_version": API_VERSION,
        "created": now_unix(),
        "data": { "object": object },
        "livemode": false,
        "pending_webhooks": 1,
        "request": { "id": null, "idempotency_key": null },
        "type": event_type,
    })
    .to_string()
}

fn lock(state: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    // A panicking test thread must not wedge the fake for the others.
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

/// Unique (per test process) Stripe-looking ids: `cs_test_...`, `pi_...`.
fn new_id(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    // Mix the counter so ids do not look (or sort) sequential; a test that
    // relies on id order would be relying on something Stripe never promises.
    let mixed = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ u64::from(std::process::id());
    format!("{prefix}_{mixed:016x}{n:08}")
}
