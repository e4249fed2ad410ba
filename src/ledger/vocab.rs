//! The ledger's vocabulary: which accounts exist and which kinds of journal
//! transaction move money between them. Each is an enum stored as snake_case TEXT;
//! docs/LEDGER.md explains every kind.

use std::fmt;

/// Owner of the marketplace's own accounts (fees, suspense).
pub const PLATFORM_OWNER: &str = "platform";

crate::vocabulary! {
    /// What an account records. Every account belongs to one owner and holds one currency.
    #[derive(PartialOrd, Ord)]
    pub enum AccountKind {
        /// What a buyer owes for orders fulfilled on deferred payment (debit-normal).
        BuyerReceivable = "buyer_receivable",
        /// A seller's share of sales the buyer has not paid yet (credit-normal).
        SellerPending = "seller_pending",
        /// A seller's share of paid sales, owed to the seller (credit-normal).
        SellerPayable = "seller_payable",
        /// The platform's fee on each sale (credit-normal, owner [`PLATFORM_OWNER`]).
        PlatformFees = "platform_fees",
        /// Money held for us at a payment provider (debit-normal, owner `stripe` or `dev`).
        ProviderClearing = "provider_clearing",
        /// Money received that pays for nothing and is owed back to a buyer (credit-normal).
        RefundsPayable = "refunds_payable",
        /// Differences nobody could explain (credit-normal, owner [`PLATFORM_OWNER`]);
        /// anything here is reported by `udam ledger verify` until an adjustment clears it.
        Suspense = "suspense",
        /// A seller's money taken out of their payable for a payout not yet confirmed sent
        /// by the payout provider (credit-normal, owner the seller).
        PayoutsInTransit = "payouts_in_transit",
    }
}

impl AccountKind {
    /// True for accounts whose natural balance is a debit (what others owe us or what
    /// we hold); false for those that record what we owe or earned.
    pub fn is_debit_normal(self) -> bool {
        matches!(self, Self::BuyerReceivable | Self::ProviderClearing)
    }

    /// The balance as people read it: positive when the account holds what its name
    /// says (a buyer owes, a seller is owed), from the signed sum of its entries.
    pub fn natural_balance(self, signed_sum: i64) -> i64 {
        if self.is_debit_normal() {
            signed_sum
        } else {
            signed_sum.saturating_neg()
        }
    }
}

crate::vocabulary! {
    /// The money event a journal transaction records; its stored name is also the
    /// prefix of the transaction's reference (`kind:subject…`).
    pub enum TransactionKind {
        /// An order fulfilled at once, paid later (the buyer owes).
        InstantSale = "instant_sale",
        /// The instant sales of one combined purchase statement (PostgreSQL): one line
        /// per buyer, seller and currency; each order names it in `sale_reference` and
        /// records its fee in `sale_fee_cents`.
        InstantSales = "instant_sales",
        /// An order paid through a checkout before fulfilment.
        PaidSale = "paid_sale",
        /// A settlement's payment: the buyer's debt for its orders is paid.
        SettlementPaid = "settlement_paid",
        /// A settlement's payment given back: the debt returns.
        SettlementRefund = "settlement_refund",
        /// A paid sale refunded, fully or in part.
        Refund = "refund",
        /// An instant sale voided before it was paid (the debt is forgiven).
        Reversal = "reversal",
        /// A payment that pays for nothing (units gone, orders already paid), owed back.
        UnappliedPayment = "unapplied_payment",
        /// Money owed back to a buyer, returned through the provider.
        PaymentReturned = "payment_returned",
        /// A manual correction by an operator, balanced like any other.
        Adjustment = "adjustment",
        /// A payout recorded: the amount leaves the seller's payable for in-transit.
        PayoutInitiated = "payout_initiated",
        /// A payout confirmed sent by the payout provider: in-transit leaves our clearing.
        PayoutSent = "payout_sent",
        /// A payout the provider refused for good: the amount returns to payable.
        PayoutCancelled = "payout_cancelled",
        /// A sent payout reversed by the provider: the money is back and payable again.
        PayoutReversed = "payout_reversed",
    }
}

/// One account: its owner, kind and currency.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Account {
    /// A user id, [`PLATFORM_OWNER`], or a provider name for clearing accounts.
    pub owner: String,
    /// What it records.
    pub kind: AccountKind,
    /// Lowercase ISO 4217 code.
    pub currency: String,
}

impl Account {
    /// The account of `kind` held by `owner` in `currency`.
    pub fn new(owner: &str, kind: AccountKind, currency: &str) -> Self {
        Self {
            owner: owner.to_owned(),
            kind,
            currency: currency.to_owned(),
        }
    }
}

impl fmt::Display for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.owner, self.kind, self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for &kind in AccountKind::ALL {
            assert_eq!(kind.as_str().parse(), Ok(kind));
        }
        for &kind in TransactionKind::ALL {
            assert_eq!(kind.as_str().parse(), Ok(kind));
        }
        assert!("cash".parse::<AccountKind>().is_err());
        assert!("sale".parse::<TransactionKind>().is_err());
    }

    #[test]
    fn natural_balances_read_as_named() {
        // A buyer owing 5.00 has a debit of 500; a seller owed 5.00 a credit of 500.
        assert_eq!(AccountKind::BuyerReceivable.natural_balance(500), 500);
        assert_eq!(AccountKind::SellerPayable.natural_balance(-500), 500);
        assert_eq!(AccountKind::PlatformFees.natural_balance(-7), 7);
    }
}
