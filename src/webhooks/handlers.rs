//! HTTP handlers of the `/webhook-endpoints` API: thin, each calls [`super::endpoints`].

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::endpoints::{
    self, CreateEndpoint, Delivery, DeliveryView, Endpoint, EndpointView, TestQueued,
    UpdateEndpoint,
};
use crate::accounts::AuthUser;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiQuery};
use crate::ids::Id;
use crate::pagination::PageQuery;
use crate::state::AppState;

/// The webhook routes, relative to `/api/v1`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_endpoint, list_endpoints))
        .routes(routes!(get_endpoint, update_endpoint, delete_endpoint))
        .routes(routes!(rotate_secret))
        .routes(routes!(send_test))
        .routes(routes!(list_deliveries))
        .routes(routes!(retry_delivery))
}

/// A page of endpoints.
#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointPage {
    /// Endpoints, newest first.
    pub items: Vec<EndpointView>,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// A page of deliveries.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryPage {
    /// Deliveries, newest first.
    pub items: Vec<DeliveryView>,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// Registers a webhook endpoint. The answer holds its signing secret, shown this once.
#[utoipa::path(post, path = "/webhook-endpoints", tag = "webhooks",
    security(("bearer" = [])),
    request_body = CreateEndpoint,
    responses(
        (status = 201, description = "Registered; `secret` is shown this once", body = EndpointView),
        (status = 422, description = "A field is invalid (the URL is not https or names an internal address, …)", body = crate::error::ErrorBody),
    ))]
async fn create_endpoint(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(req): ApiJson<CreateEndpoint>,
) -> ApiResult<(StatusCode, Json<EndpointView>)> {
    let view = endpoints::create(&state, &auth.user, req).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// The caller's webhook endpoints.
#[utoipa::path(get, path = "/webhook-endpoints", tag = "webhooks",
    security(("bearer" = [])),
    params(PageQuery),
    responses((status = 200, description = "A page of endpoints", body = EndpointPage)))]
async fn list_endpoints(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> ApiResult<Json<EndpointPage>> {
    let page = query.parse()?;
    let (items, next_cursor) = endpoints::list(&state, &auth.user, &page).await?;
    Ok(Json(EndpointPage { items, next_cursor }))
}

/// One of the caller's webhook endpoints.
#[utoipa::path(get, path = "/webhook-endpoints/{id}", tag = "webhooks",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Endpoint id")),
    responses(
        (status = 200, description = "The endpoint", body = EndpointView),
        (status = 404, description = "No such endpoint of the caller's", body = crate::error::ErrorBody),
    ))]
async fn get_endpoint(
    State(state): State<AppState>,
    auth: AuthUser,
    id: Id<Endpoint>,
) -> ApiResult<Json<EndpointView>> {
    Ok(Json(endpoints::get(&state, &auth.user, &id).await?))
}

/// Changes a webhook endpoint: URL, events, description, enabled.
#[utoipa::path(patch, path = "/webhook-endpoints/{id}", tag = "webhooks",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Endpoint id")),
    request_body = UpdateEndpoint,
    responses(
        (status = 200, description = "Updated", body = EndpointView),
        (status = 404, description = "No such endpoint of the caller's", body = crate::error::ErrorBody),
    ))]
async fn update_endpoint(
    State(state): State<AppState>,
    auth: AuthUser,
    id: Id<Endpoint>,
    ApiJson(req): ApiJson<UpdateEndpoint>,
) -> ApiResult<Json<EndpointView>> {
    Ok(Json(endpoints::update(&state, &auth.user, &id, req).await?))
}

/// Deletes a webhook endpoint and its delivery history.
#[utoipa::path(delete, path = "/webhook-endpoints/{id}", tag = "webhooks",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Endpoint id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such endpoint of the caller's", body = crate::error::ErrorBody),
    ))]
async fn delete_endpoint(
    State(state): State<AppState>,
    auth: AuthUser,
    id: Id<Endpoint>,
) -> ApiResult<StatusCode> {
    endpoints::delete(&state, &auth.user, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Issues a new signing secret (shown this once); the old one keeps signing beside it
/// for 24 hours.
#[utoipa::path(post, path = "/webhook-endpoints/{id}/rotate-secret", tag = "webhooks",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Endpoint id")),
    responses(
        (status = 200, description = "Rotated; `secret` is the new one, shown this once", body = EndpointView),
        (status = 404, description = "No such endpoint of the caller's", body = crate::error::ErrorBody),
    ))]
async fn rotate_secret(
    State(state): State<AppState>,
    auth: AuthUser,
    id: Id<Endpoint>,
) -> ApiResult<Json<EndpointView>> {
    Ok(Json(endpoints::rotate(&state, &auth.user, &id).await?))
}

/// Sends a `webhook.test` event to the endpoint (delivered like any other event).
#[utoipa::path(post, path = "/webhook-endpoints/{id}/test", tag = "webhooks",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Endpoint id")),
    responses(
        (status = 202, description = "Queued", body = TestQueued),
        (status = 404, description = "No such endpoint of the caller's", body = crate::error::ErrorBody),
    ))]
async fn send_test(
    State(state): State<AppState>,
    auth: AuthUser,
    id: Id<Endpoint>,
) -> ApiResult<(StatusCode, Json<TestQueued>)> {
    let queued = endpoints::send_test(&state, &auth.user, &id).await?;
    Ok((StatusCode::ACCEPTED, Json(queued)))
}

/// The endpoint's deliveries: status, attempts, latest latency and answer.
#[utoipa::path(get, path = "/webhook-endpoints/{id}/deliveries", tag = "webhooks",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Endpoint id"), PageQuery),
    responses(
        (status = 200, description = "A page of deliveries", body = DeliveryPage),
        (status = 404, description = "No such endpoint of the caller's", body = crate::error::ErrorBody),
    ))]
async fn list_deliveries(
    State(state): State<AppState>,
    auth: AuthUser,
    id: Id<Endpoint>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> ApiResult<Json<DeliveryPage>> {
    let page = query.parse()?;
    let (items, next_cursor) = endpoints::deliveries(&state, &auth.user, &id, &page).await?;
    Ok(Json(DeliveryPage { items, next_cursor }))
}

/// Sends a delivery again now (same event, same `webhook-id`).
#[utoipa::path(post, path = "/webhook-endpoints/deliveries/{id}/retry", tag = "webhooks",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Delivery id")),
    responses(
        (status = 202, description = "Due now"),
        (status = 404, description = "No such delivery of the caller's", body = crate::error::ErrorBody),
    ))]
async fn retry_delivery(
    State(state): State<AppState>,
    auth: AuthUser,
    id: Id<Delivery>,
) -> ApiResult<StatusCode> {
    endpoints::retry(&state, &auth.user, &id).await?;
    Ok(StatusCode::ACCEPTED)
}
