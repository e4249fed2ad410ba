//! The dev checkout: a built-in page that simulates a payment provider's hosted
//! checkout, active only when no real provider is configured (and, on PostgreSQL or
//! behind an https public URL, only with `--dev-checkout`; see `crate::server`).
//!
//! Pay confirms through `payments::confirm::payment_succeeded`, the very path a
//! verified Stripe webhook takes; Cancel releases the units like an expired session.
//! It serves orders (`ord_…`) and balance settlements (`stl_…`).
//!
//! Its URL carries a random token (`dck_…`, see [`crate::provider::DevProvider`]),
//! not the order id: the seller knows the order id, only the buyer is given the
//! token. An unknown token, an order id, or the token of a closed checkout opens
//! nothing (404). The buttons refuse cross-site requests.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::error::ApiError;
use sqlx::Row;

use super::DevProvider;
use super::confirm::{self, PaidCheckout};
use crate::ids::{Checkout, Id};
use crate::state::AppState;
use crate::vocab::{EventOutcome, Lapse, OrderStatus, ProviderName, SettlementStatus};

/// The dev checkout routes (mounted only with the dev provider).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/dev/checkout/{token}", get(page))
        .route("/dev/checkout/{token}/pay", post(pay))
        .route("/dev/checkout/{token}/cancel", post(cancel))
}

#[derive(Template, WebTemplate)]
#[template(path = "dev_checkout.html")]
struct CheckoutPage {
    /// The checkout's token, for the buttons' URLs.
    token: String,
    /// The order or settlement paid.
    order_id: String,
    service_name: String,
    units: i64,
    total: String,
    status: String,
}

/// A checkout found by its token: what it pays for, as on record.
struct Subject {
    /// The order or settlement id.
    reference: String,
    /// The session id on record (`dev_` + the token's hash).
    session_id: String,
    total_cents: i64,
    currency: String,
    service_name: String,
    units: i64,
    status: String,
    /// Still awaiting payment.
    pending: bool,
}

impl Subject {
    fn page(self, token: &str) -> CheckoutPage {
        let total = crate::money::currency(&self.currency)
            .map(|c| crate::money::format_minor(self.total_cents, c))
            .unwrap_or_else(|| format!("{} {}", self.total_cents, self.currency));
        CheckoutPage {
            token: token.to_owned(),
            order_id: self.reference,
            service_name: self.service_name,
            units: self.units,
            total,
            status: self.status,
        }
    }
}

/// The checkout a token opens, open or closed; `None` for any other text.
async fn subject(state: &AppState, token: &str) -> Result<Option<Subject>, ApiError> {
    // Nothing but a token's shape reaches a query (PostgreSQL refuses a NUL byte);
    // an order or settlement id is not a token and opens nothing.
    let shaped = token
        .split_once('_')
        .is_some_and(|(prefix, _)| prefix == DevProvider::TOKEN_PREFIX);
    if !shaped || !crate::ids::is_well_formed(token) {
        return Ok(None);
    }
    // Looked up by the token's hash, which is what is stored: equality on a hash
    // reveals nothing about the token, so no constant-time comparison is needed.
    let session_id = DevProvider::session_of(token);
    let settlement = sqlx::query(
        "SELECT id, amount_cents, currency, status FROM settlements WHERE provider_session_id = $1",
    )
    .bind(&session_id)
    .fetch_optional(state.db.pool())
    .await?;
    if let Some(row) = settlement {
        let status: String = row.try_get("status")?;
        return Ok(Some(Subject {
            reference: row.try_get("id")?,
            total_cents: row.try_get("amount_cents")?,
            currency: row.try_get("currency")?,
            service_name: "Settlement of your balance".to_owned(),
            units: 1,
            pending: status == SettlementStatus::Pending.as_str(),
            status,
            session_id,
        }));
    }
    let order_id: Option<String> =
        sqlx::query_scalar("SELECT id FROM orders WHERE provider_session_id = $1")
            .bind(&session_id)
            .fetch_optional(state.db.pool())
            .await?;
    let Some(order_id) = order_id else {
        return Ok(None);
    };
    let Some(order) = crate::orders::store::get(&state.db, &order_id)
        .await?
        .filter(|o| o.provider == Some(ProviderName::Dev))
    else {
        return Ok(None);
    };
    Ok(Some(Subject {
        pending: order.status == OrderStatus::PendingPayment,
        reference: order.id,
        session_id,
        total_cents: order.total_cents,
        currency: order.currency,
        service_name: order.service_name,
        units: order.units,
        status: order.status.as_str().to_owned(),
    }))
}

