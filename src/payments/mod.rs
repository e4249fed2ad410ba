//! Payment providers: the provider seam, Stripe Checkout and the dev checkout.

pub mod confirm;
pub mod dev_checkout;
pub mod provider;
pub mod settlement;
pub mod stripe;
pub mod stripe_provider;
pub mod sweeper;
pub mod webhook_handler;

pub use provider::{
    Checkout, CheckoutRequest, DevProvider, ExpireOutcome, PaymentProvider, ProviderError,
};
