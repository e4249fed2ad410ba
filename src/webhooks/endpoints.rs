//! The rules behind the `/webhook-endpoints` API: who may see and change an
//! endpoint (its owner only; anyone else gets the same 404 as for no endpoint),
//! what an endpoint may hold, secrets shown once, rotation, retries and test events.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::store::{self, DeliveryRow, EndpointRow};
use super::{DeliveryStatus, DisabledReason, EventType, signing, target};
use crate::accounts::User;
use crate::clock::{now_ms, rfc3339};
use crate::crypto::{Purpose, Sealed};
use crate::error::ApiError;
use crate::ids::Entity;
use crate::pagination::{self, Page};
use crate::state::AppState;

/// Marks webhook endpoint ids (`whe_…`).
pub enum Endpoint {}
impl Entity for Endpoint {
    const PREFIX: &'static str = "whe";
    const NAME: &'static str = "webhook endpoint";
}

/// Marks webhook delivery ids (`whd_…`).
pub enum Delivery {}
impl Entity for Delivery {
    const PREFIX: &'static str = "whd";
    const NAME: &'static str = "webhook delivery";
}

/// How long a rotated-out secret keeps signing.
pub const ROTATION_GRACE: Duration = Duration::from_secs(24 * 3600);
/// Most endpoints one user may register.
pub const MAX_ENDPOINTS: usize = 20;
/// Longest description, in characters.
pub const MAX_DESCRIPTION: usize = 500;

/// The associated data a previous secret is sealed under (apart from the current
/// one's, so the two blobs cannot be swapped).
pub fn previous_aad(endpoint_id: &str) -> String {
    format!("{endpoint_id}/previous")
}

/// Body of `POST /webhook-endpoints`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEndpoint {
    /// Where events are posted: https (http only on servers started with
    /// `--gateway-allow-http`), never an internal address.
    #[schema(max_length = 2048, example = "https://example.com/hooks/udam")]
    pub url: String,
    /// The event types to receive (at least one).
    #[schema(min_items = 1)]
    pub events: Vec<EventType>,
    /// A note for the owner.
    #[schema(max_length = 500, pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$")]
    #[serde(default)]
    pub description: Option<String>,
}

/// Body of `PATCH /webhook-endpoints/{id}`: every field optional.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateEndpoint {
    /// New URL.
    #[schema(max_length = 2048)]
    pub url: Option<String>,
    /// New event types (replaces the list).
    #[schema(min_items = 1)]
    pub events: Option<Vec<EventType>>,
    /// New note.
    #[schema(max_length = 500, pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$")]
    pub description: Option<String>,
    /// Enable or disable deliveries. Enabling clears a server-set disable.
    pub enabled: Option<bool>,
}

/// A webhook endpoint as its owner sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointView {
    /// `whe_…`
    pub id: String,
    /// Where events are posted.
    pub url: String,
    /// The owner's note.
    pub description: String,
    /// The event types it receives.
    pub events: Vec<EventType>,
    /// Whether events are delivered.
    pub enabled: bool,
    /// Set when the server disabled the endpoint (`failing`: five days of failed
    /// deliveries); re-enable it once the receiver works.
    pub disabled_reason: Option<DisabledReason>,
    /// Since when deliveries have failed without a success (RFC 3339), if they have.
    pub failing_since: Option<String>,
    /// The signing secret (`whsec_…`), only in the answer that created or rotated
    /// it; null everywhere else.
    pub secret: Option<String>,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// RFC 3339 UTC.
    pub updated_at: String,
}

impl EndpointView {
    fn of(row: &EndpointRow) -> Self {
        Self {
            id: row.id.clone(),
            url: row.url.clone(),
            description: row.description.clone(),
            events: row.events.clone(),
            enabled: row.enabled,
            disabled_reason: row.disabled_reason,
            failing_since: row.failing_since.map(rfc3339),
            secret: None,
            created_at: rfc3339(row.created_at),
            updated_at: rfc3339(row.updated_at),
        }
    }
}

/// A delivery of one event to one endpoint, with its latest attempt.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    /// `whd_…`
    pub id: String,
    /// The event (`webhook-id`).
    pub event_id: String,
    /// The event's type.
    pub event_type: EventType,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Attempts made so far.
    pub attempts: i64,
    /// When the next attempt is due (RFC 3339), while pending.
    pub next_attempt_at: Option<String>,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// The latest attempt's HTTP status, if an answer came.
    pub last_status_code: Option<i64>,
    /// The latest attempt's latency in milliseconds.
    pub last_latency_ms: Option<i64>,
    /// The start of the latest answer's body (512 bytes at most).
    pub last_response_excerpt: Option<String>,
    /// Why the latest attempt got no answer.
    pub last_error: Option<String>,
}

