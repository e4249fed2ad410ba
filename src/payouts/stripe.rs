//! Payouts through Stripe Connect: one Transfer per payout to the seller's
//! connected account, and `transfer.reversed` bringing reversed money back.
//!
//! **Exactly once.** A transfer is created with `Idempotency-Key:
//! udam-payout-{payout id}` and `transfer_group` = the payout id. Before creating
//! one, the sender looks for a transfer already in that group: Stripe forgets
//! idempotency keys after 24 hours, and a payout whose answer was lost (timeout,
//! crash between the call and recording it) may be retried later than that. Either
//! way a retry finds the first transfer instead of making a second one; an unknown
//! outcome is never taken for a failure.

use super::model::{Payout, PayoutProviderKind, PayoutStatus};
use super::provider::{PayoutSender, SendError};
use super::store;
use crate::db::Tx;
use crate::error::ApiError;
use crate::ledger;
use crate::payments::confirm::{Applied, Mismatch};
use crate::payments::stripe::{Event, StripeClient, StripeError, TransferRequest};
use crate::vocab::EventOutcome;

/// The ledger owner of Stripe's clearing account (where Checkout payments land and
/// transfers leave from).
pub const CLEARING_OWNER: &str = "stripe";

/// Sends payouts as Stripe Transfers.
#[derive(Debug)]
pub struct StripePayouts {
    client: StripeClient,
}

impl StripePayouts {
    /// A sender talking to Stripe through `client`.
    pub fn new(client: StripeClient) -> Self {
        Self { client }
    }

    /// Makes the payout's transfer, or finds the one an earlier attempt made.
    ///
    /// Refused for good (`retryable: false`, the payout is then cancelled) only when
    /// nothing can have moved: no destination, or Stripe refusing the create call
    /// itself with 400, 402 or 404. Anything else may hide a transfer made (a lookup
    /// that failed, an answer that did not decode, 5xx, a timeout) or may pass later
    /// (401/403: our key; 409, 429), and keeps the payout pending.
    async fn transfer(&self, payout: &Payout) -> Result<String, SendError> {
        let Some(destination) = payout.destination.clone() else {
            return Err(SendError {
                message: "the payout has no connected account to pay".to_owned(),
                retryable: false,
            });
        };
        let unknown = |err: StripeError| SendError {
            // StripeError's Display never carries the secret key.
            message: err.to_string(),
            retryable: true,
        };
        // A transfer made by an earlier attempt whose answer never arrived.
        let earlier = self
            .client
            .transfers_in_group(&payout.id)
            .await
            .map_err(unknown)?;
        if let Some(found) = earlier
            .into_iter()
            .find(|t| t.destination.as_deref() == Some(destination.as_str()))
        {
            tracing::info!(payout = %payout.id, transfer = %found.id, "found the transfer of an earlier attempt");
            return Ok(found.id);
        }
        crate::crash_point!("payouts::before_transfer");
        let request = TransferRequest {
            amount: payout.amount_cents,
            currency: payout.currency.clone(),
            destination,
            transfer_group: payout.id.clone(),
        };
        let transfer = self
            .client
            .create_transfer(&request, &format!("udam-payout-{}", payout.id))
            .await
            .map_err(|err| {
                let refused = matches!(
                    err,
                    StripeError::Api {
                        status: 400 | 402 | 404,
                        ..
                    }
                );
                SendError {
                    message: err.to_string(),
                    retryable: !refused,
                }
            })?;
        crate::crash_point!("payouts::after_transfer");
        Ok(transfer.id)
    }
}

impl PayoutSender for StripePayouts {
    fn kind(&self) -> PayoutProviderKind {
        PayoutProviderKind::Stripe
    }

    fn clearing_owner(&self) -> &'static str {
        CLEARING_OWNER
    }

    fn send<'a>(
        &'a self,
        payout: &'a Payout,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<String, SendError>> + Send + 'a>>
    {
        Box::pin(self.transfer(payout))
    }
}

/// `transfer.reversed`: the reversed part of a payout's transfer goes back into the
/// seller's payable (available again at once). Order-proof: the event carries the
/// cumulative `amount_reversed`, and only what exceeds the reversals already posted
/// is posted, once (its reference names the cumulative figure).
pub async fn transfer_reversed(tx: &mut Tx, event: &Event) -> Result<Applied, ApiError> {
    let Some(transfer) = event.transfer() else {
        return Ok(Ok(EventOutcome::Ignored));
    };
    let Some(payout) =
        store::by_transfer(tx, &transfer.id, transfer.transfer_group.as_deref()).await?
    else {
        return Ok(Err(Mismatch(format!(
            "no payout was paid by transfer {}",
            transfer.id
        ))));
    };
    if payout.provider != PayoutProviderKind::Stripe
        || payout.amount_cents != transfer.amount
        || !payout.currency.eq_ignore_ascii_case(&transfer.currency)
        || payout.destination != transfer.destination
    {
        return Ok(Err(Mismatch(format!(
            "transfer {} does not match payout {} (amount, currency or destination)",
            transfer.id, payout.id
        ))));
    }
    if payout.status == PayoutStatus::Pending {
        // The run that made the transfer has not recorded it yet; once it has, Stripe's
        // retry of this event applies.
        return Err(ApiError::unavailable(
            "the payout of this transfer is not confirmed yet; retry later",
        ));
    }
    let already = store::reversed_cents(tx, &payout.id).await?;
    let more = transfer.amount_reversed.min(payout.amount_cents) - already;
    if more <= 0 {
        return Ok(Ok(EventOutcome::Ignored));
    }
    let reference = format!("payout_initiated:{}", payout.id);
    let initiated = ledger::recorded(tx, &reference)
        .await
        .map_err(|e| ApiError::internal(anyhow::anyhow!(e)))?
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("{reference} is not in the journal")))?;
    let key = format!("upto{}", transfer.amount_reversed);
    let posting = ledger::payout_reversed(&initiated, CLEARING_OWNER, more, &key)
        .map_err(|e| ApiError::internal(anyhow::anyhow!(e)))?;
    ledger::post(tx, &posting)
        .await
        .map_err(|e| ApiError::internal(anyhow::anyhow!(e)))?;
    if already + more >= payout.amount_cents {
        store::mark_reversed(tx, &payout.id, crate::clock::now_ms()).await?;
    }
    tracing::info!(payout = %payout.id, transfer = %transfer.id, reversed = more, "payout reversed");
    Ok(Ok(EventOutcome::PayoutReversed))
}
