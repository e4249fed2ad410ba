//! Payment providers: the provider seam, Stripe Checkout and the dev checkout.

pub mod confirm;
pub mod dev_checkout;
pub mod earnings;
pub mod refunds;
pub mod settlement;
pub mod stripe;
pub mod sweeper;

// The seam itself lives outside this folder (`crate::provider`) so that `orders`
// can open a checkout without depending on the payment handlers.
pub use crate::provider::{
    Checkout, CheckoutRequest, DevProvider, ExpireOutcome, PaymentProvider, ProviderError,
};
