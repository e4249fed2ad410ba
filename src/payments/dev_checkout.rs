//! The dev checkout: a built-in page that simulates a payment provider's hosted
//! checkout, active only when no real provider is configured.
//!
//! Pay confirms through `payments::confirm::payment_succeeded`, the very path a
//! verified Stripe webhook takes; Cancel releases the units like an expired session.
//! It serves orders (`ord_…`) and balance settlements (`stl_…`).

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::error::ApiError;
use sqlx::Row;

use super::confirm::{self, PaidCheckout};
use crate::ids::{Checkout, Id};
use crate::state::AppState;
use crate::vocab::{EventOutcome, Lapse, OrderStatus, ProviderName, SettlementStatus};

/// The dev checkout routes (mounted only with the dev provider).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/dev/checkout/{id}", get(page))
        .route("/dev/checkout/{id}/pay", post(pay))
        .route("/dev/checkout/{id}/cancel", post(cancel))
}

#[derive(Template, WebTemplate)]
#[template(path = "dev_checkout.html")]
struct CheckoutPage {
    order_id: String,
    /// What the checkout charges, as on record: the simulated payment reports it.
    session_id: Option<String>,
    total_cents: i64,
    currency: String,
    service_name: String,
    units: i64,
    total: String,
    status: String,
    pending: bool,
}

/// What a dev checkout is for: an order or a settlement.
async fn subject(state: &AppState, id: &str) -> Result<CheckoutPage, ApiError> {
    // Nothing but an id's shape reaches a query (PostgreSQL refuses a NUL byte).
    if !crate::ids::is_well_formed(id) {
        return Err(ApiError::not_found("checkout"));
    }
    let format = |cents: i64, code: &str| {
        crate::money::currency(code)
            .map(|c| crate::money::format_minor(cents, c))
            .unwrap_or_else(|| format!("{cents} {code}"))
    };
    if id.starts_with("stl_") {
        let row = sqlx::query(
            "SELECT amount_cents, currency, status, provider_session_id FROM settlements WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(state.db.pool())
        .await?
        .ok_or_else(|| ApiError::not_found("checkout"))?;
        let status: String = row.try_get("status")?;
        let currency: String = row.try_get("currency")?;
        let amount: i64 = row.try_get("amount_cents")?;
        return Ok(CheckoutPage {
            order_id: id.to_owned(),
            session_id: row.try_get("provider_session_id")?,
            total_cents: amount,
            service_name: "Settlement of your balance".to_owned(),
            units: 1,
            total: format(amount, &currency),
            currency,
            pending: status == SettlementStatus::Pending.as_str(),
            status,
        });
    }
    let order = crate::orders::store::get(&state.db, id)
        .await?
        .filter(|o| o.provider == Some(ProviderName::Dev))
        .ok_or_else(|| ApiError::not_found("checkout"))?;
    Ok(CheckoutPage {
        pending: order.status == OrderStatus::PendingPayment,
        total: format(order.total_cents, &order.currency),
        session_id: order.provider_session_id,
        total_cents: order.total_cents,
        currency: order.currency,
        order_id: order.id,
        service_name: order.service_name,
        units: order.units,
        status: order.status.as_str().to_owned(),
    })
}

async fn page(State(state): State<AppState>, id: Id<Checkout>) -> Result<Response, ApiError> {
    Ok(subject(&state, &id).await?.into_response())
}

/// Refuses buttons pressed from another site: browsers label every request with
/// `Sec-Fetch-Site`, so a forged cross-site form cannot pay or cancel a checkout.
fn same_site(headers: &HeaderMap) -> Result<(), ApiError> {
    match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        Some("cross-site") => Err(ApiError::forbidden(
            "the checkout buttons only work from the checkout page",
        )),
        _ => Ok(()),
    }
}

async fn pay(
    State(state): State<AppState>,
    headers: HeaderMap,
    id: Id<Checkout>,
) -> Result<Redirect, ApiError> {
    same_site(&headers)?;
    let checkout = subject(&state, &id).await?;
    let mut tx = state.db.begin_write().await?;
    let payment_ref = format!("dev_pay_{id}");
    let paid = PaidCheckout {
        session_id: checkout.session_id.as_deref().unwrap_or_default(),
        amount_cents: Some(checkout.total_cents),
        currency: Some(&checkout.currency),
        payment_ref: Some(&payment_ref),
    };
    let outcome = confirm::payment_succeeded(&state, &mut tx, &id, &paid)
        .await?
        .unwrap_or(EventOutcome::Mismatched);
    crate::crash_point!("payments::dev_pay_before_commit");
    tx.commit().await?;
    invalidate_listing(&state, &id).await?;
    Ok(Redirect::to(&return_path(
        &id,
        outcome != EventOutcome::Refunded,
    )))
}

async fn cancel(State(state): State<AppState>, id: Id<Checkout>) -> Result<Redirect, ApiError> {
    let checkout = subject(&state, &id).await?;
    let mut tx = state.db.begin_write().await?;
    // Bound to the session on record, so it cannot be a mismatch.
    let _released = confirm::checkout_lapsed(
        &mut tx,
        &id,
        checkout.session_id.as_deref(),
        Lapse::Cancelled,
    )
    .await?;
    tx.commit().await?;
    invalidate_listing(&state, &id).await?;
    Ok(Redirect::to(&return_path(&id, false)))
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
