//! Password hashing with argon2id, off the async threads and with bounded concurrency.
//!
//! Each hash costs ~19 MiB and tens of milliseconds of one core. Running it on the
//! async workers would stall every other request during a login flood, so hashing
//! goes to the blocking pool, and a semaphore caps how many run at once: excess
//! logins queue instead of exhausting memory or starving the runtime.

use std::sync::Arc;

use argon2::password_hash::PasswordHasher as _;
use argon2::{Argon2, PasswordVerifier as _};
use tokio::sync::Semaphore;

/// Hashes and verifies passwords. Cheap to clone.
#[derive(Clone)]
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
    /// A real hash of a random password, verified against when the email is unknown,
    /// so that "unknown email" costs the same time as "wrong password".
    dummy_hash: Arc<str>,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("available_permits", &self.permits.available_permits())
            .finish()
    }
}

impl PasswordHasher {
    /// A hasher allowing `concurrency` hashes at once.
    pub fn new(concurrency: usize) -> anyhow::Result<Self> {
        let random = hex::encode(crate::ids::random_bytes::<16>());
        let dummy_hash = hash_blocking(&random)?;
        Ok(Self {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            dummy_hash: dummy_hash.into(),
        })
    }

    /// Hashes a password into a PHC string (`$argon2id$v=19$...`).
    pub async fn hash(&self, password: String) -> anyhow::Result<String> {
        let _permit = self.permits.acquire().await?;
        tokio::task::spawn_blocking(move || hash_blocking(&password)).await?
    }

    /// Checks a password against a stored hash; with `None`, against the dummy hash
    /// (and then always fails), so both paths take the same time.
    pub async fn verify(&self, password: String, stored: Option<String>) -> anyhow::Result<bool> {
        let _permit = self.permits.acquire().await?;
        let known = stored.is_some();
        let hash = stored.unwrap_or_else(|| self.dummy_hash.to_string());
        let matches = tokio::task::spawn_blocking(move || {
            Argon2::default()
                .verify_password(password.as_bytes(), hash.as_str())
                .is_ok()
        })
        .await?;
        Ok(known && matches)
    }
}

fn hash_blocking(password: &str) -> anyhow::Result<String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("password hashing failed: {e}"))
}
