//! Payment providers: the provider seam, Stripe Checkout and the dev checkout.

pub mod dev_checkout;
pub mod provider;
pub mod stripe;

pub use provider::{Checkout, CheckoutRequest, DevProvider, PaymentProvider, ProviderError};
