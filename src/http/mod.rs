//! The HTTP surface: one router listing every route, the middleware stack, and the
//! OpenAPI document generated from the handlers.

pub mod extract;
pub mod json_int;
pub mod middleware;
pub mod openapi;
pub mod ops;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

pub use extract::{ApiJson, ApiQuery};

use crate::error::ApiError;
use crate::state::AppState;

/// Every API route under `/api/v1`, with its OpenAPI description.
pub fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(crate::accounts::handlers::routes())
        .merge(crate::listings::handlers::routes())
        .merge(crate::orders::handlers::routes())
        .merge(crate::tokens::handlers::routes())
        .merge(crate::payments::settlement::routes())
        .merge(crate::payments::webhook_handler::routes())
}

/// The API router and its OpenAPI document, before state and middleware.
pub fn routes_and_doc() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut doc) = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .nest("/api/v1", api_routes())
        .merge(ops::routes())
        .split_for_parts();
    openapi::finish(&mut doc);
    (router, doc)
}

/// The complete application: routes, docs, fallbacks and middleware.
pub fn app(state: AppState) -> Router {
    let (api, mut doc) = routes_and_doc();
    let config = &state.config;
    openapi::set_max_units_per_order(&mut doc, config.max_units_per_order);
    let request_timeout = config.request_timeout.0;
    let body_limit = config.body_limit;
    let mut api = api.merge(SwaggerUi::new("/docs").url("/api/openapi.json", doc));
    if state.payments.name() == "dev" {
        // Never mounted when a real provider is configured.
        api = api.merge(crate::payments::dev_checkout::routes());
    }
    let router = api
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state);
    router.layer(
        ServiceBuilder::new()
            .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(middleware::request_span)
                    .on_request(())
                    .on_response(middleware::log_response)
                    .on_failure(()),
            )
            .layer(PropagateRequestIdLayer::x_request_id())
            .layer(axum::middleware::from_fn(middleware::security_headers))
            .layer(axum::middleware::from_fn(middleware::envelope_fallback))
            .layer(CatchPanicLayer::custom(|_| {
                axum::response::IntoResponse::into_response(ApiError::internal(anyhow::anyhow!(
                    "a handler panicked"
                )))
            }))
            .layer(TimeoutLayer::with_status_code(
                StatusCode::SERVICE_UNAVAILABLE,
                request_timeout,
            ))
            // The hard cap admits the largest per-route limit; each route's own limit
            // (the 64 KiB default, more for listings) applies inside it.
            .layer(RequestBodyLimitLayer::new(
                body_limit.max(crate::listings::handlers::LISTING_BODY_LIMIT),
            ))
            .layer(DefaultBodyLimit::max(body_limit)),
    )
}

async fn not_found() -> ApiError {
    ApiError::not_found("route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not accept that HTTP method",
    )
}
