//! HTTP handlers of the orders API.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::idempotency::{self, Claim};
use super::model::OrderView;
use super::purchase::Purchase;
use super::store::{self, Party};
use crate::accounts::AuthUser;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::extract::{ApiJson, ApiQuery};
use crate::ids::{Id, Order};
use crate::pagination::{self, PageQuery};
use crate::state::AppState;

/// The orders routes, relative to `/api/v1`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_order, list_orders))
        .routes(routes!(get_order))
        .routes(routes!(cancel_order))
        .routes(routes!(list_sales))
        .routes(routes!(get_balance))
}

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
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderCreated {
    /// The order.
    pub order: OrderView,
    /// True when the buyer must pay at `checkout_url` before getting a token.
    pub payment_requires_confirmation: bool,
    /// Where to pay, when payment is required.
    pub checkout_url: Option<String>,
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
        (status = 201, description = "Ordered", body = OrderCreated),
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
    let Some(key) = key else {
        return place(&state, &auth, &req, None)
            .await
            .map(IntoResponse::into_response);
    };
    idempotency::check_key(&key)?;
    let canonical = serde_json::to_vec(&req).map_err(ApiError::internal)?;
    let hash = idempotency::fingerprint("POST /api/v1/orders", &canonical);
    let user = &auth.user.id;
    let lease_ms = i64::try_from(state.config.request_timeout.0.as_millis()).unwrap_or(i64::MAX);
    match idempotency::claim(&state.db, user, &key, &hash, lease_ms).await? {
        Claim::Replay { status, body } => Ok(replayed(status, body)),
        Claim::Recover(order) => {
            // Its request died after the order committed: answer with the order (and
            // finish it: an order awaiting payment may still need its checkout).
            let bought = super::resume(&state, Purchase::existing(*order)).await?;
            let (status, Json(created)) = created(bought);
            let body = serde_json::to_vec(&created).map_err(ApiError::internal)?;
            idempotency::complete(&state.db, user, &key, status, &body).await?;
            Ok(replayed(status, body))
        }
        Claim::Proceed => {
            crate::crash_point!("purchase::after_claim");
            let result = place(&state, &auth, &req, Some(&key)).await;
            match &result {
                Ok((status, Json(created))) => {
                    let body = serde_json::to_vec(created).map_err(ApiError::internal)?;
                    crate::crash_point!("purchase::before_answer_stored");
                    idempotency::complete(&state.db, user, &key, *status, &body).await?;
                }
                // A refusal changed nothing and is the answer to every retry.
                Err(err) if !err.status().is_server_error() => {
                    let body = err.envelope_bytes();
                    idempotency::complete(&state.db, user, &key, err.status(), &body).await?;
                }
                // Known to have changed nothing: a retry may run at once.
                Err(err) if changed_nothing(err) => {
                    idempotency::release(&state.db, user, &key).await?;
                }
                // Perhaps committed (a batch whose commit was not confirmed, a failure
                // after the order's commit): the key stays claimed, and once its lease
                // ends a retry replays the order the key made, or buys if there is none.
                Err(_) => {}
            }
            result.map(IntoResponse::into_response)
        }
    }
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

async fn place(
    state: &AppState,
    auth: &AuthUser,
    req: &CreateOrder,
    idempotency_key: Option<&str>,
) -> ApiResult<(StatusCode, Json<OrderCreated>)> {
    let bought = super::place_keyed(
        state,
        &auth.user,
        &req.listing_id,
        req.units,
        idempotency_key,
    )
    .await?;
    Ok(created(bought))
}

fn created(bought: Purchase) -> (StatusCode, Json<OrderCreated>) {
    let view = bought.order.view();
    (
        StatusCode::CREATED,
        Json(OrderCreated {
            checkout_url: view.checkout_url.clone(),
            payment_requires_confirmation: bought.requires_payment,
            order: view,
        }),
    )
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
    let rows = store::list(&state.db, party, &auth.user.id, &page).await?;
    let (rows, next_cursor) =
        pagination::finish(rows, page.limit, |o| (o.created_at, o.id.clone()));
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
    Ok(Json(super::cancel(&state, &auth.user, &id).await?.view()))
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
