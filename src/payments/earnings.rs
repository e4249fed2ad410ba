//! `GET /api/v1/earnings` and `GET /api/v1/earnings/entries`: what a seller has
//! earned, per currency and per sale, read from the ledger (docs/LEDGER.md,
//! docs/PAYOUTS.md).
//!
//! *Pending* is the seller's share of sales whose buyers have not paid yet
//! (`seller_pending`); *held* is their share of paid sales inside the payout hold;
//! *available* is the rest of what is owed to them (`seller_payable`), what the next
//! payout run sends; *paid out* and *in transit* are payouts; the platform fee is
//! what the platform kept of their sales. Nothing is summed across currencies.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::accounts::AuthUser;
use crate::error::ApiResult;
use crate::extract::ApiQuery;
use crate::ledger::{AccountKind, TransactionKind};
use crate::pagination::{self, Page, PageQuery};
use crate::payouts::balances::{SellerBalance, seller_balances};
use crate::state::AppState;
use crate::vocab::PaymentStatus;

/// The earnings routes, relative to `/api/v1`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_earnings))
        .routes(routes!(get_earning_entries))
}

/// A seller's earnings in one currency, minor units.
#[derive(Debug, Serialize, ToSchema, PartialEq, Eq)]
pub struct CurrencyEarnings {
    /// Lowercase ISO 4217 code.
    #[schema(example = "usd")]
    pub currency: String,
    /// The seller's share of sales not paid by their buyers yet.
    pub pending_cents: i64,
    /// The seller's share of paid sales past the payout hold, not paid out yet: what
    /// the next payout sends (refunds already taken off; below zero only when refunds
    /// exceed what was earned, which later sales recover first).
    pub available_cents: i64,
    /// The seller's share of paid sales still inside the payout hold.
    pub held_cents: i64,
    /// Everything owed to the seller now: held + available.
    pub payable_cents: i64,
    /// Payouts recorded, not yet confirmed sent by the payout provider.
    pub in_transit_cents: i64,
    /// Payouts sent, less payouts reversed.
    pub paid_out_cents: i64,
    /// The platform's fee on the seller's sales (less fees returned by refunds).
    pub platform_fee_cents: i64,
}

impl From<SellerBalance> for CurrencyEarnings {
    fn from(b: SellerBalance) -> Self {
        Self {
            currency: b.currency,
            pending_cents: b.pending_cents,
            available_cents: b.available_cents,
            held_cents: b.held_cents,
            payable_cents: b.payable_cents,
            in_transit_cents: b.in_transit_cents,
            paid_out_cents: b.paid_out_cents,
            platform_fee_cents: b.platform_fee_cents,
        }
    }
}

/// `GET /earnings`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Earnings {
    /// One entry per currency the caller has sold in, by currency.
    pub items: Vec<CurrencyEarnings>,
    /// Days a paid sale stays held before a payout may include it.
    pub hold_days: u32,
}

/// The caller's earnings per currency, from their ledger accounts, as of the payout
/// clock.
pub async fn earnings_of(state: &AppState, seller_id: &str) -> Result<Earnings, sqlx::Error> {
    let payouts = &state.config.payouts;
    let hold_from = payouts.now_ms() - payouts.hold_ms();
    let mut conn = state.db.pool().acquire().await?;
    let balances = seller_balances(&mut conn, seller_id, hold_from).await?;
    Ok(Earnings {
        items: balances.into_iter().map(CurrencyEarnings::from).collect(),
        hold_days: payouts.payout_hold_days,
    })
}

/// What the caller earned as a seller, per currency: pending, held, available, paid
/// out, and the platform's fee.
#[utoipa::path(get, path = "/earnings", tag = "orders",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Earnings per currency, from the ledger", body = Earnings),
        (status = 401, description = "Not signed in", body = crate::error::ErrorBody),
    ))]
async fn get_earnings(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<Earnings>> {
    Ok(Json(earnings_of(&state, &auth.user.id).await?))
}

crate::vocabulary! {
    /// Where one sale's earnings stand.
    pub enum EarningState {
        /// The buyer has not paid yet.
        Pending = "pending",
        /// Paid, inside the payout hold.
        Held = "held",
        /// Paid and past the hold: payable by the next payout (or paid out already).
        Cleared = "cleared",
        /// Refunded in full: nothing earned.
        Refunded = "refunded",
    }
}

/// One sale, as the seller earned from it.
#[derive(Debug, Serialize, ToSchema)]
pub struct EarningEntry {
    /// The order.
    pub order_id: String,
    /// The listing sold.
    pub listing_id: String,
    /// When it was bought (RFC 3339).
    pub created_at: String,
    /// When the buyer paid (RFC 3339), if they have.
    pub paid_at: Option<String>,
    /// Lowercase ISO 4217 code.
    pub currency: String,
    /// What the buyer was charged.
    pub total_cents: i64,
    /// The platform's fee on it, less fee returned by refunds.
    pub platform_fee_cents: i64,
    /// What was refunded to the buyer.
    pub refunded_cents: i64,
    /// The seller's share after fee and refunds.
    pub net_cents: i64,
    /// Where it stands.
    pub state: EarningState,
}

/// `GET /earnings/entries`: a page of sales, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct EarningEntryPage {
    /// This page.
    pub items: Vec<EarningEntry>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

/// Per-sale breakdown of the caller's earnings, newest first (keyset pages).
#[utoipa::path(get, path = "/earnings/entries", tag = "orders",
    security(("bearer" = [])),
    params(PageQuery),
    responses(
        (status = 200, description = "A page of sales with their earnings", body = EarningEntryPage),
        (status = 400, description = "Bad limit or cursor", body = crate::error::ErrorBody),
        (status = 401, description = "Not signed in", body = crate::error::ErrorBody),
    ))]
