//! The mutation root. Inputs reach the REST request types through their JSON form,
//! so they meet the same validation, and every resolver calls the service function
//! its REST twin calls. Sign-up and sign-in stay REST.

use async_graphql::{Context, ID, InputObject, Object};
use serde::Serialize;

use super::context::{state, user};
use super::error::{coded, gql};
use super::types::{Listing, Order, OrderPlaced, RevokedToken, Settlement};
use crate::error::{ApiError, ErrorCode};
use crate::listings::model::{CreateListing, UpdateListing};
use crate::orders::keyed::{self, CreateOrder, OrderCreated, Placed};

/// A new listing (`POST /api/v1/listings`'s body).
#[derive(InputObject, Serialize)]
pub struct CreateListingInput {
    /// 1 to 200 characters, not only blanks, no control characters.
    service_name: String,
    /// Up to 10,000 characters.
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    /// What one unit is; default "per unit".
    #[serde(skip_serializing_if = "Option::is_none")]
    unit_description: Option<String>,
    /// Integer ≥ 0, in the currency's minor unit.
    price_cents: i64,
    /// ISO 4217 code, default `usd` (any case).
    #[serde(skip_serializing_if = "Option::is_none")]
    currency: Option<String>,
    /// 0 to 1,000,000,000.
    available_units: i64,
    /// The key buyers will receive; stored sealed, never shown again.
    #[graphql(secret)]
    api_key: String,
    /// `key` (default) or `gateway` (then `gateway` is required).
    #[serde(skip_serializing_if = "Option::is_none")]
    delivery: Option<String>,
    /// Gateway settings, with `delivery: "gateway"` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    gateway: Option<GatewayInput>,
}

/// Gateway settings of a new listing (REST's `gateway` object).
#[derive(InputObject, Serialize)]
pub struct GatewayInput {
    /// `https://` base URL of the seller's API.
    upstream_base_url: String,
    /// Header the seller's key goes into.
    #[serde(skip_serializing_if = "Option::is_none")]
    inject_header: Option<String>,
    /// The header's value; `{key}` is replaced by the seller's key.
    #[serde(skip_serializing_if = "Option::is_none")]
    inject_template: Option<String>,
    /// Query parameter the seller's key goes into, instead of a header.
    #[serde(skip_serializing_if = "Option::is_none")]
    inject_query: Option<String>,
    /// Requests one unit buys.
    requests_per_unit: i64,
    /// Which answers are charged (default `all`).
    #[serde(skip_serializing_if = "Option::is_none")]
    meter: Option<String>,
}

/// Changes to a listing (`PATCH /api/v1/listings/{id}`'s body); every field optional.
#[derive(InputObject, Serialize)]
pub struct UpdateListingInput {
    /// New price per unit.
    #[serde(skip_serializing_if = "Option::is_none")]
    price_cents: Option<i64>,
    /// New description.
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    /// New unit description.
    #[serde(skip_serializing_if = "Option::is_none")]
    unit_description: Option<String>,
    /// New number of units left.
    #[serde(skip_serializing_if = "Option::is_none")]
    available_units: Option<i64>,
    /// `active` or `paused` (archive with `archiveListing`).
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<String>,
    /// A new key (rotation); sealed like the first.
    #[graphql(secret)]
    #[serde(skip_serializing_if = "Option::is_none")]
    api_key: Option<String>,
    /// Gateway listings: a new upstream base URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    upstream_base_url: Option<String>,
}

/// An order (`POST /api/v1/orders`'s body).
#[derive(InputObject, Serialize)]
pub struct PlaceOrderInput {
    /// The listing to buy from.
    listing_id: ID,
    /// Units, 1 to the per-order cap.
    units: i64,
}

/// Writes.
pub struct MutationRoot;

#[Object]
impl MutationRoot {
    /// Lists a data service for sale.
    async fn create_listing(
        &self,
        ctx: &Context<'_>,
        input: CreateListingInput,
    ) -> async_graphql::Result<Listing> {
        let (state, user) = (state(ctx)?, user(ctx)?);
        let req: CreateListing = rest_body(&input).map_err(gql)?;
        let listing = crate::listings::create(state, user, req)
            .await
            .map_err(gql)?;
        Ok(Listing::new(listing.view()))
    }

