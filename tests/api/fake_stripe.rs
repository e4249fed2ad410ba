//! A fake Stripe API server for tests: real HTTP on 127.0.0.1, Stripe's wire
//! format (form-encoded requests, Bearer auth, `Idempotency-Key`, JSON objects
//! and error envelopes in Stripe's documented shapes), in-memory state.
//!
//! It covers only what UDAM calls: create/retrieve/expire Checkout Sessions
//! and create refunds. Tests drive the buyer's side with [`FakeStripe::complete_session`]
//! and friends, then build the webhook events Stripe would send with the
//! `*_event` helpers and sign them with [`FakeStripe::signed_header`].
//!
//! Stripe Connect (accounts, onboarding links and their page, transfers, and the
//! `account.updated` / `transfer.reversed` events) lives in [`connect`].
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
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use udam::payments::stripe::CheckoutSession;
use udam::payments::stripe::webhook::sign_payload;

mod connect;

/// Stripe accepts `expires_at` from 30 minutes to 24 hours after creation.
const MIN_EXPIRY_SECS: i64 = 30 * 60;
const MAX_EXPIRY_SECS: i64 = 24 * 60 * 60;
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

/// What a successful payment created, per PaymentIntent.
struct Payment {
    charge_id: String,
    amount: i64,
    currency: String,
    /// Refunded so far (cumulative), minor units.
    amount_refunded: i64,
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
    payments: HashMap<String, Payment>,
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
        let app = Router::new().fallback(handle).with_state(state.clone());
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

    /// Number of Checkout Sessions created so far.
    pub fn session_count(&self) -> usize {
        self.lock().sessions.len()
    }

    /// A session's current state, as the API would return it.
    pub fn session(&self, id: &str) -> Option<CheckoutSession> {
        let json = self.lock().sessions.get(id).cloned()?;
        Some(to_session(json))
    }

    /// The buyer pays by card: the session becomes `complete` and `paid`,
    /// with a new PaymentIntent.
    pub fn complete_session(&self, id: &str) -> CheckoutSession {
        self.complete(id, true)
    }

    /// The buyer picks a delayed payment method (bank debit): the session is
    /// `complete` but still `unpaid`; settle it with [`FakeStripe::settle_async_payment`].
    pub fn complete_session_unpaid(&self, id: &str) -> CheckoutSession {
        self.complete(id, false)
    }

    /// A delayed payment settles (`paid`) or fails (stays `unpaid`, as Stripe leaves it).
    pub fn settle_async_payment(&self, id: &str, succeeded: bool) -> CheckoutSession {
        let mut inner = self.lock();
        let session = inner
            .sessions
            .get_mut(id)
            .unwrap_or_else(|| panic!("no session {id}"));
        assert_eq!(
            session["status"], "complete",
            "settle_async_payment needs a completed session"
        );
        if succeeded {
            session["payment_status"] = json!("paid");
        }
        to_session(session.clone())
    }

    /// Stripe's own clock expires an open session (as at `expires_at`).
    pub fn expire_session(&self, id: &str) -> CheckoutSession {
        let mut inner = self.lock();
        let session = inner
            .sessions
            .get_mut(id)
            .unwrap_or_else(|| panic!("no session {id}"));
        assert_eq!(session["status"], "open", "only an open session can expire");
        session["status"] = json!("expired");
        session["url"] = Value::Null;
        to_session(session.clone())
    }

    /// `checkout.session.completed` for the session as it is now (paid, or
    /// unpaid after [`FakeStripe::complete_session_unpaid`]).
    pub fn checkout_completed_event(&self, id: &str) -> String {
        self.session_event("checkout.session.completed", id)
    }

    /// `checkout.session.async_payment_succeeded` for the session as it is now.
    pub fn async_payment_succeeded_event(&self, id: &str) -> String {
        self.session_event("checkout.session.async_payment_succeeded", id)
    }

    /// `checkout.session.async_payment_failed` for the session as it is now.
    pub fn async_payment_failed_event(&self, id: &str) -> String {
        self.session_event("checkout.session.async_payment_failed", id)
    }

    /// `checkout.session.expired` for the session as it is now.
    pub fn session_expired_event(&self, id: &str) -> String {
        self.session_event("checkout.session.expired", id)
    }