async fn get_earning_entries(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> ApiResult<Json<EarningEntryPage>> {
    let page = query.parse()?;
    let hold_from = state.config.payouts.now_ms() - state.config.payouts.hold_ms();
    let rows = entries(&state, &auth.user.id, &page, hold_from).await?;
    let (rows, next_cursor) = pagination::finish(rows, page.limit, |r| (r.0, r.1.order_id.clone()));
    Ok(Json(EarningEntryPage {
        items: rows.into_iter().map(|(_, e)| e).collect(),
        next_cursor,
    }))
}

/// One sale of a seller's, with the journal's figures about it.
#[derive(sqlx::FromRow)]
struct EntryRow {
    id: String,
    listing_id: String,
    currency: String,
    total_cents: i64,
    created_at: i64,
    /// Signed sum of its platform-fee entries (credits: negative), with the fee of
    /// its share of a combined statement's `instant_sales` (recorded on the order).
    fee_cents: Option<i64>,
    /// Signed sum of its refunds out of provider clearing (negative).
    refunded_cents: Option<i64>,
    /// When the buyer's money was posted: its paid sale or its settlement's payment.
    paid_at: Option<i64>,
}

/// Up to `limit + 1` sales of `seller` before the page's position, with their
/// `created_at` for the cursor.
async fn entries(
    state: &AppState,
    seller: &str,
    page: &Page,
    hold_from: i64,
) -> Result<Vec<(i64, EarningEntry)>, sqlx::Error> {
    let rows: Vec<EntryRow> = sqlx::query_as(
        "SELECT o.id, o.listing_id, o.currency, o.total_cents, o.created_at, \
           CAST(COALESCE((SELECT SUM(e.amount_cents) FROM journal_entries e \
              JOIN journal_transactions t ON t.reference = e.reference \
              WHERE t.subject_id = o.id AND e.account_kind = $5), 0) \
              - COALESCE(o.sale_fee_cents, 0) AS BIGINT) AS fee_cents, \
           (SELECT CAST(SUM(e.amount_cents) AS BIGINT) FROM journal_entries e \
              JOIN journal_transactions t ON t.reference = e.reference \
              WHERE t.subject_id = o.id AND t.kind = $6 \
                AND e.account_kind = $7) AS refunded_cents, \
           COALESCE( \
             (SELECT t.created_at FROM journal_transactions t \
                WHERE t.reference = $8 || ':' || o.id), \
             (SELECT t.created_at FROM journal_transactions t \
                WHERE o.payment_status <> $9 \
                  AND t.reference = $10 || ':' || o.settlement_id)) AS paid_at \
         FROM orders o \
         WHERE o.seller_id = $1 \
           AND EXISTS (SELECT 1 FROM journal_transactions t \
                       WHERE t.reference = $11 || ':' || o.id \
                          OR t.reference = $8 || ':' || o.id \
                          OR t.reference = o.sale_reference) \
           AND (o.created_at < $2 OR (o.created_at = $2 AND o.id < $3)) \
         ORDER BY o.created_at DESC, o.id DESC LIMIT $4",
    )
    .bind(seller)
    .bind(page.before.0)
    .bind(&page.before.1)
    .bind(page.limit + 1)
    .bind(AccountKind::PlatformFees)
    .bind(TransactionKind::Refund)
    .bind(AccountKind::ProviderClearing)
    .bind(TransactionKind::PaidSale)
    .bind(PaymentStatus::Deferred)
    .bind(TransactionKind::SettlementPaid)
    .bind(TransactionKind::InstantSale)
    .fetch_all(state.db.pool())
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let total_cents = row.total_cents;
        let platform_fee_cents = row.fee_cents.unwrap_or(0).saturating_neg();
        let refunded_cents = row.refunded_cents.unwrap_or(0).saturating_neg();
        let state = if total_cents > 0 && refunded_cents >= total_cents {
            EarningState::Refunded
        } else {
            match row.paid_at {
                None => EarningState::Pending,
                Some(at) if at > hold_from => EarningState::Held,
                Some(_) => EarningState::Cleared,
            }
        };
        out.push((
            row.created_at,
            EarningEntry {
                order_id: row.id,
                listing_id: row.listing_id,
                created_at: crate::clock::rfc3339(row.created_at),
                paid_at: row.paid_at.map(crate::clock::rfc3339),
                currency: row.currency,
                total_cents,
                platform_fee_cents,
                refunded_cents,
                net_cents: total_cents - platform_fee_cents - refunded_cents,
                state,
            },
        ));
    }
    Ok(out)
}
