//! The dev checkout: a built-in page that simulates a payment provider's hosted
//! checkout, active only when no real provider is configured.
//!
//! Pay confirms through `orders::lifecycle::confirm_payment`, the very path a
//! verified Stripe webhook takes; Cancel releases the units like an expired session.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::error::ApiError;
use crate::orders::lifecycle::{self, Confirmation};
use crate::state::AppState;

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
    service_name: String,
    units: i64,
    total: String,
    status: String,
    pending: bool,
}

async fn page(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let order = crate::orders::store::get(&state.db, &id)
        .await?
        .filter(|o| o.provider.as_deref() == Some("dev"))
        .ok_or_else(|| ApiError::not_found("checkout"))?;
    let total = crate::money::currency(&order.currency)
        .map(|c| crate::money::format_minor(order.total_cents, c))
        .unwrap_or_else(|| format!("{} {}", order.total_cents, order.currency));
    Ok(CheckoutPage {
        pending: order.status == "pending_payment",
        order_id: order.id,
        service_name: order.service_name,
        units: order.units,
        total,
        status: order.status,
    }
    .into_response())
}

async fn pay(State(state): State<AppState>, Path(id): Path<String>) -> Result<Redirect, ApiError> {
    let mut tx = state.db.begin_write().await?;
    let outcome = lifecycle::confirm_payment(&mut tx, &id, Some(&format!("dev_pay_{id}"))).await?;
    tx.commit().await?;
    if let Some(order) = crate::orders::store::get(&state.db, &id).await? {
        state.cache.invalidate([order.listing_id.as_str()]).await;
    }
    match outcome {
        Confirmation::Unknown => Err(ApiError::not_found("checkout")),
        Confirmation::MustRefund | Confirmation::AlreadyRefunded => {
            // Nothing was charged by the simulation; the order page explains the refund.
            Ok(Redirect::to(&format!("/orders/{id}/cancelled")))
        }
        Confirmation::Fulfilled | Confirmation::AlreadyFulfilled => {
            Ok(Redirect::to(&format!("/orders/{id}/success")))
        }
    }
}

async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Redirect, ApiError> {
    lifecycle::release(&state.db, &id, "cancelled").await?;
    if let Some(order) = crate::orders::store::get(&state.db, &id).await? {
        state.cache.invalidate([order.listing_id.as_str()]).await;
    }
    Ok(Redirect::to(&format!("/orders/{id}/cancelled")))
}