    /// Any `checkout.session.*` event carrying the session as it is now.
    pub fn session_event(&self, event_type: &str, id: &str) -> String {
        let session = self
            .lock()
            .sessions
            .get(id)
            .cloned()
            .unwrap_or_else(|| panic!("no session {id}"));
        event_json(event_type, session)
    }

    /// `charge.refunded` for the charge behind `payment_intent` (refunded in
    /// full when a refund was created through the API, as Stripe reports it).
    pub fn charge_refunded_event(&self, payment_intent: &str) -> String {
        let inner = self.lock();
        let payment = inner
            .payments
            .get(payment_intent)
            .unwrap_or_else(|| panic!("no payment {payment_intent}"));
        let charge = json!({
            "id": payment.charge_id,
            "object": "charge",
            "amount": payment.amount,
            "amount_captured": payment.amount,
            "amount_refunded": payment.amount_refunded,
            "captured": true,
            "created": now_unix(),
            "currency": payment.currency,
            "livemode": false,
            "metadata": {},
            "paid": true,
            "payment_intent": payment_intent,
            "refunded": payment.amount_refunded >= payment.amount,
            "status": "succeeded",
        });
        event_json("charge.refunded", charge)
    }

    /// Someone refunds `amount` of the payment in Stripe's dashboard (not through
    /// UDAM): the charge's cumulative `amount_refunded` grows, as its next
    /// `charge.refunded` event reports.
    pub fn refund_in_dashboard(&self, payment_intent: &str, amount: i64) {
        let mut inner = self.lock();
        let payment = inner
            .payments
            .get_mut(payment_intent)
            .unwrap_or_else(|| panic!("no payment {payment_intent}"));
        assert!(
            payment.amount_refunded + amount <= payment.amount,
            "cannot refund more than was paid"
        );
        payment.amount_refunded += amount;
    }

    /// Every refund created through the API, as `(payment_intent, idempotency key)`.
    pub fn api_refunds(&self) -> Vec<(String, String)> {
        self.lock()
            .requests
            .iter()
            .filter(|r| r.method == "POST" && r.path == "/v1/refunds")
            .map(|r| {
                (
                    r.form_value("payment_intent")
                        .unwrap_or_default()
                        .to_owned(),
                    r.idempotency_key.clone().unwrap_or_default(),
                )
            })
            .collect()
    }

    /// A `checkout.session.*` event for the session as it is now with some fields
    /// replaced: what Stripe signs when another flow on the account (a Payment Link)
    /// lets the payer set `client_reference_id` (issue 12, defect 3).
    pub fn altered_session_event(&self, event_type: &str, id: &str, changes: Value) -> String {
        let mut session = self
            .lock()
            .sessions
            .get(id)
            .cloned()
            .unwrap_or_else(|| panic!("no session {id}"));
        if let (Some(object), Some(changes)) = (session.as_object_mut(), changes.as_object()) {
            for (k, v) in changes {
                object.insert(k.clone(), v.clone());
            }
        }
        event_json(event_type, session)
    }

    /// A `Stripe-Signature` value for `body`, signed now with `webhook_secret`.
    pub fn signed_header(body: &str, webhook_secret: &str) -> String {
        sign_payload(body.as_bytes(), webhook_secret, now_unix())
    }

