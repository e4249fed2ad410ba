//! What every page shares (navigation, the signed-in user, the one-line notice after
//! an action) and how pages become responses.

use askama::Template;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::session::SignedIn;
use crate::state::AppState;
use crate::vocab::{ListingAvailability, OrderStatus};

/// The parts of the base layout (`templates/base.html`).
#[derive(Clone, Default)]
pub struct Layout {
    /// The signed-in user's name, or `None` when signed out.
    pub user: Option<String>,
    /// The session's CSRF token, for the sign-out form (empty when signed out).
    pub csrf: String,
    /// Which navigation entry is current (`browse`, `orders`, …).
    pub nav: &'static str,
    /// A confirmation to show at the top, after an action.
    pub notice: Option<&'static str>,
    /// Error pages: no account links, since the viewer is not known there.
    pub minimal: bool,
}

impl Layout {
    /// The layout for `viewer`, with `nav` highlighted.
    pub fn new(viewer: Option<&SignedIn>, nav: &'static str) -> Self {
        Self {
            user: viewer.map(SignedIn::label),
            csrf: viewer.map(|v| v.csrf.clone()).unwrap_or_default(),
            nav,
            notice: None,
            minimal: false,
        }
    }

    /// The layout of error pages.
    pub fn minimal() -> Self {
        Self {
            minimal: true,
            ..Self::default()
        }
    }

    /// Adds the notice named in the query string, if any.
    pub fn with_notice(mut self, notice: Notice) -> Self {
        self.notice = notice.0;
        self
    }

    /// True when `item` is the current navigation entry.
    pub fn is(&self, item: &str) -> bool {
        self.nav == item
    }
}

/// Markup served if a template itself fails to render (it never should).
const RENDER_FAILED: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
    <title>Error · UDAM</title><link rel=\"stylesheet\" href=\"/static/app.css\"></head>\
    <body><main><h1>Something went wrong on our side</h1><p>It has been logged. \
    <a href=\"/\">Back to the marketplace</a></p></main></body></html>";

/// Renders a page with `status`. Pages are never cached: they show who is signed
/// in, and the tokens page shows secrets.
pub fn render<T: Template>(status: StatusCode, page: &T) -> Response {
    match page.render() {
        Ok(html) => (
            status,
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            html,
        )
            .into_response(),
        Err(err) => {
            tracing::error!(error = %err, "a page template failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                RENDER_FAILED,
            )
                .into_response()
        }
    }
}

/// Renders a page with 200.
pub fn ok<T: Template>(page: &T) -> Response {
    render(StatusCode::OK, page)
}

/// The confirmation named by `?notice=…` after a redirect. Only known names are
/// shown, as fixed text: nothing from the URL reaches the page.
#[derive(Clone, Copy, Debug, Default)]
pub struct Notice(pub Option<&'static str>);

impl Notice {
    /// The text of a notice name.
    pub fn text(name: &str) -> Option<&'static str> {
        Some(match name {
            "welcome" => "Welcome! Your account is ready.",
            "signed_in" => "You are signed in.",
            "signed_out" => "You are signed out.",
            "listing_created" => "Your listing is live.",
            "listing_updated" => "The listing was updated.",
            "listing_paused" => {
                "The listing is paused: buyers cannot order it until you resume it."
            }
            "listing_resumed" => "The listing is for sale again.",
            "listing_archived" => "The listing was archived. Tokens already issued keep working.",
            "token_revoked" => "The token was revoked. Its buyer can no longer use it.",
            "order_cancelled" => {
                "The order was cancelled and its units released. Nothing was charged."
            }
            "order_fulfilled" => "Your order is fulfilled. Your token is below.",
            _ => return None,
        })
    }
}

#[derive(Deserialize)]
struct NoticeQuery {
    notice: Option<String>,
}

impl FromRequestParts<AppState> for Notice {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Self::Rejection> {
        let name = parts
            .uri
            .query()
            .and_then(|q| serde_urlencoded::from_str::<NoticeQuery>(q).ok())
            .and_then(|q| q.notice);
        Ok(Self(name.as_deref().and_then(Self::text)))
    }
}

