//! HTTP handlers of the orders API.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::keyed::{self, Placed};
pub use super::keyed::{CreateOrder, OrderCreated};
use super::model::OrderView;
use super::store::Party;
use crate::accounts::AuthUser;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery};
use crate::ids::{Id, Order};
use crate::pagination::PageQuery;
use crate::state::AppState;
use crate::tokens::gateway::{OrderKey, issue_for_order};
use crate::vocab::OrderStatus;

/// The orders routes, relative to `/api/v1`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_order, list_orders))
        .routes(routes!(get_order))
        .routes(routes!(cancel_order))
        .routes(routes!(list_sales))
        .routes(routes!(get_balance))
}

/// A page of orders.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderPage {
    /// Orders, newest first.
    pub items: Vec<OrderView>,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// What a buyer owes in one currency.
#[derive(Debug, Serialize, ToSchema)]
pub struct Owed {
    /// Lowercase ISO 4217 code.
    pub currency: String,
    /// Amount owed, minor units.
    pub owed_cents: i64,
}

/// What the buyer owes for instantly fulfilled orders.
#[derive(Debug, Serialize, ToSchema)]
pub struct Balance {
    /// One entry per currency with a debt.
    pub items: Vec<Owed>,
}

/// Buys units of a listing. Small orders are fulfilled at once (and owed); others
/// reserve the units and return a checkout URL.
#[utoipa::path(post, path = "/orders", tag = "orders",
    security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, pattern = "^[\x21-\x7e]{1,255}$", description = "Makes retries safe: the same key and body replay the first answer for 24 h")),
    request_body = CreateOrder,
    responses(
        (status = 201, description = "Ordered", body = OrderPlaced),
        (status = 404, description = "No such listing", body = crate::error::ErrorBody),
        (status = 409, description = "`insufficient_units`, `listing_unavailable`, `own_listing`, `idempotency_in_progress`", body = crate::error::ErrorBody),
        (status = 502, description = "`payment_provider_unavailable`; the units were released", body = crate::error::ErrorBody),
        (status = 503, description = "`unavailable`: nothing was bought, retry; `outcome_unknown`: the commit went unconfirmed, retry with the same Idempotency-Key to learn the outcome", body = crate::error::ErrorBody),
    ))]
async fn create_order(
    State(state): State<AppState>,
    auth: AuthUser,
    headers: HeaderMap,
    ApiJson(req): ApiJson<CreateOrder>,
) -> ApiResult<Response> {
    let key = headers
        .get("idempotency-key")
        .map(|v| v.to_str().map(str::to_owned))
        .transpose()
        .map_err(|_| ApiError::validation("Idempotency-Key", "must be visible ASCII"))?;
    Ok(
        match keyed::place_once(&state, &auth.user, &req, key.as_deref()).await? {
            Placed::Fresh(created) => {
                let key = key_for(&state, &auth.user.id, &created).await;
                let placed = OrderPlaced {
                    created: *created,
                    gateway: key,
                };
                (StatusCode::CREATED, Json(placed)).into_response()
            }
            Placed::Replay { status, body } => replayed(status, body),
        },
    )
}

/// Answer of `POST /orders`: the order, and for the first fulfilled order of a
/// gateway listing the buyer's new key.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderPlaced {
    /// The order and how to pay.
    #[serde(flatten)]
    pub created: OrderCreated,
    /// The buyer's gateway key, in full, when this order issued it (the first order of
    /// a gateway listing fulfilled at once); absent otherwise: further orders top up
    /// the same key, orders paid through a checkout show it in `GET /tokens` once
    /// paid. Never part of an idempotent replay (it is not stored): a buyer who lost
    /// the answer rolls the key. Absent rather than null, so that a replay is the
    /// first answer byte for byte whenever no key was issued.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateway: Option<OrderKey>,
}

/// Issues the buyer's gateway key with a fulfilled order of a gateway listing. The
/// order is bought already, so a failure here does not fail the answer: the key is
/// then issued by the buyer's next `GET /tokens`.
async fn key_for(state: &AppState, buyer_id: &str, created: &OrderCreated) -> Option<OrderKey> {
    if created.order.status != OrderStatus::Fulfilled {
        return None;
    }
    match issue_for_order(state, buyer_id, &created.order.listing_id).await {
        Ok(key) => key,
        Err(err) => {
            tracing::warn!(order = %created.order.id, error = %err.code().as_str(), "issuing a gateway key with an order failed");
            None
        }
    }
}

/// A stored (or recovered) answer, marked as a replay.
fn replayed(status: StatusCode, body: Vec<u8>) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}

/// The caller's orders, newest first.
#[utoipa::path(get, path = "/orders", tag = "orders",
    security(("bearer" = [])),
    params(PageQuery),
    responses((status = 200, description = "A page of orders", body = OrderPage)))]
async fn list_orders(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> ApiResult<Json<OrderPage>> {
    list(&state, Party::Buyer, &auth, &query).await
}

/// Orders of the caller's listings, newest first.
#[utoipa::path(get, path = "/sales", tag = "orders",
    security(("bearer" = [])),
    params(PageQuery),
    responses((status = 200, description = "A page of orders", body = OrderPage)))]
async fn list_sales(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> ApiResult<Json<OrderPage>> {
    list(&state, Party::Seller, &auth, &query).await
}

async fn list(
    state: &AppState,
    party: Party,
    auth: &AuthUser,
    query: &PageQuery,
) -> ApiResult<Json<OrderPage>> {
    let page = query.parse()?;
    let (rows, next_cursor) = super::list_page(state, party, &auth.user, &page).await?;
    Ok(Json(OrderPage {
        items: rows.iter().map(|o| o.view_for(&auth.user.id)).collect(),
        next_cursor,
    }))
}

/// One order: for its buyer and the listing's seller; 404 for anyone else.
#[utoipa::path(get, path = "/orders/{id}", tag = "orders",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Order id")),
    responses((status = 200, description = "The order", body = OrderView)))]
async fn get_order(
    State(state): State<AppState>,
    auth: AuthUser,
    id: Id<Order>,
) -> ApiResult<Json<OrderView>> {
    Ok(Json(
        super::visible_order(&state, &auth.user, &id)
            .await?
            .view_for(&auth.user.id),
    ))
}

/// Cancels the caller's order that awaits payment, releasing its units.
#[utoipa::path(post, path = "/orders/{id}/cancel", tag = "orders",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Order id")),
    responses(
        (status = 200, description = "Cancelled", body = OrderView),
        (status = 409, description = "`order_not_pending`", body = crate::error::ErrorBody),
    ))]
async fn cancel_order(
    State(state): State<AppState>,
    auth: AuthUser,
    id: Id<Order>,
) -> ApiResult<Json<OrderView>> {
    let order = super::cancel(&state, &auth.user, &id).await?;
    Ok(Json(order.view_for(&auth.user.id)))
}

/// What the caller owes for instantly fulfilled orders, per currency.
#[utoipa::path(get, path = "/balance", tag = "orders",
    security(("bearer" = [])),
    responses((status = 200, description = "Amounts owed", body = Balance)))]
async fn get_balance(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<Balance>> {
    let items = super::balances(&state, &auth.user.id)
        .await?
        .into_iter()
        .map(|(currency, owed_cents)| Owed {
            currency,
            owed_cents,
        })
        .collect();
    Ok(Json(Balance { items }))
}
