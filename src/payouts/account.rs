//! `GET/POST /api/v1/payouts/account`: a seller's Stripe Connect account and its
//! onboarding link (`super::connect`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::connect::{self, ConnectedAccount, Onboarding};
use super::model::PayoutProviderKind;
use crate::accounts::AuthUser;
use crate::error::ApiResult;
use crate::state::AppState;

/// The payout-account routes, relative to `/api/v1`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(payout_account, start_onboarding))
}

/// Where a seller's payouts go.
#[derive(Debug, Serialize, ToSchema)]
pub struct PayoutAccount {
    /// Who moves payouts on this server: `stripe`, or `dev` (simulated, no money
    /// moves, nothing to set up).
    pub provider: PayoutProviderKind,
    /// True when payouts are simulated (no Stripe configured).
    pub simulated: bool,
    /// The seller's connected account; absent until they start onboarding.
    pub account: Option<ConnectedAccount>,
}

/// The caller's payout account and its state as Stripe last reported it
/// (`account.updated` events keep it current).
#[utoipa::path(get, path = "/payouts/account", tag = "payouts",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The payout account", body = PayoutAccount),
        (status = 401, description = "Not signed in", body = crate::error::ErrorBody),
    ))]
async fn payout_account(
    State(state): State<AppState>,
    auth: AuthUser,
) -> ApiResult<Json<PayoutAccount>> {
    let stripe = state.config.stripe_secret_key.is_some();
    let account = if stripe {
        connect::account_of(&state.db, &auth.user.id).await?
    } else {
        None
    };
    Ok(Json(PayoutAccount {
        provider: if stripe {
            PayoutProviderKind::Stripe
        } else {
            PayoutProviderKind::Dev
        },
        simulated: !stripe,
        account,
    }))
}

/// Creates the caller's Stripe Express account (once) and returns a fresh,
/// single-use onboarding link; Stripe sends the seller back to `/dashboard/payouts`.
#[utoipa::path(post, path = "/payouts/account", tag = "payouts",
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The account and its onboarding link", body = Onboarding),
        (status = 401, description = "Not signed in", body = crate::error::ErrorBody),
        (status = 404, description = "Stripe is not configured: payouts are simulated", body = crate::error::ErrorBody),
        (status = 502, description = "Stripe refused the request", body = crate::error::ErrorBody),
        (status = 503, description = "Stripe is unreachable; try again", body = crate::error::ErrorBody),
    ))]
async fn start_onboarding(
    State(state): State<AppState>,
    auth: AuthUser,
) -> ApiResult<(StatusCode, Json<Onboarding>)> {
    let onboarding = connect::start_onboarding(&state, &auth.user).await?;
    Ok((StatusCode::CREATED, Json(onboarding)))
}