fn not_found() -> ApiError {
    ApiError::not_found("checkout")
}

/// The checkout page, while the checkout is open; a closed one is gone (404),
/// as a provider's hosted page is once its session completed or expired.
async fn page(State(state): State<AppState>, token: Id<Checkout>) -> Result<Response, ApiError> {
    let subject = subject(&state, &token)
        .await?
        .filter(|s| s.pending)
        .ok_or_else(not_found)?;
    Ok(subject.page(&token).into_response())
}

/// Refuses buttons pressed from another site. Browsers label every request with
/// `Sec-Fetch-Site`; only the checkout page itself (`same-origin`) or the user
/// (`none`: typed, bookmarked) may press them, not a sibling subdomain
/// (`same-site`) nor another site. Browsers too old for `Sec-Fetch-Site` still
/// send `Origin` with a form POST: it must name this server.
fn same_origin(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let refused = || ApiError::forbidden("the checkout buttons only work from the checkout page");
    let header = |name: &str| headers.get(name).map(|v| v.to_str().unwrap_or_default());
    if let Some(site) = header("sec-fetch-site") {
        return match site {
            "same-origin" | "none" => Ok(()),
            _ => Err(refused()),
        };
    }
    let Some(origin) = header("origin") else {
        // Not a browser form (curl, a test client): nothing another site can forge.
        return Ok(());
    };
    let authority = |url: &str| {
        url.split_once("://").map(|(_, rest)| {
            rest.split('/')
                .next()
                .unwrap_or_default()
                .to_ascii_lowercase()
        })
    };
    let origin = authority(origin);
    let ours = [
        authority(&state.public_url),
        header("host").map(str::to_ascii_lowercase),
    ];
    match origin {
        Some(origin) if ours.iter().flatten().any(|o| *o == origin) => Ok(()),
        _ => Err(refused()),
    }
}

async fn pay(
    State(state): State<AppState>,
    headers: HeaderMap,
    token: Id<Checkout>,
) -> Result<Redirect, ApiError> {
    same_origin(&state, &headers)?;
    // A closed checkout still takes the Pay press of a page opened before it
    // closed: that is a late payment, handled as one (see docs/PAYMENTS.md).
    let checkout = subject(&state, &token).await?.ok_or_else(not_found)?;
    let id = checkout.reference.as_str();
    let mut tx = state.db.begin_write().await?;
    let payment_ref = format!("dev_pay_{id}");
    let paid = PaidCheckout {
        session_id: &checkout.session_id,
        amount_cents: Some(checkout.total_cents),
        currency: Some(&checkout.currency),
        payment_ref: Some(&payment_ref),
    };
    let outcome = confirm::payment_succeeded(&state, &mut tx, id, &paid)
        .await?
        .unwrap_or(EventOutcome::Mismatched);
    crate::crash_point!("payments::dev_pay_before_commit");
    tx.commit().await?;
    invalidate_listing(&state, id).await?;
    Ok(Redirect::to(&return_path(
        id,
        outcome != EventOutcome::Refunded,
    )))
}

async fn cancel(
    State(state): State<AppState>,
    headers: HeaderMap,
    token: Id<Checkout>,
) -> Result<Redirect, ApiError> {
    same_origin(&state, &headers)?;
    let checkout = subject(&state, &token)
        .await?
        .filter(|s| s.pending)
        .ok_or_else(not_found)?;
    let id = checkout.reference.as_str();
    let mut tx = state.db.begin_write().await?;
    // Bound to the session on record, so it cannot be a mismatch.
    let _released =
        confirm::checkout_lapsed(&mut tx, id, Some(&checkout.session_id), Lapse::Cancelled).await?;
    tx.commit().await?;
    invalidate_listing(&state, id).await?;
    Ok(Redirect::to(&return_path(id, false)))
}

/// Where a provider sends the payer back: the order's pages, or the balance page.
fn return_path(id: &str, paid: bool) -> String {
    match (id.starts_with("stl_"), paid) {
        (true, _) => "/balance".to_owned(),
        (false, true) => format!("/orders/{id}/success"),
        (false, false) => format!("/orders/{id}/cancelled"),
    }
}

async fn invalidate_listing(state: &AppState, id: &str) -> Result<(), ApiError> {
    if let Some(order) = crate::orders::store::get(&state.db, id).await? {
        state.cache.invalidate([order.listing_id.as_str()]).await;
    }
    Ok(())
}
