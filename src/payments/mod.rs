//! Payment providers: the provider seam, Stripe Checkout and the dev checkout.

pub mod stripe;