    /// Changes a listing (its seller or an administrator).
    async fn update_listing(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateListingInput,
    ) -> async_graphql::Result<Listing> {
        let (state, user) = (state(ctx)?, user(ctx)?);
        let req: UpdateListing = rest_body(&input).map_err(gql)?;
        let listing = crate::listings::update(state, user, &id, req)
            .await
            .map_err(gql)?;
        Ok(Listing::new(listing.view()))
    }

    /// Archives a listing (its seller or an administrator); answers its id.
    async fn archive_listing(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<ID> {
        let (state, user) = (state(ctx)?, user(ctx)?);
        crate::listings::archive(state, user, &id)
            .await
            .map_err(gql)?;
        Ok(id)
    }

    /// Buys units of a listing. With `idempotencyKey` a retry answers the first
    /// request's order (the same key as REST's `Idempotency-Key`, shared with it).
    async fn place_order(
        &self,
        ctx: &Context<'_>,
        input: PlaceOrderInput,
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<OrderPlaced> {
        let (state, user) = (state(ctx)?, user(ctx)?);
        // The REST route's own bucket, spent per order placed.
        let quota = state.config.edge.rate_limit_orders;
        let decision = state
            .limiter
            .check(&format!("orders-user:{}", user.id), quota)
            .await;
        if !decision.allowed {
            let secs = decision.retry_after.map_or(1, |d| d.as_secs().max(1));
            return Err(gql(ApiError::rate_limited(secs)));
        }
        let req: CreateOrder = rest_body(&input).map_err(gql)?;
        match keyed::place_once(state, user, &req, idempotency_key.as_deref())
            .await
            .map_err(gql)?
        {
            Placed::Fresh(created) => Ok(OrderPlaced {
                created: *created,
                replayed: false,
            }),
            Placed::Replay { status, body } => replay(status, &body),
        }
    }

    /// Cancels the viewer's order that awaits payment, releasing its units.
    async fn cancel_order(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Order> {
        let (state, user) = (state(ctx)?, user(ctx)?);
        let order = crate::orders::cancel(state, user, &id).await.map_err(gql)?;
        Ok(Order(order.view_for(&user.id)))
    }

    /// Revokes a buyer's token (the listing's seller or an administrator).
    async fn revoke_token(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<RevokedToken> {
        let (state, user) = (state(ctx)?, user(ctx)?);
        crate::tokens::revoke(state, user, &id).await.map_err(gql)?;
        Ok(RevokedToken {
            id,
            status: crate::vocab::GrantStatus::Revoked.as_str().to_owned(),
        })
    }

    /// Starts (or returns the open) settlement of what the viewer owes in `currency`:
    /// its oldest owed orders, at most 1,000.
    async fn settle_balance(
        &self,
        ctx: &Context<'_>,
        currency: String,
    ) -> async_graphql::Result<Settlement> {
        let (state, user) = (state(ctx)?, user(ctx)?);
        let view = crate::payments::settlement::settle(state, user, &currency)
            .await
            .map_err(gql)?;
        Ok(Settlement {
            id: ID(view.id),
            currency: view.currency,
            amount_cents: view.amount_cents,
            status: view.status.as_str().to_owned(),
            checkout_url: view.checkout_url,
            created_at: view.created_at,
        })
    }
}

/// The REST request type of a GraphQL input, through its JSON form.
fn rest_body<T: serde::de::DeserializeOwned>(input: &impl Serialize) -> Result<T, ApiError> {
    let value = serde_json::to_value(input).map_err(ApiError::internal)?;
    crate::extract::from_value(value)
}

/// A stored answer for the idempotency key: the order it made, or the refusal it got.
fn replay(status: axum::http::StatusCode, body: &[u8]) -> async_graphql::Result<OrderPlaced> {
    if status.is_success() {
        let created: OrderCreated =
            serde_json::from_slice(body).map_err(|e| gql(ApiError::internal(e)))?;
        return Ok(OrderPlaced {
            created,
            replayed: true,
        });
    }
    let envelope: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| gql(ApiError::internal(e)))?;
    let error = &envelope["error"];
    let code = error["code"]
        .as_str()
        .and_then(|c| c.parse::<ErrorCode>().ok())
        .unwrap_or(ErrorCode::Error);
    let message = error["message"].as_str().unwrap_or_default().to_owned();
    Err(coded(code, message))
}
