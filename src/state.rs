//! Shared application state handed to every handler.

use std::ops::Deref;
use std::sync::Arc;

use crate::accounts::password::PasswordHasher;
use crate::config::Config;
use crate::crypto::KeyRing;
use crate::db::Db;
use crate::listings::cache::BrowseCache;
use crate::payments::PaymentProvider;
use crate::ratelimit::RateLimiter;

/// Everything a request may need. Cheap to clone (one `Arc`).
#[derive(Clone, Debug)]
pub struct AppState(Arc<Inner>);

/// The contents of [`AppState`].
#[derive(Debug)]
pub struct Inner {
    /// The database.
    pub db: Db,
    /// Validated settings.
    pub config: Config,
    /// Bounded argon2id hashing.
    pub passwords: PasswordHasher,
    /// Master keys sealing seller API keys.
    pub keyring: KeyRing,
    /// In-process browse cache (invalidated across processes by a poller).
    pub cache: BrowseCache,
    /// Stripe, or the dev checkout when Stripe is not configured.
    pub payments: Arc<dyn PaymentProvider>,
    /// Public base URL (no trailing slash), for links handed to payers.
    pub public_url: String,
    /// Rate-limit buckets, in-process or shared through Redis.
    pub limiter: RateLimiter,
}

impl AppState {
    /// Wraps the parts into a state.
    pub fn new(inner: Inner) -> Self {
        Self(Arc::new(inner))
    }
}

impl AppState {
    /// The public base URL, e.g. `http://127.0.0.1:8080`.
    pub fn public_url(&self) -> &str {
        &self.public_url
    }
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}
