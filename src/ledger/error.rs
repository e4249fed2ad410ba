//! Why the ledger refused to post: every refusal leaves the journal untouched.

use super::vocab::TransactionKind;

/// A refused posting, or the database failing underneath it.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// Debits and credits differ in one currency.
    #[error(
        "journal transaction {reference} does not balance in {currency}: debits {debits}, credits {credits}"
    )]
    Unbalanced {
        /// The transaction refused.
        reference: String,
        /// The currency that does not balance.
        currency: String,
        /// Sum of its debits.
        debits: i128,
        /// Sum of its credits.
        credits: i128,
    },
    /// The reference was posted before with different contents: the same event
    /// cannot mean two movements (the retry is not a retry).
    #[error("journal reference {0} was already posted with different entries")]
    ReferenceConflict(String),
    /// A negative total, a zero line, or an overflowing sum.
    #[error("invalid amount {0}")]
    InvalidAmount(i64),
    /// Not a currency UDAM knows, in lowercase.
    #[error("unknown currency {0:?}")]
    UnknownCurrency(String),
    /// A fee rate above 10 000 basis points.
    #[error("a platform fee of {0} basis points is above 100 %")]
    InvalidFeeRate(u32),
    /// A settlement must pay at least one order.
    #[error("a settlement pays at least one order")]
    EmptySettlement,
    /// An order that is not an instant sale of the settlement's buyer and currency.
    #[error("order {0} cannot be paid by this settlement")]
    NotSettleable(String),
    /// The amount received is not the sum claimed.
    #[error("received {received} but the orders total {expected}")]
    AmountMismatch {
        /// What the orders add up to.
        expected: i64,
        /// What was received.
        received: i64,
    },
    /// A refund larger than what is left of the sale.
    #[error("refund of {requested} for order {order_id} exceeds the {refundable} left to refund")]
    RefundExceedsSale {
        /// The order.
        order_id: String,
        /// The refund asked for.
        requested: i64,
        /// What remains refundable.
        refundable: i64,
    },
    /// A reversal of a transaction of the wrong kind.
    #[error("expected a {expected} transaction, found {found}")]
    WrongKind {
        /// The kind the builder reverses.
        expected: TransactionKind,
        /// The kind it was given.
        found: TransactionKind,
    },
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}
