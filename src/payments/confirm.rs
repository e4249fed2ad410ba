//! The effects of payment events, shared by every way they can arrive: a verified
//! Stripe webhook, the sweeper asking Stripe about a lapsed checkout, and the dev
//! checkout's buttons. Each runs inside the caller's transaction.

use crate::db::Tx;
use crate::error::{ApiError, ErrorCode};
use crate::orders::lifecycle::{self, Confirmation};
use crate::state::AppState;
use crate::vocab::{EventOutcome, Lapse};

/// A checkout was paid. `reference` is an order id (`ord_…`) or a settlement id
/// (`stl_…`). Returns an outcome label for logs and metrics.
///
/// A payment for units that were already released and are gone is refunded here,
/// before the transaction commits: if the refund call fails, everything rolls back
/// and the provider's retry of the event tries again (the refund's idempotency key
/// makes a second attempt safe).
pub async fn payment_succeeded(
    state: &AppState,
    tx: &mut Tx,
    reference: &str,
    payment_ref: Option<&str>,
) -> Result<EventOutcome, ApiError> {
    if reference.starts_with("stl_") {
        let settled = super::settlement::mark_paid(tx, reference).await?;
        return Ok(if settled {
            EventOutcome::Settled
        } else {
            EventOutcome::Duplicate
        });
    }
    match lifecycle::confirm_payment(tx, reference, payment_ref).await? {
        Confirmation::Fulfilled => Ok(EventOutcome::Fulfilled),
        Confirmation::AlreadyFulfilled | Confirmation::AlreadyRefunded => {
            Ok(EventOutcome::Duplicate)
        }
        Confirmation::Unknown => Ok(EventOutcome::UnknownOrder),
        Confirmation::MustRefund => {
            if let Some(payment_ref) = payment_ref {
                let key = format!("udam-refund-{reference}");
                state
                    .payments
                    .refund(payment_ref, &key)
                    .await
                    .map_err(|err| {
                        ApiError::new(
                            axum::http::StatusCode::BAD_GATEWAY,
                            ErrorCode::PaymentProviderUnavailable,
                            format!("refunding a late payment failed; it will be retried: {err}"),
                        )
                    })?;
            }
            Ok(EventOutcome::Refunded)
        }
    }
}

/// A checkout lapsed (`expired`) or its delayed payment failed (`failed`): release
/// what it reserved. Exactly once, however often it is reported.
pub async fn checkout_lapsed(
    tx: &mut Tx,
    reference: &str,
    why: Lapse,
) -> Result<EventOutcome, ApiError> {
    if reference.starts_with("stl_") {
        let lapsed = super::settlement::mark_lapsed(tx, reference, why.settlement_status()).await?;
        return Ok(if lapsed {
            EventOutcome::Released
        } else {
            EventOutcome::Duplicate
        });
    }
    let released = lifecycle::release_in(tx, reference, why.order_status()).await?;
    Ok(if released {
        EventOutcome::Released
    } else {
        EventOutcome::Duplicate
    })
}

/// A charge was refunded at the provider: the order's tokens stop working, the
/// order is marked refunded, and its units return to the listing.
pub async fn charge_refunded(tx: &mut Tx, payment_ref: &str) -> Result<EventOutcome, ApiError> {
    let refunded = lifecycle::refund_fulfilled(tx, payment_ref).await?;
    Ok(if refunded {
        EventOutcome::Revoked
    } else {
        EventOutcome::Duplicate
    })
}
