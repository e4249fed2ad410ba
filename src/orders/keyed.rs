//! Placing an order, under an Idempotency-Key when the client sends one: claim the
//! key, buy, store the answer. `POST /orders` and GraphQL's `placeOrder` both call
//! [`place_once`], so a key works the same through either API (and a key used with
//! one replays through the other: the fingerprint is of the same canonical body).

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::idempotency::{self, Claim};
use super::model::OrderView;
use super::purchase::Purchase;
use crate::accounts::User;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;

/// Body of `POST /orders`.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrder {
    /// The listing to buy from.
    pub listing_id: String,
    /// Units, 1 to the per-order cap (`--max-units-per-order`).
    #[schema(example = 1, minimum = 1, maximum = 10000)]
    #[serde(deserialize_with = "crate::extract::json_int::int")]
    pub units: i64,
}

/// Answer of `POST /orders`.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
pub struct OrderCreated {
    /// The order.
    pub order: OrderView,
    /// True when the buyer must pay at `checkout_url` before getting a token.
    pub payment_requires_confirmation: bool,
    /// Where to pay, when payment is required.
    pub checkout_url: Option<String>,
}

impl OrderCreated {
    /// The answer for a purchase.
    pub fn of(bought: &Purchase) -> Self {
        let view = bought.order.view_for(&bought.order.buyer_id);
        Self {
            checkout_url: view.checkout_url.clone(),
            payment_requires_confirmation: bought.requires_payment,
            order: view,
        }
    }
}

/// What [`place_once`] answers.
#[derive(Debug)]
pub enum Placed {
    /// Bought (or found by its key) by this request (boxed: the order view is large).
    Fresh(Box<OrderCreated>),
    /// The answer stored for this key by an earlier request: the REST status and
    /// JSON body (an [`OrderCreated`] or an error envelope), replayed as they were.
    Replay {
        /// The first answer's status.
        status: StatusCode,
        /// The first answer's JSON body.
        body: Vec<u8>,
    },
}

/// Places `req` for `buyer`. With `key`, the first request under it buys and stores
/// its answer; a retry replays that answer, a concurrent one is refused with
/// `idempotency_in_progress`, and one with another body with `idempotency_key_reuse`.
pub async fn place_once(
    state: &AppState,
    buyer: &User,
    req: &CreateOrder,
    key: Option<&str>,
) -> ApiResult<Placed> {
    let Some(key) = key else {
        return place(state, buyer, req, None)
            .await
            .map(|created| Placed::Fresh(Box::new(created)));
    };
    idempotency::check_key(key)?;
    let canonical = serde_json::to_vec(req).map_err(ApiError::internal)?;
    let hash = idempotency::fingerprint("POST /api/v1/orders", &canonical);
    let user = &buyer.id;
    let lease_ms = i64::try_from(state.config.request_timeout.0.as_millis()).unwrap_or(i64::MAX);
    match idempotency::claim(&state.db, user, key, &hash, lease_ms).await? {
        Claim::Replay { status, body } => Ok(Placed::Replay { status, body }),
        Claim::Recover(order) => recover(state, user, key, *order).await,
        Claim::Proceed => {
            crate::crash_point!("purchase::after_claim");
            let result = place(state, buyer, req, Some(key)).await;
            if let Err(err) = &result
                && !err.status().is_server_error()
            {
                // A claim taken over from a request that died may be refused (its
                // units gone) while that request's own order committed late, taking
                // them: the order the key made is the answer, not the refusal.
                if let Some(order) = super::purchase::existing_order(&state.db, user, key).await? {
                    return recover(state, user, key, order).await;
                }
            }
            match &result {
                Ok(created) => {
                    let body = serde_json::to_vec(created).map_err(ApiError::internal)?;
                    crate::crash_point!("purchase::before_answer_stored");
                    idempotency::complete(&state.db, user, key, StatusCode::CREATED, &body).await?;
                }
                // A refusal that a retry may not meet (the listing changed while
                // buying, a rate limit, a body refused before buying against limits
                // that may change): nothing changed and no answer is kept, as Stripe
                // keeps none for these; the key is free again.
                Err(err) if may_pass_on_retry(err) => {
                    idempotency::release(&state.db, user, key).await?;
                }
                // Any other refusal changed nothing and is the answer to every retry.
                Err(err) if !err.status().is_server_error() => {
                    let body = err.envelope_bytes();
                    idempotency::complete(&state.db, user, key, err.status(), &body).await?;
                }
                // Known to have changed nothing: a retry may run at once.
                Err(err) if changed_nothing(err) => {
                    idempotency::release(&state.db, user, key).await?;
                }
                // Perhaps committed (a batch whose commit was not confirmed, a failure
                // after the order's commit): the key stays claimed, and once its lease
                // ends a retry replays the order the key made, or buys if there is none.
                Err(_) => {}
            }
            result.map(|created| Placed::Fresh(Box::new(created)))
        }
    }
}

/// Answers with the order an earlier request made under `key` (finishing it: an
/// order awaiting payment may still need its checkout), and stores that answer.
async fn recover(
    state: &AppState,
    user: &str,
    key: &str,
    order: super::model::Order,
) -> ApiResult<Placed> {
    let bought = super::resume(state, Purchase::existing(order)).await?;
    let created = OrderCreated::of(&bought);
    let body = serde_json::to_vec(&created).map_err(ApiError::internal)?;
    let status = StatusCode::CREATED;
    idempotency::complete(&state.db, user, key, status, &body).await?;
    Ok(Placed::Replay { status, body })
}

/// Refusals made before anything was bought that the same request may pass later.
fn may_pass_on_retry(err: &ApiError) -> bool {
    matches!(
        err.code(),
        ErrorCode::ListingChanged | ErrorCode::RateLimited | ErrorCode::ValidationFailed
    )
}

/// 5xx answers after which nothing was bought: the provider failed (the units went
/// back and the failed order gave its key up), or the database refused a statement
/// before anything committed (busy pool, lock or statement timeout). Anything else
/// (`outcome_unknown`, an internal error that may follow a commit) keeps the key.
fn changed_nothing(err: &ApiError) -> bool {
    matches!(
        err.code(),
        ErrorCode::PaymentProviderUnavailable | ErrorCode::Unavailable
    )
}

async fn place(
    state: &AppState,
    buyer: &User,
    req: &CreateOrder,
    idempotency_key: Option<&str>,
) -> ApiResult<OrderCreated> {
    let bought =
        super::place_keyed(state, buyer, &req.listing_id, req.units, idempotency_key).await?;
    Ok(OrderCreated::of(&bought))
}
