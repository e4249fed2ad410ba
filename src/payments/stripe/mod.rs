//! Stripe Checkout over Stripe's plain HTTP API.
//!
//! We call the three or four endpoints UDAM needs through `reqwest` instead of
//! an SDK crate: the SDKs are heavy to build and reject the minimal responses a
//! fake server gives (see shared/CRATES.md). The base URL is configurable, so
//! production points at `https://api.stripe.com` and tests at a local fake that
//! speaks the same wire format.
//!
//! * [`client`]: [`StripeClient`], creating/expiring Checkout Sessions and refunds.
//! * [`connect`]: Connect accounts, onboarding links and transfers (seller payouts).
//! * [`objects`]: the Stripe objects we read back ([`CheckoutSession`], [`Refund`]).
//! * [`error`]: [`StripeError`], whose messages never carry the secret key.
//! * [`webhook`]: `Stripe-Signature` verification and event parsing.
//! * [`provider`]: [`provider::StripeProvider`], Stripe Checkout behind the payment seam.
//! * [`webhook_handler`]: `POST /api/v1/webhooks/stripe`, events applied exactly once.

pub mod client;
pub mod connect;
pub mod error;
pub mod objects;
pub mod provider;
pub mod webhook;
pub mod webhook_handler;

pub use client::{CheckoutSessionRequest, StripeClient};
pub use connect::{Account, AccountLink, Transfer, TransferRequest};
pub use error::StripeError;
pub use objects::{Charge, CheckoutSession, Refund};
pub use webhook::{Event, EventData, SignatureError};