    fn complete(&self, id: &str, paid: bool) -> CheckoutSession {
        let mut inner = self.lock();
        let session = inner
            .sessions
            .get_mut(id)
            .unwrap_or_else(|| panic!("no session {id}"));
        assert_eq!(
            session["status"], "open",
            "only an open session can be completed"
        );
        let payment_intent = new_id("pi");
        session["status"] = json!("complete");
        session["payment_status"] = json!(if paid { "paid" } else { "unpaid" });
        session["payment_intent"] = json!(payment_intent);
        session["url"] = Value::Null;
        let payment = Payment {
            charge_id: new_id("ch"),
            amount: session["amount_total"].as_i64().unwrap_or_default(),
            currency: session["currency"].as_str().unwrap_or_default().to_owned(),
            amount_refunded: 0,
        };
        let snapshot = session.clone();
        inner.payments.insert(payment_intent, payment);
        to_session(snapshot)
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

fn to_session(json: Value) -> CheckoutSession {
    serde_json::from_value(json).expect("fake sessions parse as CheckoutSession")
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

// ---------------------------------------------------------------------------
// HTTP side
// ---------------------------------------------------------------------------

/// How a handler's outcome interacts with idempotency: Stripe saves the
/// result once an endpoint starts executing, but not for requests rejected
/// while validating parameters.
enum Outcome {
    Saved(StatusCode, Value),
    NotSaved(StatusCode, Value),
}

async fn handle(
    State(state): State<Arc<Mutex<Inner>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header_str = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let content_type = header_str(header::CONTENT_TYPE.as_str());
    let parsed_form = parse_form(content_type.as_deref(), &body);
    let request = RecordedRequest {
        method: method.to_string(),
        path: uri.path().to_owned(),
        idempotency_key: header_str("idempotency-key"),
        authorization: header_str(header::AUTHORIZATION.as_str()),
        content_type,
        form: parsed_form.clone().unwrap_or_default(),
    };

    // Stripe's hosted onboarding pages are for a browser: no API key, no failures.
    if let ["connect", "onboarding", token] = request
        .path
        .trim_start_matches('/')
        .split('/')
        .collect::<Vec<_>>()
        .as_slice()
    {
        return connect::onboarding_page(&state, token, method == Method::POST).await;
    }
    let failure = {
        let mut inner = lock(&state);
        inner.requests.push(request.clone());
        inner.failure
    };
    match failure {
        Some(Failure::Hang) => std::future::pending::<()>().await,
        Some(Failure::ServerError) => {
            return reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                error_body(
                    "api_error",
                    None,
                    None,
                    "An unknown error occurred (fake Stripe forced failure).",
                ),
            );
        }
        Some(Failure::BadRequest) => {
            return reply(
                StatusCode::BAD_REQUEST,
                error_body(
                    "invalid_request_error",
                    None,
                    None,
                    "The request was rejected (fake Stripe forced failure).",
                ),
            );
        }
        Some(Failure::WritesFail) if method == Method::POST => {
            return reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                error_body(
                    "api_error",
                    None,
                    None,
                    "An unknown error occurred (fake Stripe forced failure).",
                ),
            );
        }
        Some(Failure::LostResponse | Failure::WritesFail) | None => {}
    }
    let response = dispatch(&state, &method, &uri, &request, parsed_form);
    if failure == Some(Failure::LostResponse)
        && method == Method::POST
        && response.status().is_success()
    {
        return reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            error_body(
                "api_error",
                None,
                None,
                "An unknown error occurred (fake Stripe lost the answer).",
            ),
        );
    }
    response
}

/// Authenticates and routes one API request.
fn dispatch(
    state: &Mutex<Inner>,
    method: &Method,
    uri: &Uri,
    request: &RecordedRequest,
    parsed_form: Result<Vec<(String, String)>, ()>,
) -> Response {
    let mut inner = lock(state);
    if let Some(rejection) = check_auth(&inner.secret_key, request.authorization.as_deref()) {
        return rejection;
    }
    let Ok(form) = parsed_form else {
        return reply(
            StatusCode::BAD_REQUEST,
            error_body(
                "invalid_request_error",
                None,
                None,
                "Invalid request body: expected application/x-www-form-urlencoded parameters.",
            ),
        );
    };

    let segments: Vec<&str> = request.path.trim_start_matches('/').split('/').collect();
    match (method, segments.as_slice()) {
        (&Method::POST, ["v1", "checkout", "sessions"]) => {
            idempotent(&mut inner, request, form, |inner, form| {
                create_session(inner, form)
            })
        }
        (&Method::GET, ["v1", "checkout", "sessions", id]) => match inner.sessions.get(*id) {
            Some(session) => reply(StatusCode::OK, session.clone()),
            None => reply(
                StatusCode::NOT_FOUND,
                no_such("checkout.session", id, "session"),
            ),
        },
        (&Method::POST, ["v1", "checkout", "sessions", id, "expire"]) => {
            let id = (*id).to_owned();
            idempotent(&mut inner, request, form, move |inner, _| {
                expire_session(inner, &id)
            })
        }
        (&Method::POST, ["v1", "refunds"]) => {
            idempotent(&mut inner, request, form, |inner, form| {
                create_refund(inner, form)
            })
        }
        (&Method::POST, ["v1", "accounts"]) => {
            idempotent(&mut inner, request, form, connect::create_account)
        }
        (&Method::GET, ["v1", "accounts", id]) => connect::get_account(&inner, id),
        (&Method::POST, ["v1", "account_links"]) => {
            idempotent(&mut inner, request, form, connect::create_account_link)
        }
        (&Method::POST, ["v1", "transfers"]) => {
            idempotent(&mut inner, request, form, connect::create_transfer)
        }
        (&Method::GET, ["v1", "transfers"]) => {
            let query: Vec<(String, String)> =
                serde_urlencoded::from_str(uri.query().unwrap_or_default()).unwrap_or_default();
            connect::list_transfers(&inner, &query)
        }
        _ => reply(
            StatusCode::NOT_FOUND,
            error_body(
                "invalid_request_error",
                None,
                None,
                &format!(
                    "Unrecognized request URL ({method}: {}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.",
                    request.path
                ),
            ),
        ),
    }
}

