//! Shared application state handed to every handler.

use std::ops::Deref;
use std::sync::Arc;

use crate::accounts::password::PasswordHasher;
use crate::config::Config;
use crate::db::Db;
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
    /// Rate-limit buckets, in-process or shared through Redis.
    pub limiter: RateLimiter,
}

impl AppState {
    /// Wraps the parts into a state.
    pub fn new(inner: Inner) -> Self {
        Self(Arc::new(inner))
    }
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}
