//! Seller payouts (issue 13, docs/PAYOUTS.md): what sellers have earned and may be
//! paid ([`balances`]), payout runs under a database lease ([`run`]), who moves the
//! money ([`provider`]: simulated, or [`stripe`] Connect transfers), sellers'
//! connected accounts ([`connect`]), and the routes ([`handlers`], [`account`]).
//!
//! Money moves only through the ledger: a payout's amount leaves the seller's payable
//! in the transaction that records it, and leaves the provider's clearing account in
//! the transaction that marks it sent.

pub mod account;
pub mod balances;
pub mod connect;
pub mod handlers;
pub mod model;
pub mod provider;
pub mod run;
pub mod store;
pub mod stripe;

pub use handlers::routes;
pub use model::{Payout, PayoutProviderKind, PayoutStatus};
pub use run::{RunReport, run_once, spawn_periodic};
