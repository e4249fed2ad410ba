//! The payment-provider seam: what the order flow needs from Stripe or the dev checkout.
//!
//! The order code never knows which provider it talks to. Confirmations come back
//! through one path (`orders::lifecycle::confirm_payment`) whether they arrive from
//! the dev checkout's Pay button or from a verified Stripe webhook.

use std::future::Future;
use std::pin::Pin;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A boxed future, so providers can be used as trait objects.
pub type ProviderFuture<'a, T> =
    Pin<Box<dyn Future<Output = Result<T, ProviderError>> + Send + 'a>>;

/// What to charge for.
#[derive(Clone, Debug)]
pub struct CheckoutRequest {
    /// Our reference (an order id or a settlement id); echoed back by the provider.
    pub reference: String,
    /// Kind of reference: `order` or `settlement`.
    pub kind: crate::vocab::CheckoutKind,
    /// Product name shown to the payer.
    pub product_name: String,
    /// Lowercase ISO 4217 code.
    pub currency: String,
    /// Price of one unit, minor units.
    pub unit_amount: i64,
    /// Units.
    pub quantity: i64,
    /// When the checkout must stop accepting payment (unix ms); the reservation's expiry.
    pub expires_at_ms: i64,
    /// Where the payer lands after paying.
    pub success_url: String,
    /// Where the payer lands after giving up.
    pub cancel_url: String,
}

/// A created checkout.
#[derive(Clone, Debug)]
pub struct Checkout {
    /// Provider's session id (Stripe `cs_…`, dev `dev_…`).
    pub session_id: String,
    /// Where to send the payer.
    pub url: String,
}

/// What became of a checkout the caller asked to expire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExpireOutcome {
    /// It no longer accepts payment: release the reservation.
    Expired,
    /// It was paid before it could be expired: confirm the payment instead.
    Paid {
        /// The provider's payment reference.
        payment_ref: Option<String>,
        /// The amount collected, minor units, as the provider reports it.
        amount_cents: Option<i64>,
        /// The currency collected.
        currency: Option<String>,
    },
    /// A payment is still being processed (delayed methods): keep the reservation.
    Processing,
}

/// The provider failed or refused; the caller releases what it reserved.
#[derive(Debug, thiserror::Error)]
#[error("payment provider error: {0}")]
pub struct ProviderError(pub String);

/// A payment provider.
pub trait PaymentProvider: Send + Sync + std::fmt::Debug {
    /// Which provider this is.
    fn name(&self) -> crate::vocab::ProviderName;
    /// Creates a checkout for a reservation.
    fn create_checkout<'a>(&'a self, req: &'a CheckoutRequest) -> ProviderFuture<'a, Checkout>;
    /// Stops a checkout from accepting payment (reservation expired).
    fn expire_checkout<'a>(&'a self, session_id: &'a str) -> ProviderFuture<'a, ExpireOutcome>;
    /// Refunds a payment in full (late payment for released units).
    fn refund<'a>(
        &'a self,
        payment_ref: &'a str,
        idempotency_key: &'a str,
    ) -> ProviderFuture<'a, ()>;
}

/// The built-in simulation, used only when no real provider is configured. Its
/// checkout page is `/dev/checkout/{token}`, a fresh random token per checkout;
/// nothing is ever charged.
///
/// The token is the only key to the page and its Pay and Cancel buttons, so an
/// order id (which the seller also knows) opens nothing. The session id kept with
/// the order or settlement is `dev_` plus the token's SHA-256, so the token is found
/// again by hashing it and never has to be compared in the clear.
#[derive(Debug)]
pub struct DevProvider {
    /// Public base URL of this server.
    pub base_url: String,
}

impl DevProvider {
    /// Prefix of a dev checkout token (`dck_` and 256 random bits, URL-safe base64).
    pub const TOKEN_PREFIX: &'static str = <crate::ids::Checkout as crate::ids::Entity>::PREFIX;

    /// The session id a checkout token is recorded under: `dev_` + hex SHA-256.
    pub fn session_of(token: &str) -> String {
        use sha2::{Digest, Sha256};
        format!("dev_{}", hex::encode(Sha256::digest(token.as_bytes())))
    }
}

impl PaymentProvider for DevProvider {
    fn name(&self) -> crate::vocab::ProviderName {
        crate::vocab::ProviderName::Dev
    }

    fn create_checkout<'a>(&'a self, _req: &'a CheckoutRequest) -> ProviderFuture<'a, Checkout> {
        Box::pin(async move {
            let token = format!(
                "{}_{}",
                DevProvider::TOKEN_PREFIX,
                URL_SAFE_NO_PAD.encode(crate::ids::random_bytes::<32>())
            );
            Ok(Checkout {
                session_id: DevProvider::session_of(&token),
                url: format!("{}/dev/checkout/{token}", self.base_url),
            })
        })
    }

    fn expire_checkout<'a>(&'a self, _session_id: &'a str) -> ProviderFuture<'a, ExpireOutcome> {
        // The simulated checkout is only paid by its Pay button, which confirms at once.
        Box::pin(async { Ok(ExpireOutcome::Expired) })
    }

    fn refund<'a>(&'a self, _payment_ref: &'a str, _key: &'a str) -> ProviderFuture<'a, ()> {
        // Nothing was charged by the simulation, so there is nothing to give back.
        Box::pin(async { Ok(()) })
    }
}