/// Stripe takes the key as `Authorization: Bearer sk_...` (or HTTP Basic,
/// which UDAM does not use, so the fake insists on Bearer).
fn check_auth(secret_key: &str, authorization: Option<&str>) -> Option<Response> {
    let provided = authorization
        .and_then(|a| a.strip_prefix("Bearer "))
        .map(str::trim);
    match provided {
        Some(key) if key == secret_key => None,
        Some(key) if !key.is_empty() => Some(reply(
            StatusCode::UNAUTHORIZED,
            error_body(
                "invalid_request_error",
                None,
                None,
                &format!("Invalid API Key provided: {}", mask_key(key)),
            ),
        )),
        _ => Some(reply(
            StatusCode::UNAUTHORIZED,
            error_body(
                "invalid_request_error",
                None,
                None,
                "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, or we can help at https://support.stripe.com/.",
            ),
        )),
    }
}

/// Stripe echoes a wrong key with all but its prefix and last 4 characters masked.
fn mask_key(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    let prefix_len = key
        .rfind('_')
        .map(|i| key[..=i].chars().count())
        .unwrap_or(0)
        .min(chars.len());
    let tail_start = chars.len().saturating_sub(4).max(prefix_len);
    let prefix: String = chars[..prefix_len].iter().collect();
    let tail: String = chars[tail_start..].iter().collect();
    format!("{prefix}{}{tail}", "*".repeat(tail_start - prefix_len))
}

/// Replays the saved response for a repeated key, rejects a key reused with
/// different parameters, or runs `exec` and saves what it produced.
fn idempotent(
    inner: &mut Inner,
    request: &RecordedRequest,
    form: Vec<(String, String)>,
    exec: impl FnOnce(&mut Inner, &[(String, String)]) -> Outcome,
) -> Response {
    let key = request.idempotency_key.clone();
    if let Some(saved) = key.as_ref().and_then(|k| inner.idempotency.get(k)) {
        if saved.method == request.method && saved.path == request.path && saved.form == form {
            let mut response = reply(saved.status, saved.body.clone());
            response.headers_mut().insert(
                "idempotent-replayed",
                header::HeaderValue::from_static("true"),
            );
            return response;
        }
        let message = format!(
            "Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '{}' if you meant to execute a different request.",
            key.as_deref().unwrap_or_default()
        );
        return reply(
            StatusCode::BAD_REQUEST,
            error_body("idempotency_error", None, None, &message),
        );
    }
    match exec(inner, &form) {
        Outcome::NotSaved(status, body) => reply(status, body),
        Outcome::Saved(status, body) => {
            if let Some(key) = key {
                inner.idempotency.insert(
                    key,
                    Saved {
                        method: request.method.clone(),
                        path: request.path.clone(),
                        form,
                        status,
                        body: body.clone(),
                    },
                );
            }
            reply(status, body)
        }
    }
}

