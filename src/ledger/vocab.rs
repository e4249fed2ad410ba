//! The ledger's vocabulary: which accounts exist and which kinds of journal
//! transaction move money between them. Each is an enum stored as snake_case TEXT;
//! docs/LEDGER.md explains every kind.

use std::fmt;

/// Owner of the marketplace's own accounts (fees, suspense).
pub const PLATFORM_OWNER: &str = "platform";

/// What an account records. Every account belongs to one owner and holds one currency.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AccountKind {
    /// What a buyer owes for orders fulfilled on deferred payment (debit-normal).
    BuyerReceivable,
    /// A seller's share of sales the buyer has not paid yet (credit-normal).
    SellerPending,
    /// A seller's share of paid sales, owed to the seller (credit-normal).
    SellerPayable,
    /// The platform's fee on each sale (credit-normal, owner [`PLATFORM_OWNER`]).
    PlatformFees,
    /// Money held for us at a payment provider (debit-normal, owner `stripe` or `dev`).
    ProviderClearing,
    /// Money received that pays for nothing and is owed back to a buyer (credit-normal).
    RefundsPayable,
    /// Differences nobody could explain (credit-normal, owner [`PLATFORM_OWNER`]);
    /// anything here is reported by `udam ledger verify` until an adjustment clears it.
    Suspense,
    /// A seller's money taken out of their payable for a payout not yet confirmed sent
    /// by the payout provider (credit-normal, owner the seller).
    PayoutsInTransit,
}

impl AccountKind {
    /// Every kind, for parsing and documentation.
    pub const ALL: [Self; 8] = [
        Self::BuyerReceivable,
        Self::SellerPending,
        Self::SellerPayable,
        Self::PlatformFees,
        Self::ProviderClearing,
        Self::RefundsPayable,
        Self::Suspense,
        Self::PayoutsInTransit,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BuyerReceivable => "buyer_receivable",
            Self::SellerPending => "seller_pending",
            Self::SellerPayable => "seller_payable",
            Self::PlatformFees => "platform_fees",
            Self::ProviderClearing => "provider_clearing",
            Self::RefundsPayable => "refunds_payable",
            Self::Suspense => "suspense",
            Self::PayoutsInTransit => "payouts_in_transit",
        }
    }

    /// Parses a stored name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == name)
    }

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

impl fmt::Display for AccountKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The money event a journal transaction records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TransactionKind {
    /// An order fulfilled at once, paid later (the buyer owes).
    InstantSale,
    /// An order paid through a checkout before fulfilment.
    PaidSale,
    /// A settlement's payment: the buyer's debt for its orders is paid.
    SettlementPaid,
    /// A settlement's payment given back: the debt returns.
    SettlementRefund,
    /// A paid sale refunded, fully or in part.
    Refund,
    /// An instant sale voided before it was paid (the debt is forgiven).
    Reversal,
    /// A payment that pays for nothing (units gone, orders already paid), owed back.
    UnappliedPayment,
    /// Money owed back to a buyer, returned through the provider.
    PaymentReturned,
    /// A manual correction by an operator, balanced like any other.
    Adjustment,
    /// A payout recorded: the amount leaves the seller's payable for in-transit.
    PayoutInitiated,
    /// A payout confirmed sent by the payout provider: in-transit leaves our clearing.
    PayoutSent,
    /// A payout the provider refused for good: the amount returns to payable.
    PayoutCancelled,
    /// A sent payout reversed by the provider: the money is back and payable again.
    PayoutReversed,
}

impl TransactionKind {
    /// Every kind.
    pub const ALL: [Self; 13] = [
        Self::InstantSale,
        Self::PaidSale,
        Self::SettlementPaid,
        Self::SettlementRefund,
        Self::Refund,
        Self::Reversal,
        Self::UnappliedPayment,
        Self::PaymentReturned,
        Self::Adjustment,
        Self::PayoutInitiated,
        Self::PayoutSent,
        Self::PayoutCancelled,
        Self::PayoutReversed,
    ];

    /// The stored name, also the prefix of the transaction's reference.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InstantSale => "instant_sale",
            Self::PaidSale => "paid_sale",
            Self::SettlementPaid => "settlement_paid",
            Self::SettlementRefund => "settlement_refund",
            Self::Refund => "refund",
            Self::Reversal => "reversal",
            Self::UnappliedPayment => "unapplied_payment",
            Self::PaymentReturned => "payment_returned",
            Self::Adjustment => "adjustment",
            Self::PayoutInitiated => "payout_initiated",
            Self::PayoutSent => "payout_sent",
            Self::PayoutCancelled => "payout_cancelled",
            Self::PayoutReversed => "payout_reversed",
        }
    }

    /// Parses a stored name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == name)
    }
}

impl fmt::Display for TransactionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
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
        for kind in AccountKind::ALL {
            assert_eq!(AccountKind::parse(kind.as_str()), Some(kind));
        }
        for kind in TransactionKind::ALL {
            assert_eq!(TransactionKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(AccountKind::parse("cash"), None);
        assert_eq!(TransactionKind::parse("sale"), None);
    }

    #[test]
    fn natural_balances_read_as_named() {
        // A buyer owing 5.00 has a debit of 500; a seller owed 5.00 a credit of 500.
        assert_eq!(AccountKind::BuyerReceivable.natural_balance(500), 500);
        assert_eq!(AccountKind::SellerPayable.natural_balance(-500), 500);
        assert_eq!(AccountKind::PlatformFees.natural_balance(-7), 7);
    }
}
