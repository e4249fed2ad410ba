//! The web UI: server-rendered pages for the whole marketplace, served by the same
//! binary as the JSON API. No build step, nothing loaded from another origin, and
//! every action is a plain HTML form, so it all works with JavaScript off; the one
//! local script only adds copy buttons.
//!
//! Pages call the same service functions as the JSON API (`accounts`, `listings`,
//! `orders`, `tokens`, `payments::settlement`); nothing here re-implements a
//! business rule. The only queries of its own are read-only: a seller's listings of
//! every status, the grant of an order, and a buyer's settlement.
//!
//! Browser sessions are the API's sessions carried in an `HttpOnly` cookie, and every
//! form POST carries a CSRF token (see [`csrf`]). The JSON API never reads the cookie.
//!
//! Map:
//! * [`session`]: the session cookie, the `Viewer` / `SignedIn` extractors, `next` links.
//! * [`csrf`]: the `Protected` / `AnonForm` form extractors; [`csrf_token`] the token values.
//! * [`failure`]: the `WebError` type; [`error`]: the friendly error pages it renders as.
//! * [`form_limits`]: the API's stricter rate limits applied to the sign-in, sign-up and
//!   buy forms.
//! * [`layout`]: what every page shows (navigation, notices) and rendering.
//! * [`money_input`]: prices typed in major units (`2.50`) to and from minor units.
//! * [`browse`], [`auth`], [`orders`], [`tokens`], [`balance`], [`sell`],
//!   [`dashboard`]: the pages.
//! * [`developers`]: the webhook endpoints page.
//! * [`insights`]: the dashboard's and buyer pages' figures ([`dashboard_stats`] queries
//!   them, [`chart`] draws them as inline SVG).
//! * [`assets`]: the stylesheet, script and icon, compiled into the binary.
//! * [`demo`]: `udam demo`, demo data for an empty database.

pub mod assets;
pub mod auth;
pub mod balance;
pub mod browse;
pub mod chart;
pub mod csrf;
pub mod csrf_token;
pub mod dashboard;
pub mod dashboard_stats;
pub mod demo;
pub mod developers;
pub mod error;
pub mod failure;
pub mod form_limits;
pub mod insights;
pub mod layout;
pub mod money_input;
pub mod orders;
pub mod payouts_account;
pub mod sell;
pub mod seo;
pub mod session;
pub mod tokens;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

use crate::listings::handlers::LISTING_BODY_LIMIT;
use crate::state::AppState;

pub use error::{WebError, error_page};

/// Every page and form route of the UI. It has no fallback of its own: the
/// application's fallback answers HTML for these paths (see `http::app`). The
/// listing forms get the API's larger listing body limit: a 10,000-character
/// description can take far more than 64 KiB once form-encoded.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(browse::home))
        .route("/listings/{id}", get(browse::detail))
        .route("/robots.txt", get(seo::robots))
        .route("/sitemap.xml", get(seo::sitemap))
        .route("/sitemaps/{file}", get(seo::sitemap_part))
        .route("/listings/{id}/buy", post(browse::buy))
        .route("/signup", get(auth::signup_page).post(auth::signup))
        .route("/signin", get(auth::signin_page).post(auth::signin))
        .route("/signout", post(auth::signout))
        .route("/orders", get(orders::list))
        .route("/orders/{id}/cancel", post(orders::cancel))
        .route("/orders/{id}/pay", get(orders::pay))
        .route("/orders/{id}/success", get(orders::success))
        .route("/orders/{id}/cancelled", get(orders::cancelled))
        .route("/tokens", get(tokens::list))
        .route("/tokens/{id}/roll", post(tokens::roll))
        .route("/balance", get(balance::page))
        .route("/balance/settle", post(balance::settle))
        .route("/balance/settlements/{id}/pay", get(balance::pay))
        .route(
            "/sell",
            get(sell::page)
                .post(sell::create)
                .layer(DefaultBodyLimit::max(LISTING_BODY_LIMIT)),
        )
        .route("/dashboard", get(dashboard::page))
        .route("/dashboard/payouts", get(payouts_account::page))
        .route("/dashboard/payouts/onboard", post(payouts_account::onboard))
        .route(
            "/dashboard/listings/{id}/edit",
            post(dashboard::edit).layer(DefaultBodyLimit::max(LISTING_BODY_LIMIT)),
        )
        .route(
            "/dashboard/listings/{id}/status",
            post(dashboard::set_status),
        )
        .route("/dashboard/listings/{id}/archive", post(dashboard::archive))
        .route(
            "/dashboard/tokens/{id}/revoke",
            post(dashboard::revoke_token),
        )
        .route("/developers", get(developers::page))
        .route("/developers/endpoints", post(developers::create))
        .route(
            "/developers/endpoints/{id}/enabled",
            post(developers::set_enabled),
        )
        .route(
            "/developers/endpoints/{id}/rotate",
            post(developers::rotate),
        )
        .route(
            "/developers/endpoints/{id}/test",
            post(developers::send_test),
        )
        .route(
            "/developers/endpoints/{id}/delete",
            post(developers::delete),
        )
        .route("/developers/deliveries/{id}/retry", post(developers::retry))
        .merge(assets::routes())
}

/// True for paths that belong to the JSON side of the server (API, API docs, dev
/// checkout, and the operational endpoints that probes and scrapers call), whose
/// errors must stay JSON envelopes; every other path is a page.
pub fn is_json_path(path: &str) -> bool {
    [
        "/api", "/docs", "/dev", "/metrics", "/healthz", "/readyz", "/graphql",
    ]
    .iter()
    .any(|prefix| path == *prefix || path.starts_with(&format!("{prefix}/")))
}

#[cfg(test)]
mod tests {
    use super::is_json_path;

    #[test]
    fn json_paths_are_whole_segments() {
        assert!(is_json_path("/api/v1/nope"));
        assert!(is_json_path("/api"));
        assert!(is_json_path("/docs/"));
        assert!(is_json_path("/dev/checkout/x"));
        assert!(is_json_path("/metrics"));
        assert!(is_json_path("/healthz"));
        assert!(!is_json_path("/apiary"));
        assert!(!is_json_path("/nope"));
        assert!(!is_json_path("/"));
    }
}
