//! The HTTP surface: one router listing every route, the middleware stack, and the
//! OpenAPI document generated from the handlers.

pub mod errors;
pub mod hardening;
pub mod load;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod ops;
pub mod rate_limit;

use axum::Router;
use axum::body::Body;
use axum::extract::DefaultBodyLimit;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

/// Every API route under `/api/v1`, with its OpenAPI description.
pub fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(crate::accounts::handlers::routes())
        .merge(crate::listings::handlers::routes())
        .merge(crate::orders::handlers::routes())
        .merge(crate::tokens::handlers::routes())
        .merge(crate::payments::settlement::routes())
        .merge(crate::payments::earnings::routes())
        .merge(crate::payouts::routes())
        .merge(crate::payments::stripe::webhook_handler::routes())
        .merge(crate::webhooks::handlers::routes())
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
    let edge = &config.edge;
    let cors = hardening::cors_layer(&edge.cors_origins);
    let header_limit = edge.header_limit;
    let limits = state.clone();
    let load = state.request_load().clone();
    let hsts = middleware::hsts_layer(state.public_url());
    let mut api = api.merge(SwaggerUi::new("/docs").url("/api/openapi.json", doc));
    if state.payments.name() == crate::vocab::ProviderName::Dev {
        // Never mounted when a real provider is configured.
        api = api.merge(crate::payments::dev_checkout::routes());
    }
    // The web UI's pages share the router; they hold no fallback of their own.
    let router = api
        .merge(crate::web::routes())
        .merge(crate::graphql::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state);
    // Router::layer wraps every route and the fallbacks, so nothing escapes the
    // stack below; and it runs after routing, so MatchedPath is known.
    // Outermost first.
    router.layer(
        ServiceBuilder::new()
            // A client's request id is kept only if it follows the documented rule.
            .layer(axum::middleware::from_fn(
                middleware::drop_unacceptable_request_id,
            ))
            .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(middleware::request_span)
                    .on_request(())
                    .on_response(middleware::log_response)
                    .on_failure(()),
            )
            .layer(PropagateRequestIdLayer::x_request_id())
            // Sees the final status of everything below, 429s and 431s included.
            .layer(axum::middleware::from_fn_with_state(load, metrics::track))
            .layer(axum::middleware::from_fn(hardening::close_after_refusal))
            // Outside the limiter, so a browser can read a 429 too.
            .option_layer(cors)
            .layer(axum::middleware::from_fn(middleware::security_headers))
            .option_layer(hsts)
            // The one error pipeline: bare statuses become envelopes, and browsers
            // asking for a page get HTML errors (429s included).
            .layer(axum::middleware::from_fn(errors::render_errors))
            .layer(axum::middleware::from_fn_with_state(
                header_limit,
                hardening::header_limit,
            ))
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
            .layer(DefaultBodyLimit::max(body_limit))
            // Inside the body limits, because it reads login and register bodies for
            // the email; the limited body is boxed back into the `Body` it expects.
            .map_request(|r: axum::http::Request<tower_http::body::Limited<Body>>| r.map(Body::new))
            .layer(axum::middleware::from_fn_with_state(
                limits,
                rate_limit::enforce,
            )),
    )
}

/// Unknown routes: the JSON envelope under `/api`, `/docs` and `/dev`, where programs
/// call; a friendly HTML page everywhere else, where people browse.
async fn not_found(uri: Uri) -> Response {
    if crate::web::is_json_path(uri.path()) {
        ApiError::not_found("route").into_response()
    } else {
        crate::web::error_page(StatusCode::NOT_FOUND, "there is no page at this address")
    }
}

async fn method_not_allowed(uri: Uri) -> Response {
    let err = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::MethodNotAllowed,
        "this route does not accept that HTTP method",
    );
    if crate::web::is_json_path(uri.path()) {
        err.into_response()
    } else {
        crate::web::error_page(err.status(), "this address cannot be used that way")
    }
}