/// Query parameters of a page. Unlike axum's `Query`, a malformed query string
/// gets the HTML error page, not the API's JSON envelope.
pub struct WebQuery<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequestParts<S> for WebQuery<T> {
    type Rejection = super::failure::WebError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        serde_urlencoded::from_str(parts.uri.query().unwrap_or_default())
            .map(Self)
            .map_err(|_| {
                crate::error::ApiError::bad_request(
                    crate::error::ErrorCode::BadQuery,
                    "this address has a malformed query; go back and try again",
                )
                .into()
            })
    }
}

/// An opaque id from the path (`lst_…`, `ord_…`, `tok_…`, `stl_…`). Ids are short
/// URL-safe strings; anything else names nothing, so it gets the 404 page before
/// any query runs (PostgreSQL, for one, refuses text holding a NUL byte).
pub struct IdPath(pub String);

impl<S: Send + Sync> FromRequestParts<S> for IdPath {
    type Rejection = super::failure::WebError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let not_found = || crate::error::ApiError::not_found("page").into();
        let axum::extract::Path(id) =
            axum::extract::Path::<String>::from_request_parts(parts, state)
                .await
                .map_err(|_| not_found())?;
        if !is_id(&id) {
            return Err(not_found());
        }
        Ok(Self(id))
    }
}

/// True for text shaped like one of our ids: 1 to 64 of `A-Z a-z 0-9 _ -`.
pub fn is_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// A time (unix ms) as people read it: `2026-11-28 18:22 UTC`.
pub fn when(ms: i64) -> String {
    when_rfc3339(&crate::clock::rfc3339(ms))
}

/// An RFC 3339 UTC timestamp as people read it: `2026-11-28 18:22 UTC`.
pub fn when_rfc3339(text: &str) -> String {
    match (text.get(..10), text.get(11..16)) {
        (Some(date), Some(time)) => format!("{date} {time} UTC"),
        _ => text.to_owned(),
    }
}

/// An amount in a currency, as people read it (`$2.50`, `¥300`, `1.250 BHD`).
pub fn money(amount_minor: i64, currency: &str) -> String {
    match crate::money::currency(currency) {
        Some(c) => crate::money::format_minor(amount_minor, c),
        None => format!("{amount_minor} {}", currency.to_ascii_uppercase()),
    }
}

/// How a listing's status reads.
pub fn listing_status_label(status: ListingAvailability) -> &'static str {
    match status {
        ListingAvailability::Active => "For sale",
        ListingAvailability::SoldOut => "Sold out",
        ListingAvailability::Paused => "Paused",
        ListingAvailability::Archived => "Archived",
    }
}

/// How an order's status reads.
pub fn order_status_label(status: OrderStatus) -> &'static str {
    match status {
        OrderStatus::PendingPayment => "Awaiting payment",
        OrderStatus::Fulfilled => "Fulfilled",
        OrderStatus::Cancelled => "Cancelled",
        OrderStatus::Expired => "Expired",
        OrderStatus::Failed => "Failed",
        OrderStatus::Refunded => "Refunded",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_amounts_read_well() {
        assert_eq!(when(0), "1970-01-01 00:00 UTC");
        assert_eq!(
            when_rfc3339("2026-11-28T19:17:47.51Z"),
            "2026-11-28 19:17 UTC"
        );
        assert_eq!(money(250, "usd"), "$2.50");
        assert_eq!(money(300, "jpy"), "¥300");
        assert_eq!(money(5, "zzz"), "5 ZZZ");
    }

    #[test]
    fn ids_are_short_and_url_safe() {
        assert!(is_id(&crate::ids::new_id("lst")));
        for bad in ["", "a\0b", "a b", "a/b", "é", &"x".repeat(65)] {
            assert!(!is_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn only_known_notices_show() {
        assert!(Notice::text("welcome").is_some());
        assert!(Notice::text("<script>").is_none());
    }
}