fn create_session(inner: &mut Inner, form: &[(String, String)]) -> Outcome {
    match build_session(form) {
        Ok(session) => {
            let id = session["id"].as_str().unwrap_or_default().to_owned();
            inner.sessions.insert(id, session.clone());
            Outcome::Saved(StatusCode::OK, session)
        }
        Err(error) => Outcome::NotSaved(StatusCode::BAD_REQUEST, error),
    }
}

/// Validates the parameters the way Stripe does for a `payment`-mode session
/// with inline `price_data`, and builds the session object.
fn build_session(form: &[(String, String)]) -> Result<Value, Value> {
    const ITEM: &str = "line_items[0]";
    let mode = required(form, "mode")?;
    if mode != "payment" {
        return Err(invalid_param(
            "mode",
            &format!("Invalid mode: the fake supports only `payment`, got `{mode}`."),
        ));
    }
    let currency = required(form, &format!("{ITEM}[price_data][currency]"))?;
    let unit_amount = integer(form, &format!("{ITEM}[price_data][unit_amount]"), 0)?;
    // Validated but not stored: Stripe keeps line items off the session
    // object unless `line_items` is expanded, which UDAM never asks for.
    required(form, &format!("{ITEM}[price_data][product_data][name]"))?;
    let quantity = integer(form, &format!("{ITEM}[quantity]"), 1)?;
    let success_url = required(form, "success_url")?;
    let now = now_unix();
    let expires_at = match value(form, "expires_at") {
        None => now + MAX_EXPIRY_SECS,
        Some(_) => {
            let at = integer(form, "expires_at", 0)?;
            if at < now + MIN_EXPIRY_SECS {
                return Err(invalid_param(
                    "expires_at",
                    "The `expires_at` timestamp must be at least 30 minutes from Checkout Session creation.",
                ));
            }
            if at > now + MAX_EXPIRY_SECS {
                return Err(invalid_param(
                    "expires_at",
                    "The `expires_at` timestamp must be less than 24 hours from Checkout Session creation.",
                ));
            }
            at
        }
    };
    let Some(amount_total) = unit_amount.checked_mul(quantity) else {
        return Err(invalid_param(
            &format!("{ITEM}[quantity]"),
            "The total amount is too large.",
        ));
    };
    let metadata: serde_json::Map<String, Value> = form
        .iter()
        .filter_map(|(k, v)| {
            let key = k.strip_prefix("metadata[")?.strip_suffix(']')?;
            Some((key.to_owned(), json!(v)))
        })
        .collect();
    let id = new_id("cs_test");
    Ok(json!({
        "id": id,
        "object": "checkout.session",
        "after_expiration": null,
        "allow_promotion_codes": null,
        "amount_subtotal": amount_total,
        "amount_total": amount_total,
        "cancel_url": value(form, "cancel_url"),
        "client_reference_id": value(form, "client_reference_id"),
        "created": now,
        "currency": currency.to_ascii_lowercase(),
        "customer": null,
        "customer_email": null,
        "expires_at": expires_at,
        "livemode": false,
        "locale": null,
        "metadata": metadata,
        "mode": "payment",
        "payment_intent": null,
        "payment_method_types": ["card"],
        "payment_status": "unpaid",
        "status": "open",
        "success_url": success_url,
        "url": format!("https://checkout.stripe.com/c/pay/{id}"),
    }))
}

fn expire_session(inner: &mut Inner, id: &str) -> Outcome {
    let Some(session) = inner.sessions.get_mut(id) else {
        return Outcome::Saved(
            StatusCode::NOT_FOUND,
            no_such("checkout.session", id, "session"),
        );
    };
    let status = session["status"].as_str().unwrap_or_default().to_owned();
    if status != "open" {
        return Outcome::Saved(
            StatusCode::BAD_REQUEST,
            error_body(
                "invalid_request_error",
                None,
                None,
                &format!(
                    "A Checkout Session can be expired when it is in one of these statuses: open. This Checkout Session's status is `{status}`."
                ),
            ),
        );
    }
    session["status"] = json!("expired");
    session["url"] = Value::Null;
    Outcome::Saved(StatusCode::OK, session.clone())
}

