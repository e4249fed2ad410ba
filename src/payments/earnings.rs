//! `GET /api/v1/earnings`: what a seller has earned, per currency, read from the
//! ledger (docs/LEDGER.md). *Pending* is the seller's share of sales whose buyers
//! have not paid yet (`seller_pending`); *available* is their share of paid sales
//! (`seller_payable`), what the marketplace owes them. Both are after the platform's
//! fee, which sellers are not shown separately: it is the platform's account.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::accounts::AuthUser;
use crate::error::ApiResult;
use crate::ledger::{self, AccountKind};
use crate::state::AppState;

/// The earnings route, relative to `/api/v1`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_earnings))
}

/// A seller's earnings in one currency, minor units.
#[derive(Debug, Serialize, ToSchema, PartialEq, Eq)]
pub struct CurrencyEarnings {
    /// Lowercase ISO 4217 code.
    #[schema(example = "usd")]
    pub currency: String,
    /// The seller's share of sales not paid by their buyers yet.
    pub pending_cents: i64,
    /// The seller's share of paid sales, owed to the seller (refunds already taken off;
    /// below zero only when refunds exceed what was earned).
    pub available_cents: i64,
}

/// `GET /earnings`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Earnings {
    /// One entry per currency the caller has sold in, by currency.
    pub items: Vec<CurrencyEarnings>,
}

/// The caller's earnings per currency, from their ledger accounts.
pub async fn earnings_of(state: &AppState, seller_id: &str) -> Result<Earnings, sqlx::Error> {
    let mut conn = state.db.pool().acquire().await?;
    let balances = ledger::owner_balances(&mut conn, seller_id).await?;
    let mut items: Vec<CurrencyEarnings> = Vec::new();
    for balance in balances {
        let field = match balance.account.kind {
            AccountKind::SellerPending => 0,
            AccountKind::SellerPayable => 1,
            _ => continue,
        };
        let currency = balance.account.currency;
        let index = match items.iter().position(|e| e.currency == currency) {
            Some(i) => i,
            None => {
                items.push(CurrencyEarnings {
                    currency,
                    pending_cents: 0,
                    available_cents: 0,
                });
                items.len() - 1
            }
        };
        if field == 0 {
            items[index].pending_cents = balance.balance_cents;
        } else {
            items[index].available_cents = balance.balance_cents;
        }
    }
    items.sort_by(|a, b| a.currency.cmp(&b.currency));
    Ok(Earnings { items })
}

/// What the caller earned as a seller, per currency: pending and available.
#[utoipa::path(get, path = "/earnings", tag = "orders",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Earnings per currency, from the ledger", body = Earnings),
        (status = 401, description = "Not signed in", body = crate::error::ErrorBody),
    ))]
async fn get_earnings(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<Earnings>> {
    Ok(Json(earnings_of(&state, &auth.user.id).await?))
}
