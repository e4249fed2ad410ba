//! Who moves a payout's money: Stripe Connect transfers (`super::stripe`), or,
//! without Stripe, the dev provider here, which moves nothing and records each
//! payout as a simulation, so the whole flow (hold, run, ledger, listing) works on
//! the embedded default.

use super::model::{Payout, PayoutProviderKind};

/// Why a send did not happen.
#[derive(Debug)]
pub struct SendError {
    /// Safe to show (no secrets): what the provider said.
    pub message: String,
    /// False only when the provider refused the payout for good and moved nothing
    /// (the payout is then cancelled and its amount available again); true for
    /// anything whose outcome is unknown or may change (network, 5xx, rate limit, an
    /// answer that did not decode, a failed lookup of an earlier attempt).
    pub retryable: bool,
}

/// Sends one recorded payout; the payout's id is the idempotency key, so sending the
/// same payout twice moves the money once.
pub trait PayoutSender: Send + Sync {
    /// The kind recorded on new payouts.
    fn kind(&self) -> PayoutProviderKind;
    /// The ledger owner of the clearing account the money leaves (`dev`, `stripe`).
    fn clearing_owner(&self) -> &'static str;
    /// Sends `payout`; on success, the provider's transfer id.
    fn send<'a>(
        &'a self,
        payout: &'a Payout,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<String, SendError>> + Send + 'a>>;
}

/// The dev payout provider: records payouts as simulated, moves no money.
#[derive(Clone, Copy, Debug, Default)]
pub struct DevPayouts;

impl PayoutSender for DevPayouts {
    fn kind(&self) -> PayoutProviderKind {
        PayoutProviderKind::Dev
    }

    fn clearing_owner(&self) -> &'static str {
        "dev"
    }

    fn send<'a>(
        &'a self,
        payout: &'a Payout,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<String, SendError>> + Send + 'a>>
    {
        Box::pin(async move { Ok(format!("sim_{}", payout.id)) })
    }
}
