//! The Developers page: a user's webhook endpoints (create, enable or disable, rotate
//! the secret, send a test event, delete), each with its recent deliveries and a
//! retry button. Every action calls `webhooks::endpoints`, the same rules as the
//! JSON API; a secret appears only on the page answering the form that made it.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::auth::NoFields;
use super::csrf::Protected;
use super::error::{WebError, form_message};
use super::layout::{IdPath, Layout, Notice, WebQuery, render, when_rfc3339};
use super::session::SignedIn;
use crate::error::ApiError;
use crate::pagination::Page;
use crate::state::AppState;
use crate::webhooks::EventType;
use crate::webhooks::endpoints::{
    self, CreateEndpoint, DeliveryView, EndpointView, UpdateEndpoint,
};

/// Deliveries shown per endpoint.
const RECENT_DELIVERIES: i64 = 10;

/// `?done=…` after an action: a fixed confirmation, nothing from the URL shown.
#[derive(Default, Deserialize)]
pub struct DevQuery {
    done: Option<String>,
}

fn done_text(name: &str) -> Option<&'static str> {
    Some(match name {
        "enabled" => "The endpoint is enabled.",
        "disabled" => "The endpoint is disabled: no events are sent to it.",
        "test_sent" => "A test event is on its way; its delivery appears below.",
        "retried" => "The delivery will be sent again now.",
        "deleted" => "The endpoint and its delivery history were deleted.",
        _ => return None,
    })
}

/// One event type as a checkbox.
struct EventChoice {
    name: &'static str,
    meaning: &'static str,
}

/// An endpoint with its recent deliveries.
struct EndpointCard {
    view: EndpointView,
    events: String,
    failing: Option<String>,
    deliveries: Vec<DeliveryRow>,
}

/// A delivery as a table row.
struct DeliveryRow {
    view: DeliveryView,
    created: String,
    answer: String,
}

