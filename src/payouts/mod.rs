//! Seller payouts (issue 13, docs/PAYOUTS.md): what sellers have earned and may be
//! paid ([`balances`]), payout runs under a database lease ([`run`]), who moves the
//! money ([`provider`]), and the routes ([`handlers`]).
//!
//! Money moves only through the ledger: a payout's amount leaves the seller's payable
//! in the transaction that records it, and leaves the provider's clearing account in
//! the transaction that marks it sent.

pub mod balances;
pub mod config;
pub mod handlers;
pub mod model;
pub mod provider;
pub mod run;
pub mod store;

pub use config::PayoutConfig;
pub use handlers::routes;
pub use model::{Payout, PayoutProviderKind, PayoutStatus};
pub use run::{RunReport, run_once, spawn_periodic};
