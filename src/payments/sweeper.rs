//! The reservation sweeper, run by every server process.
//!
//! It finds checkouts past their expiry, asks the provider to close them, and
//! releases what they reserved. Many processes may sweep at once: each release is a
//! conditional update, so an order's units come back exactly once. If the provider
//! says the checkout was paid meanwhile, the payment is confirmed instead (which
//! also covers a webhook that never arrived).

use std::sync::LazyLock;
use std::time::Duration;

use super::ExpireOutcome;
use super::confirm::{self, PaidCheckout};
use crate::clock::now_ms;
use crate::error::ApiError;
use crate::state::AppState;
use crate::vocab::{EventOutcome, Lapse, OrderStatus, SettlementStatus};

/// One lapsed checkout to deal with: an order's or a settlement's id and its
/// provider session, if one was ever created.
#[derive(sqlx::FromRow)]
struct Lapsed {
    #[sqlx(rename = "id")]
    reference: String,
    #[sqlx(rename = "provider_session_id")]
    session_id: Option<String>,
}

/// Orders whose reservation lapsed, oldest first. The status is written into the
/// statement's text rather than bound: PostgreSQL uses the partial index
/// `orders_pending_expiry` (migrations) only for a predicate it can prove from the
/// text, which a generic plan of a bound parameter is not.
static LAPSED_ORDERS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT id, provider_session_id FROM orders \
         WHERE status = '{}' AND expires_at < $1 ORDER BY expires_at LIMIT 200",
        OrderStatus::PendingPayment
    )
});

/// Runs [`sweep_once`] every `interval` until `shutdown` fires.
pub async fn run(
    state: AppState,
    interval: Duration,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = shutdown.changed() => return,
        }
        match sweep_once(&state).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(released = n, "released lapsed reservations"),
            Err(err) => {
                tracing::warn!(error = %err.message(), "sweeping reservations failed; will retry")
            }
        }
    }
}

/// Handles every checkout that lapsed before now; returns how many were released.
pub async fn sweep_once(state: &AppState) -> Result<usize, ApiError> {
    let now = now_ms();
    let orders: Vec<Lapsed> = sqlx::query_as(LAPSED_ORDERS.as_str())
        .bind(now)
        .fetch_all(state.db.pool())
        .await?;
    let ttl = i64::try_from(state.config.reservation_ttl.0.as_millis()).unwrap_or(i64::MAX);
    let settlements: Vec<Lapsed> = sqlx::query_as(
        "SELECT id, provider_session_id FROM settlements \
         WHERE status = $2 AND created_at < $1 ORDER BY created_at LIMIT 200",
    )
    .bind(now.saturating_sub(ttl))
    .bind(SettlementStatus::Pending)
    .fetch_all(state.db.pool())
    .await?;
    let mut released = 0;
    for lapsed in orders.iter().chain(settlements.iter()) {
        if handle(state, lapsed).await? {
            released += 1;
        }
    }
    Ok(released)
}

async fn handle(state: &AppState, lapsed: &Lapsed) -> Result<bool, ApiError> {
    let outcome = match &lapsed.session_id {
        Some(session) => match state.payments.expire_checkout(session).await {
            Ok(outcome) => outcome,
            Err(err) => {
                // Keep the reservation until the provider answers: it may have been paid.
                tracing::warn!(reference = %lapsed.reference, error = %err, "could not expire a checkout; will retry");
                return Ok(false);
            }
        },
        // Never reached a provider (it failed at creation): nothing to close.
        None => ExpireOutcome::Expired,
    };
    let mut tx = state.db.begin_write().await?;
    let label = match outcome {
        ExpireOutcome::Expired => {
            confirm::checkout_lapsed(
                &mut tx,
                &lapsed.reference,
                lapsed.session_id.as_deref(),
                Lapse::Expired,
            )
            .await?
        }
        ExpireOutcome::Paid {
            payment_ref,
            amount_cents,
            currency,
        } => {
            let paid = PaidCheckout {
                // Asked about the session on record, so it is that one.
                session_id: lapsed.session_id.as_deref().unwrap_or_default(),
                amount_cents,
                currency: currency.as_deref(),
                payment_ref: payment_ref.as_deref(),
            };
            confirm::payment_succeeded(state, &mut tx, &lapsed.reference, &paid).await?
        }
        ExpireOutcome::Processing => Ok(EventOutcome::Processing),
    };
    let label = match label {
        Ok(outcome) => outcome,
        Err(mismatch) => {
            // The provider reports a payment other than the one on record: leave
            // the reservation for an operator rather than release paid-for units.
            tracing::error!(reference = %lapsed.reference, reason = %mismatch.0,
                "a lapsed checkout's payment does not match the record; left as it is");
            metrics::counter!("udam_sweeper_mismatches_total").increment(1);
            return Ok(false);
        }
    };
    crate::crash_point!("payments::sweep_before_commit");
    tx.commit().await?;
    state.cache.invalidate_all();
    Ok(label == EventOutcome::Released)
}