fn create_refund(inner: &mut Inner, form: &[(String, String)]) -> Outcome {
    let payment_intent = match required(form, "payment_intent") {
        Ok(pi) => pi.to_owned(),
        Err(error) => return Outcome::NotSaved(StatusCode::BAD_REQUEST, error),
    };
    let Some(payment) = inner.payments.get_mut(&payment_intent) else {
        return Outcome::Saved(
            StatusCode::BAD_REQUEST,
            no_such("payment_intent", &payment_intent, "payment_intent"),
        );
    };
    if payment.amount_refunded >= payment.amount {
        return Outcome::Saved(
            StatusCode::BAD_REQUEST,
            error_body(
                "invalid_request_error",
                Some("charge_already_refunded"),
                None,
                &format!("Charge {} has already been refunded.", payment.charge_id),
            ),
        );
    }
    let refunded_now = payment.amount - payment.amount_refunded;
    payment.amount_refunded = payment.amount;
    let refund = json!({
        "id": new_id("re"),
        "object": "refund",
        "amount": refunded_now,
        "balance_transaction": new_id("txn"),
        "charge": payment.charge_id,
        "created": now_unix(),
        "currency": payment.currency,
        "metadata": {},
        "payment_intent": payment_intent,
        "reason": null,
        "receipt_number": null,
        "source_transfer_reversal": null,
        "status": "succeeded",
        "transfer_reversal": null,
    });
    Outcome::Saved(StatusCode::OK, refund)
}

fn parse_form(content_type: Option<&str>, body: &[u8]) -> Result<Vec<(String, String)>, ()> {
    if body.is_empty() {
        return Ok(Vec::new());
    }
    let is_form =
        content_type.is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(());
    }
    serde_urlencoded::from_bytes(body).map_err(|_| ())
}

fn value<'a>(form: &'a [(String, String)], key: &str) -> Option<&'a str> {
    form.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// A required parameter: absent is `parameter_missing`; an empty string is
/// how Stripe's form encoding unsets a value, which a required one cannot be.
fn required<'a>(form: &'a [(String, String)], key: &str) -> Result<&'a str, Value> {
    match value(form, key) {
        None => Err(error_body(
            "invalid_request_error",
            Some("parameter_missing"),
            Some(key),
            &format!("Missing required param: {key}."),
        )),
        Some("") => Err(error_body(
            "invalid_request_error",
            Some("parameter_invalid_empty"),
            Some(key),
            &format!(
                "You passed an empty string for '{key}'. We assume empty values are an attempt to unset a parameter; however '{key}' cannot be unset. You should remove '{key}' from your request or supply a non-empty value."
            ),
        )),
        Some(v) => Ok(v),
    }
}

fn integer(form: &[(String, String)], key: &str, min: i64) -> Result<i64, Value> {
    let raw = required(form, key)?;
    let Ok(n) = raw.parse::<i64>() else {
        return Err(error_body(
            "invalid_request_error",
            Some("parameter_invalid_integer"),
            Some(key),
            &format!("Invalid integer: {raw}"),
        ));
    };
    if n < min {
        return Err(invalid_param(
            key,
            &format!("This value must be greater than or equal to {min}."),
        ));
    }
    Ok(n)
}

fn invalid_param(param: &str, message: &str) -> Value {
    error_body("invalid_request_error", None, Some(param), message)
}

fn no_such(object: &str, id: &str, param: &str) -> Value {
    error_body(
        "invalid_request_error",
        Some("resource_missing"),
        Some(param),
        &format!("No such {object}: '{id}'"),
    )
}

/// Stripe's error envelope: `{"error": {"type", "code"?, "param"?, "message", "doc_url"?}}`.
fn error_body(kind: &str, code: Option<&str>, param: Option<&str>, message: &str) -> Value {
    let mut error = json!({ "type": kind, "message": message });
    if let Some(code) = code {
        error["code"] = json!(code);
        error["doc_url"] = json!(format!(
            "https://stripe.com/docs/error-codes/{}",
            code.replace('_', "-")
        ));
    }
    if let Some(param) = param {
        error["param"] = json!(param);
    }
    json!({ "error": error })
}

fn reply(status: StatusCode, body: Value) -> Response {
    let request_id = new_id("req");
    (status, [("request-id", request_id)], axum::Json(body)).into_response()
}
