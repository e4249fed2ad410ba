//! Orders: buying without overselling, instant issuance with recorded debt,
//! reservations paid through a provider, cancel, and the buyer's balance.

pub mod handlers;
pub mod idempotency;
pub mod keyed;
pub mod lifecycle;
pub mod model;
pub mod purchase;
pub mod store;

use axum::http::StatusCode;

use crate::accounts::User;
use crate::error::{ApiError, ErrorCode};
use crate::provider::CheckoutRequest;
use crate::state::AppState;
use crate::telemetry::labels::OrderOutcome;
use crate::vocab::OrderStatus;
use model::Order;

/// Places an order: takes the units, then, when payment is needed, opens a checkout
/// with the provider. If the provider fails, the units go straight back and the
/// order is marked `failed`; the caller gets 502 and nothing is lost.
pub async fn place(
    state: &AppState,
    buyer: &User,
    listing_id: &str,
    units: i64,
) -> Result<purchase::Purchase, ApiError> {
    place_keyed(state, buyer, listing_id, units, None).await
}

/// [`place`] under the request's Idempotency-Key, which the order carries: a key that
/// made an order already is answered with that order (see [`resume`]).
pub async fn place_keyed(
    state: &AppState,
    buyer: &User,
    listing_id: &str,
    units: i64,
    idempotency_key: Option<&str>,
) -> Result<purchase::Purchase, ApiError> {
    let request = purchase::Request {
        buyer_id: &buyer.id,
        listing_id,
        units,
        idempotency_key,
    };
    let bought = purchase::purchase(state, request).await?;
    // Other processes see the change through the cache poller; this one at once.
    state.cache.invalidate([listing_id]).await;
    resume(state, bought).await
}

/// A database error while finishing an order that has committed. Whatever it was (a
/// busy pool included), the order exists: the answer must not say "nothing
/// changed", which would free its Idempotency-Key for a second purchase. The key
/// stays claimed, and a retry after its lease finds the order and finishes it.
fn after_commit(err: sqlx::Error) -> ApiError {
    ApiError::internal(anyhow::Error::from(err).context("finishing a committed order"))
}

/// Finishes a purchase: an order awaiting payment without a checkout yet gets one.
/// Also used for an order found by its Idempotency-Key after its process died
/// between taking the units and opening the checkout, so the retry can still pay.
pub async fn resume(
    state: &AppState,
    mut bought: purchase::Purchase,
) -> Result<purchase::Purchase, ApiError> {
    if !bought.requires_payment || bought.order.provider_session_id.is_some() {
        return Ok(bought);
    }
    let listing_id = bought.order.listing_id.clone();
    let order = &bought.order;
    let base = state.public_url();
    let request = CheckoutRequest {
        reference: order.id.clone(),
        kind: crate::vocab::CheckoutKind::Order,
        product_name: format!("{} × {}", order.units, order.service_name),
        currency: order.currency.clone(),
        unit_amount: order.unit_price_cents,
        quantity: order.units,
        expires_at_ms: order.expires_at.unwrap_or_default(),
        success_url: format!("{base}/orders/{}/success", order.id),
        cancel_url: format!("{base}/orders/{}/cancelled", order.id),
    };
    match state.payments.create_checkout(&request).await {
        Ok(checkout) => {
            sqlx::query(
                "UPDATE orders SET provider_session_id = $2, checkout_url = $3 WHERE id = $1",
            )
            .bind(&order.id)
            .bind(&checkout.session_id)
            .bind(&checkout.url)
            .execute(state.db.writes())
            .await
            .map_err(after_commit)?;
            bought.order.provider_session_id = Some(checkout.session_id);
            bought.order.checkout_url = Some(checkout.url);
            Ok(bought)
        }
        Err(err) => {
            tracing::warn!(order = %order.id, error = %err, "payment provider failed; releasing the reservation");
            lifecycle::release(&state.db, &order.id, OrderStatus::Failed)
                .await
                .map_err(after_commit)?;
            // The failed order gives its Idempotency-Key up, so that a retry under the
            // key buys afresh instead of replaying a failure.
            sqlx::query("UPDATE orders SET idempotency_key = NULL WHERE id = $1")
                .bind(&order.id)
                .execute(state.db.writes())
                .await
                .map_err(after_commit)?;
            state.cache.invalidate([listing_id.as_str()]).await;
            metrics::counter!("udam_orders_total", "outcome" => OrderOutcome::ProviderFailed.as_str()).increment(1);
            Err(ApiError::new(
                StatusCode::BAD_GATEWAY,
                ErrorCode::PaymentProviderUnavailable,
                "the payment provider is unavailable; nothing was charged and the units were released",
            ))
        }
    }
}

/// An order visible to `user`: its buyer or the listing's seller (or an admin).
/// Anyone else gets 404, so order ids cannot be probed.
pub async fn visible_order(state: &AppState, user: &User, id: &str) -> Result<Order, ApiError> {
    let order = store::get(&state.db, id)
        .await?
        .filter(|o| o.buyer_id == user.id || o.seller_id == user.id || user.is_admin)
        .ok_or_else(|| ApiError::not_found("order"))?;
    Ok(order)
}

/// Cancels the buyer's own pending order, releasing its units.
pub async fn cancel(state: &AppState, buyer: &User, id: &str) -> Result<Order, ApiError> {
    let order = store::get(&state.db, id)
        .await?
        .filter(|o| o.buyer_id == buyer.id)
        .ok_or_else(|| ApiError::not_found("order"))?;
    let released = lifecycle::release(&state.db, id, OrderStatus::Cancelled).await?;
    state.cache.invalidate([order.listing_id.as_str()]).await;
    if !released {
        return Err(ApiError::conflict(
            ErrorCode::OrderNotPending,
            format!(
                "only an order awaiting payment can be cancelled; this one is {}",
                order.status
            ),
        ));
    }
    if let Some(session) = &order.provider_session_id
        && let Err(err) = state.payments.expire_checkout(session).await
    {
        // The units are already back; a late payment would be refunded.
        tracing::warn!(order = %id, error = %err, "could not expire the checkout of a cancelled order");
    }
    store::get(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::not_found("order"))
}

/// What a buyer owes for instantly fulfilled orders, per currency (by currency), read
/// from the ledger: the balances of the buyer's receivable accounts.
pub async fn balances(state: &AppState, user_id: &str) -> Result<Vec<(String, i64)>, ApiError> {
    let mut conn = state.db.pool().acquire().await?;
    Ok(crate::ledger::owed_by(&mut conn, user_id).await?)
}

/// A page of `user`'s orders (as buyer or as seller), newest first, with the cursor
/// of the next page.
pub async fn list_page(
    state: &AppState,
    party: store::Party,
    user: &User,
    page: &crate::pagination::Page,
) -> Result<(Vec<Order>, Option<String>), ApiError> {
    let rows = store::list(&state.db, party, &user.id, page).await?;
    Ok(crate::pagination::finish(rows, page.limit, |o| {
        (o.created_at, o.id.clone())
    }))
}