impl DeliveryView {
    fn of(row: DeliveryRow) -> Self {
        Self {
            next_attempt_at: (row.status == DeliveryStatus::Pending)
                .then(|| rfc3339(row.next_attempt_at)),
            id: row.id,
            event_id: row.event_id,
            event_type: row.event_type,
            status: row.status,
            attempts: row.attempts,
            created_at: rfc3339(row.created_at),
            last_status_code: row.last_status_code,
            last_latency_ms: row.last_latency_ms,
            last_response_excerpt: row.last_response_excerpt,
            last_error: row.last_error,
        }
    }
}

fn check_events(events: &[EventType]) -> Result<Vec<EventType>, ApiError> {
    let mut out: Vec<EventType> = Vec::new();
    for event in events {
        if *event == EventType::WebhookTest {
            return Err(ApiError::validation(
                "events",
                "webhook.test is sent on request only; it cannot be subscribed to",
            ));
        }
        if !out.contains(event) {
            out.push(*event);
        }
    }
    if out.is_empty() {
        return Err(ApiError::validation(
            "events",
            "must name at least one event type",
        ));
    }
    Ok(out)
}

fn check_description(raw: Option<&str>) -> Result<String, ApiError> {
    let text = raw.unwrap_or_default().trim();
    if text.chars().count() > MAX_DESCRIPTION {
        return Err(ApiError::validation(
            "description",
            format!("must be at most {MAX_DESCRIPTION} characters"),
        ));
    }
    if text.chars().any(char::is_control) {
        return Err(ApiError::validation(
            "description",
            "must not hold control characters",
        ));
    }
    Ok(text.to_owned())
}

async fn check_url(state: &AppState, raw: &str) -> Result<String, ApiError> {
    let policy = target::policy(&state.config);
    let url = target::parse_url(raw, policy)?;
    target::check_addresses(&url, policy).await?;
    Ok(url.to_string())
}

fn seal(state: &AppState, row_id: &str, secret: &str) -> Result<Sealed, ApiError> {
    state
        .keyring
        .seal(Purpose::WebhookSecret, row_id, secret.as_bytes())
        .map_err(ApiError::internal)
}

/// Registers an endpoint; the answer holds its secret, shown this once.
pub async fn create(
    state: &AppState,
    user: &User,
    req: CreateEndpoint,
) -> Result<EndpointView, ApiError> {
    let events = check_events(&req.events)?;
    let description = check_description(req.description.as_deref())?;
    let url = check_url(state, &req.url).await?;
    let id = crate::ids::new_id(Endpoint::PREFIX);
    let secret = signing::new_secret();
    let now = now_ms();
    let row = EndpointRow {
        secret: seal(state, &id, secret.expose())?,
        id,
        user_id: user.id.clone(),
        url,
        description,
        enabled: true,
        disabled_reason: None,
        failing_since: None,
        events,
        previous: None,
        created_at: now,
        updated_at: now,
    };
    if !store::insert_endpoint(&state.db, &row, MAX_ENDPOINTS).await? {
        return Err(ApiError::validation(
            "url",
            format!("at most {MAX_ENDPOINTS} endpoints per account; delete one first"),
        ));
    }
    let mut view = EndpointView::of(&row);
    view.secret = Some(secret.expose().to_owned());
    Ok(view)
}

/// The caller's endpoint, or 404 (also for someone else's: existence is not shown).
async fn owned(state: &AppState, user: &User, id: &str) -> Result<EndpointRow, ApiError> {
    match store::get_endpoint(&state.db, id).await? {
        Some(row) if row.user_id == user.id => Ok(row),
        _ => Err(ApiError::not_found(Endpoint::NAME)),
    }
}

/// A page of the caller's endpoints, newest first.
pub async fn list(
    state: &AppState,
    user: &User,
    page: &Page,
) -> Result<(Vec<EndpointView>, Option<String>), ApiError> {
    let rows = store::list_endpoints(&state.db, &user.id, page).await?;
    let (rows, next) = pagination::finish(rows, page.limit, |r| (r.created_at, r.id.clone()));
    Ok((rows.iter().map(EndpointView::of).collect(), next))
}

/// One of the caller's endpoints.
pub async fn get(state: &AppState, user: &User, id: &str) -> Result<EndpointView, ApiError> {
    Ok(EndpointView::of(&owned(state, user, id).await?))
}

