//! UDAM, the Unified Data Marketplace.
pub mod crypto;
pub mod money;
pub mod payments;
pub mod ratelimit;
