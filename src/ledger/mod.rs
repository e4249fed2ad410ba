//! The double-entry ledger under every money movement (docs/LEDGER.md).
//!
//! **What.** Accounts per (owner, kind, currency); journal transactions, one per
//! money event (a sale, a settlement's payment, a refund…), each made of entries
//! that move signed integer minor units between accounts. Balances are sums of
//! entries, never stored figures.
//!
//! **Why.** Money kept as mutable status columns updated from several modules can
//! be lost or invented by one wrong `WHERE` (issue 12). A journal that must balance,
//! is written in the same database transaction as the change it records, and is
//! never rewritten, makes every cent traceable and every mistake visible to
//! [`verify`].
//!
//! **Invariants.**
//! * Every journal transaction balances: per currency, debits equal credits
//!   (checked by [`post`] before anything is written; checked again by [`verify`]).
//! * Exactly once: a transaction's reference (`kind:subject[:key]`) is its primary
//!   key, so a retried event posts nothing the second time ([`Posted::AlreadyPosted`]).
//! * Append-only: database triggers refuse UPDATE and DELETE of journal rows on both
//!   backends; a correction is a further transaction.
//! * Amounts are integers; the platform fee is rounded down ([`FeeRate::split`]), so
//!   fee + seller share = total, exactly, and the seller never loses to rounding.
//!
//! Callers build transactions with the typed builders ([`instant_sale`],
//! [`paid_sale`], [`settlement_paid`], [`refund`], …) and post them with [`post`]
//! inside their own [`crate::db::Tx`]; the PostgreSQL group-commit purchase path posts
//! a batch of new sales with one statement ([`post_new_batch`]), and its combined
//! statement posts one `instant_sales` transaction for all of its orders, each of
//! which names it ([`instant_sales_reference`], [`recorded_sale`]); an instant
//! purchase on SQLite appends a [`ChainedPosting`] to the statements it sends in one
//! call.

mod batch;
mod chained;
mod error;
mod events;
mod store;
mod verify;
mod vocab;

pub use batch::post_new_batch;
pub use chained::ChainedPosting;
pub use error::LedgerError;
pub use events::{
    Entry, FeeRate, JournalTransaction, RecordedSale, Sale, Split, check_balanced, instant_sale,
    instant_sales_reference, paid_sale, payment_returned, payout_cancelled, payout_initiated,
    payout_reversed, payout_sent, refund, reversal, settlement_paid, settlement_refund,
    unapplied_payment,
};
pub use store::{
    AccountBalance, Posted, balance, owed_by, owner_balances, post, recorded, recorded_sale,
};
pub use verify::{Discrepancy, Report, verify};
pub use vocab::{Account, AccountKind, PLATFORM_OWNER, TransactionKind};