impl DeliveryRow {
    fn new(view: DeliveryView) -> Self {
        let answer = match (&view.last_status_code, &view.last_error) {
            (Some(code), _) => format!(
                "HTTP {code} in {} ms",
                view.last_latency_ms.unwrap_or_default()
            ),
            (None, Some(error)) => error.clone(),
            (None, None) => "not sent yet".to_owned(),
        };
        Self {
            created: when_rfc3339(&view.created_at),
            answer,
            view,
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "developers.html")]
struct DevelopersPage {
    layout: Layout,
    error: Option<String>,
    /// A secret just issued (created or rotated), shown this once: (endpoint, secret).
    secret: Option<(String, String)>,
    choices: Vec<EventChoice>,
    endpoints: Vec<EndpointCard>,
    /// Some endpoint was disabled by the server for failing.
    any_failing: bool,
}

async fn developers(
    state: &AppState,
    me: &SignedIn,
    done: Option<&'static str>,
    failed: Option<(StatusCode, String)>,
    secret: Option<(String, String)>,
) -> Result<Response, WebError> {
    let first = Page {
        limit: endpoints::MAX_ENDPOINTS as i64,
        before: (i64::MAX, String::new()),
    };
    let (views, _) = endpoints::list(state, &me.user, &first).await?;
    let recent = Page {
        limit: RECENT_DELIVERIES,
        before: (i64::MAX, String::new()),
    };
    let mut cards = Vec::with_capacity(views.len());
    for view in views {
        let (deliveries, _) = endpoints::deliveries(state, &me.user, &view.id, &recent).await?;
        cards.push(EndpointCard {
            events: view
                .events
                .iter()
                .map(|e| e.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            failing: view.failing_since.as_deref().map(when_rfc3339),
            deliveries: deliveries.into_iter().map(DeliveryRow::new).collect(),
            view,
        });
    }
    let (status, error) = match failed {
        Some((status, message)) => (status, Some(message)),
        None => (StatusCode::OK, None),
    };
    let page = DevelopersPage {
        layout: Layout::new(Some(me), "developers").with_notice(Notice(done)),
        error,
        secret,
        choices: EventType::ALL
            .iter()
            .filter(|e| **e != EventType::WebhookTest)
            .map(|e| EventChoice {
                name: e.as_str(),
                meaning: e.meaning(),
            })
            .collect(),
        any_failing: cards.iter().any(|c| c.view.disabled_reason.is_some()),
        endpoints: cards,
    };
    Ok(render(status, &page))
}

/// `GET /developers`.
pub async fn page(
    State(state): State<AppState>,
    me: SignedIn,
    WebQuery(query): WebQuery<DevQuery>,
) -> Result<Response, WebError> {
    let done = query.done.as_deref().and_then(done_text);
    developers(&state, &me, done, None, None).await
}

/// After an action: back to the page with a confirmation, or the page again with
/// the reason it was refused.
async fn after(
    state: &AppState,
    me: &SignedIn,
    result: Result<(), ApiError>,
    done: &str,
) -> Result<Response, WebError> {
    match result {
        Ok(()) => Ok(Redirect::to(&format!("/developers?done={done}")).into_response()),
        Err(err) if err.status().is_client_error() && err.status() != StatusCode::NOT_FOUND => {
            let failed = Some((err.status(), form_message(&err)));
            developers(state, me, None, failed, None).await
        }
        Err(err) => Err(err.into()),
    }
}

/// `POST /developers/endpoints`: url, description, and one `events` field per
/// checked event type. Answers with the page showing the new secret.
pub async fn create(
    State(state): State<AppState>,
    Protected { me, form }: Protected<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let mut events = Vec::new();
    for (key, value) in &form {
        if key == "events" {
            match value.parse::<EventType>() {
                Ok(event) => events.push(event),
                Err(_) => {
                    return after(
                        &state,
                        &me,
                        Err(ApiError::validation(
                            "events",
                            "names an unknown event type",
                        )),
                        "",
                    )
                    .await;
                }
            }
        }
    }
    let req = CreateEndpoint {
        url: field("url").trim().to_owned(),
        events,
        description: Some(field("description")),
    };
    match endpoints::create(&state, &me.user, req).await {
        Ok(view) => {
            let secret = view.secret.clone().map(|s| (view.id.clone(), s));
            developers(&state, &me, None, None, secret).await
        }
        Err(err) => after(&state, &me, Err(err), "").await,
    }
}

/// The enable / disable form.
#[derive(Deserialize)]
pub struct EnabledForm {
    #[serde(default)]
    enabled: String,
}

/// `POST /developers/endpoints/{id}/enabled`: `enabled=1` or `0`.
pub async fn set_enabled(
    State(state): State<AppState>,
    IdPath(id): IdPath,
    Protected { me, form }: Protected<EnabledForm>,
) -> Result<Response, WebError> {
    let enabled = form.enabled == "1";
    let update = UpdateEndpoint {
        enabled: Some(enabled),
        ..UpdateEndpoint::default()
    };
    let result = endpoints::update(&state, &me.user, &id, update)
        .await
        .map(drop);
    after(
        &state,
        &me,
        result,
        if enabled { "enabled" } else { "disabled" },
    )
    .await
}

/// `POST /developers/endpoints/{id}/rotate`: answers with the page showing the new
/// secret.
pub async fn rotate(
    State(state): State<AppState>,
    IdPath(id): IdPath,
    Protected { me, .. }: Protected<NoFields>,
) -> Result<Response, WebError> {
    let view = endpoints::rotate(&state, &me.user, &id).await?;
    let secret = view.secret.clone().map(|s| (view.id.clone(), s));
    developers(&state, &me, None, None, secret).await
}

/// `POST /developers/endpoints/{id}/test`.
pub async fn send_test(
    State(state): State<AppState>,
    IdPath(id): IdPath,
    Protected { me, .. }: Protected<NoFields>,
) -> Result<Response, WebError> {
    let result = endpoints::send_test(&state, &me.user, &id).await.map(drop);
    after(&state, &me, result, "test_sent").await
}

/// `POST /developers/endpoints/{id}/delete`.
pub async fn delete(
    State(state): State<AppState>,
    IdPath(id): IdPath,
    Protected { me, .. }: Protected<NoFields>,
) -> Result<Response, WebError> {
    let result = endpoints::delete(&state, &me.user, &id).await;
    after(&state, &me, result, "deleted").await
}

/// `POST /developers/deliveries/{id}/retry`.
pub async fn retry(
    State(state): State<AppState>,
    IdPath(id): IdPath,
    Protected { me, .. }: Protected<NoFields>,
) -> Result<Response, WebError> {
    let result = endpoints::retry(&state, &me.user, &id).await;
    after(&state, &me, result, "retried").await
}
