//! What a payout is, as stored and as the API shows it.

use serde::Serialize;
use utoipa::ToSchema;

// Declared with the other statuses, so that `udam ledger verify` reads it without
// importing this capability.
pub use crate::vocab::PayoutStatus;

crate::vocabulary! {
    /// Who moves a payout's money.
    pub enum PayoutProviderKind {
        /// No money moves: the payout is recorded as a simulation (no Stripe configured).
        Dev = "dev",
        /// A Stripe Connect transfer to the seller's connected account.
        Stripe = "stripe",
    }
}

/// One payout to a seller.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Payout {
    /// `po_…`.
    pub id: String,
    /// The seller paid.
    pub seller_id: String,
    /// Lowercase ISO 4217 code.
    pub currency: String,
    /// Minor units.
    pub amount_cents: i64,
    /// Where it stands.
    pub status: PayoutStatus,
    /// Who moves the money.
    pub provider: PayoutProviderKind,
    /// True when no money moved (the dev payout provider).
    pub simulated: bool,
    /// The connected account paid (`acct_…`, Stripe); absent for simulated payouts.
    pub destination: Option<String>,
    /// The provider's transfer id, once sent.
    pub transfer_id: Option<String>,
    /// Attempts made to send it.
    pub attempts: i64,
    /// When it was recorded (RFC 3339).
    pub created_at: String,
    /// Last change (RFC 3339).
    pub updated_at: String,
}