/// Changes one of the caller's endpoints.
pub async fn update(
    state: &AppState,
    user: &User,
    id: &str,
    req: UpdateEndpoint,
) -> Result<EndpointView, ApiError> {
    let mut row = owned(state, user, id).await?;
    if let Some(events) = &req.events {
        row.events = check_events(events)?;
    }
    if let Some(description) = &req.description {
        row.description = check_description(Some(description))?;
    }
    if let Some(url) = &req.url {
        row.url = check_url(state, url).await?;
    }
    if let Some(enabled) = req.enabled {
        if enabled && !row.enabled {
            row.disabled_reason = None;
            row.failing_since = None;
        }
        row.enabled = enabled;
    }
    let now = now_ms();
    if !store::update_endpoint(&state.db, &row, now).await? {
        return Err(ApiError::not_found(Endpoint::NAME));
    }
    row.updated_at = now;
    Ok(EndpointView::of(&row))
}

/// Deletes one of the caller's endpoints and its delivery history.
pub async fn delete(state: &AppState, user: &User, id: &str) -> Result<(), ApiError> {
    let row = owned(state, user, id).await?;
    store::delete_endpoint(&state.db, &row.id).await?;
    Ok(())
}

/// Issues a new secret; the old one keeps signing (a second signature) for 24 h.
pub async fn rotate(state: &AppState, user: &User, id: &str) -> Result<EndpointView, ApiError> {
    let row = owned(state, user, id).await?;
    let old = state
        .keyring
        .open(
            Purpose::WebhookSecret,
            &row.id,
            &row.secret.key_id,
            &row.secret.blob,
        )
        .map_err(ApiError::internal)?;
    let secret = signing::new_secret();
    let sealed = seal(state, &row.id, secret.expose())?;
    let previous = seal(state, &previous_aad(&row.id), old.expose())?;
    let now = now_ms();
    let grace = i64::try_from(ROTATION_GRACE.as_millis()).unwrap_or(i64::MAX);
    store::rotate_secret(&state.db, &row.id, &sealed, &previous, now + grace, now).await?;
    let mut view = EndpointView::of(&row);
    view.updated_at = rfc3339(now);
    view.secret = Some(secret.expose().to_owned());
    Ok(view)
}

/// A page of one of the caller's endpoints' deliveries, newest first.
pub async fn deliveries(
    state: &AppState,
    user: &User,
    id: &str,
    page: &Page,
) -> Result<(Vec<DeliveryView>, Option<String>), ApiError> {
    let row = owned(state, user, id).await?;
    let rows = store::list_deliveries(&state.db, &row.id, page).await?;
    let (rows, next) = pagination::finish(rows, page.limit, |r| (r.created_at, r.id.clone()));
    Ok((rows.into_iter().map(DeliveryView::of).collect(), next))
}

/// Makes one of the caller's deliveries due again now.
pub async fn retry(state: &AppState, user: &User, delivery_id: &str) -> Result<(), ApiError> {
    let not_found = || ApiError::not_found(Delivery::NAME);
    let endpoint_id = store::delivery_endpoint(&state.db, delivery_id)
        .await?
        .ok_or_else(not_found)?;
    owned(state, user, &endpoint_id)
        .await
        .map_err(|_| not_found())?;
    store::retry_delivery(&state.db, delivery_id, now_ms()).await?;
    Ok(())
}

/// What `POST …/{id}/test` queued.
#[derive(Debug, Serialize, ToSchema)]
pub struct TestQueued {
    /// The delivery to watch in `…/deliveries`.
    pub delivery_id: String,
}

/// Test events one account may queue per minute. Every test is a delivery with its
/// retries, in the queue all accounts' deliveries share: without a bound, one
/// account pointing an endpoint at a server that never answers could keep the
/// delivery workers busy with its tests alone.
pub const TESTS_PER_MINUTE: u32 = 10;

/// Queues a `webhook.test` event to one of the caller's endpoints (at most
/// [`TESTS_PER_MINUTE`] per account, then 429).
pub async fn send_test(state: &AppState, user: &User, id: &str) -> Result<TestQueued, ApiError> {
    let row = owned(state, user, id).await?;
    let decision = state
        .limiter
        .check(
            &format!("webhook-test-user:{}", user.id),
            crate::ratelimit::Quota::per_minute(TESTS_PER_MINUTE),
        )
        .await;
    if !decision.allowed {
        let secs = decision.retry_after.map_or(1, |d| d.as_secs().max(1));
        return Err(ApiError::rate_limited(secs));
    }
    let object = serde_json::json!({
        "endpoint_id": row.id,
        "message": "a test event sent from UDAM",
    })
    .to_string();
    let delivery_id = store::insert_test_event(&state.db, &row, &object, now_ms())
        .await?
        .ok_or_else(|| ApiError::not_found(Endpoint::NAME))?;
    Ok(TestQueued { delivery_id })
}
