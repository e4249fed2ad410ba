//! Payout routes: a seller's payouts, and the administrator's hold and run.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::model::Payout;
use super::{run, store};
use crate::accounts::AuthUser;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery};
use crate::ids::{Entity, Id};
use crate::pagination::{self, PageQuery};
use crate::state::AppState;

/// Marks seller (user) ids in payout routes (`usr_…`).
pub enum Seller {}
impl Entity for Seller {
    const PREFIX: &'static str = "usr";
    const NAME: &'static str = "seller";
}

/// The payout routes, relative to `/api/v1`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_payouts))
        .routes(routes!(hold_payouts))
        .routes(routes!(run_payouts))
        .merge(super::account::routes())
}

/// `GET /payouts`: a page of payouts, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct PayoutPage {
    /// This page.
    pub items: Vec<Payout>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

/// The caller's payouts as a seller, newest first.
#[utoipa::path(get, path = "/payouts", tag = "payouts",
    security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "A page of payouts", body = PayoutPage),
        (status = 400, description = "Bad limit or cursor", body = crate::error::ErrorBody),
        (status = 401, description = "Not signed in", body = crate::error::ErrorBody),
    ))]
async fn list_payouts(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> ApiResult<Json<PayoutPage>> {
    let page = query.parse()?;
    let rows = store::list(&state.db, &auth.user.id, &page).await?;
    let (rows, next_cursor) = pagination::finish(rows, page.limit, |r| (r.0, r.1.id.clone()));
    Ok(Json(PayoutPage {
        items: rows.into_iter().map(|(_, p)| p).collect(),
        next_cursor,
    }))
}

/// `POST /admin/sellers/{id}/payouts-hold`.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PayoutHold {
    /// True to hold the seller's payouts, false to release them.
    pub held: bool,
}

/// Holds (or releases) a seller's payouts: runs skip a held seller, whose money stays
/// payable. Administrators only.
#[utoipa::path(post, path = "/admin/sellers/{id}/payouts-hold", tag = "payouts",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The seller's user id")),
    request_body = PayoutHold,
    responses(
        (status = 200, description = "The hold as set", body = PayoutHold),
        (status = 401, description = "Not signed in", body = crate::error::ErrorBody),
        (status = 403, description = "Not an administrator", body = crate::error::ErrorBody),
        (status = 404, description = "No such user", body = crate::error::ErrorBody),
        (status = 422, description = "Malformed body", body = crate::error::ErrorBody),
    ))]
async fn hold_payouts(
    State(state): State<AppState>,
    auth: AuthUser,
    seller: Id<Seller>,
    ApiJson(body): ApiJson<PayoutHold>,
) -> ApiResult<Json<PayoutHold>> {
    if !auth.user.is_admin {
        return Err(ApiError::forbidden("only administrators may hold payouts"));
    }
    if !store::set_held(&state.db, seller.as_str(), body.held).await? {
        return Err(ApiError::not_found(Seller::NAME));
    }
    tracing::info!(seller = seller.as_str(), held = body.held, admin = %auth.user.id,
        "payout hold changed");
    Ok(Json(body))
}

/// What `POST /admin/payouts/run` did.
#[derive(Debug, Serialize, ToSchema)]
pub struct PayoutRunResult {
    /// False when another process was running payouts (nothing done).
    pub ran: bool,
    /// Payouts recorded.
    pub recorded: usize,
    /// Payouts sent (new or retried).
    pub sent: usize,
    /// Sends that failed and stay pending for the next run.
    pub failed: usize,
    /// Payouts the provider refused for good: now `failed`, their amount available
    /// again for the next run.
    pub refused: usize,
}

/// Runs payouts now (as `udam payouts run` does), under the same lease. Administrators
/// only.
#[utoipa::path(post, path = "/admin/payouts/run", tag = "payouts",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "What the run did", body = PayoutRunResult),
        (status = 401, description = "Not signed in", body = crate::error::ErrorBody),
        (status = 403, description = "Not an administrator", body = crate::error::ErrorBody),
    ))]
async fn run_payouts(
    State(state): State<AppState>,
    auth: AuthUser,
) -> ApiResult<Json<PayoutRunResult>> {
    if !auth.user.is_admin {
        return Err(ApiError::forbidden("only administrators may run payouts"));
    }
    let sender = run::sender(&state.config).map_err(|e| ApiError::unavailable(e.to_string()))?;
    let holder = crate::ids::new_id("run");
    let report = run::run_once(&state.db, &state.config.payouts, sender.as_ref(), &holder).await?;
    Ok(Json(PayoutRunResult {
        ran: report.ran,
        recorded: report.recorded,
        sent: report.sent,
        failed: report.failed,
        refused: report.refused,
    }))
}
