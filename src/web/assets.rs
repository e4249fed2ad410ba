//! The UI's static files, compiled into the binary so that the server works from
//! any directory and needs nothing beside itself.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::state::AppState;

/// The stylesheet.
pub const APP_CSS: &str = include_str!("../../static/app.css");
/// The progressive-enhancement script (copy buttons).
pub const APP_JS: &str = include_str!("../../static/app.js");
/// The site icon.
pub const FAVICON_SVG: &str = include_str!("../../static/favicon.svg");

/// Short-lived public caching: the files change only with the binary.
const CACHE: &str = "public, max-age=3600";

/// `/static/…` and `/favicon.ico`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/static/app.css", get(css))
        .route("/static/app.js", get(js))
        .route("/static/favicon.svg", get(favicon))
        .route("/favicon.ico", get(favicon))
}

async fn css() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, CACHE),
        ],
        APP_CSS,
    )
}

async fn js() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, CACHE),
        ],
        APP_JS,
    )
}

async fn favicon() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, CACHE),
        ],
        FAVICON_SVG,
    )
}
