//! HTTP handlers of the tokens API.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::TokenView;
use super::gateway::{RollQuery, RolledKey};
use crate::accounts::AuthUser;
use crate::error::ApiResult;
use crate::extract::ApiQuery;
use crate::gateway::report::{UsageQuery, UsageReport};
use crate::ids::{Grant, Id};
use crate::pagination::PageQuery;
use crate::state::AppState;

/// The tokens routes, relative to `/api/v1`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tokens))
        .routes(routes!(revoke_token))
        .routes(routes!(roll_token))
        .routes(routes!(token_usage))
}

/// A page of tokens.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenPage {
    /// Tokens, newest first.
    pub items: Vec<TokenView>,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// Revocation result.
#[derive(Debug, Serialize, ToSchema)]
pub struct Revoked {
    /// The grant id.
    pub id: String,
    /// Always `revoked`.
    pub status: crate::vocab::GrantStatus,
}

/// The caller's access tokens, with the seller keys opened for active ones.
#[utoipa::path(get, path = "/tokens", tag = "tokens",
    security(("bearer" = [])),
    params(PageQuery),
    responses((status = 200, description = "A page of tokens", body = TokenPage)))]
async fn list_tokens(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> ApiResult<Json<TokenPage>> {
    let page = query.parse()?;
    let (items, next_cursor) = super::list_for_buyer(&state, &auth.user, &page).await?;
    Ok(Json(TokenPage { items, next_cursor }))
}

/// Revokes a buyer's token (the listing's seller or an administrator).
#[utoipa::path(post, path = "/tokens/{id}/revoke", tag = "tokens",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Token (grant) id")),
    responses(
        (status = 200, description = "Revoked", body = Revoked),
        (status = 403, description = "The buyer cannot revoke", body = crate::error::ErrorBody),
    ))]
async fn revoke_token(
    State(state): State<AppState>,
    auth: AuthUser,
    id: Id<Grant>,
) -> ApiResult<Json<Revoked>> {
    super::revoke(&state, &auth.user, &id).await?;
    Ok(Json(Revoked {
        id: id.into_string(),
        status: crate::vocab::GrantStatus::Revoked,
    }))
}

/// Issues a new gateway key for the token's listing (its buyer only); the old key
/// keeps working for `grace_seconds`, by default not at all.
#[utoipa::path(post, path = "/tokens/{id}/roll", tag = "tokens",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Token (grant) id"), RollQuery),
    responses(
        (status = 200, description = "The new key, shown this once", body = RolledKey),
        (status = 403, description = "Not the token's buyer", body = crate::error::ErrorBody),
        (status = 409, description = "`not_gateway_delivery`", body = crate::error::ErrorBody),
    ))]
async fn roll_token(
    State(state): State<AppState>,
    auth: AuthUser,
    id: Id<Grant>,
    ApiQuery(query): ApiQuery<RollQuery>,
) -> ApiResult<Json<RolledKey>> {
    let rolled = super::gateway::roll(&state, &auth.user, &id, query.grace_seconds).await?;
    Ok(Json(rolled))
}

/// Requests served through the token's gateway key, per hour or day (its buyer only).
#[utoipa::path(get, path = "/tokens/{id}/usage", tag = "tokens",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Token (grant) id"), UsageQuery),
    responses(
        (status = 200, description = "Usage", body = UsageReport),
        (status = 403, description = "Not the token's buyer", body = crate::error::ErrorBody),
        (status = 409, description = "`not_gateway_delivery`", body = crate::error::ErrorBody),
    ))]
async fn token_usage(
    State(state): State<AppState>,
    auth: AuthUser,
    id: Id<Grant>,
    ApiQuery(query): ApiQuery<UsageQuery>,
) -> ApiResult<Json<UsageReport>> {
    let report = super::gateway::usage(&state, &auth.user, &id, query.granularity).await?;
    Ok(Json(report))
}
