//! Password hashing with argon2id, off the async threads, in a fixed memory footprint.
//!
//! Each hash costs ~19 MiB and tens of milliseconds of one core. The work runs on the
//! [`HashPool`]'s fixed workers (one reusable memory
//! block each), so a login flood queues, up to a bound, instead of exhausting memory
//! or starving the runtime; past the bound callers get 503 with `Retry-After`.

use std::sync::Arc;

use tokio::sync::OnceCell;

use super::password_pool::{HashPool, PoolError};
use crate::error::ApiError;

/// Seconds a caller refused by a full hashing queue is told to wait.
const BUSY_RETRY_AFTER_SECS: u64 = 1;

/// Hashes and verifies passwords. Cheap to clone.
#[derive(Clone, Debug)]
pub struct PasswordHasher {
    pool: HashPool,
    /// A real hash of a random password, verified against when the email is unknown,
    /// so that "unknown email" costs the same work as "wrong password". Made at the
    /// first such login, not at start: a hash at start would hold a worker's 19 MiB
    /// block for nothing on a server nobody signs in to.
    dummy_hash: Arc<OnceCell<Arc<str>>>,
}

impl PasswordHasher {
    /// Starts `concurrency` hashing workers with room for `queue` waiting requests.
    pub fn start(concurrency: usize, queue: usize) -> anyhow::Result<Self> {
        Ok(Self {
            pool: HashPool::start(concurrency, queue)?,
            dummy_hash: Arc::default(),
        })
    }

    /// Hashes a password into a PHC string (`$argon2id$v=19$...`).
    pub async fn hash(&self, password: String) -> Result<String, ApiError> {
        Ok(self.pool.hash(password).await?)
    }

    /// Checks a password against a stored hash; with `None`, against the dummy hash
    /// (and then always fails), so both paths do the same work.
    pub async fn verify(&self, password: String, stored: Option<String>) -> Result<bool, ApiError> {
        let known = stored.is_some();
        let hash = match stored {
            Some(stored) => Arc::from(stored),
            None => Arc::clone(self.dummy_hash().await?),
        };
        let matches = self.pool.verify(password, hash).await?;
        Ok(known && matches)
    }

    /// The dummy hash, made by the first caller that needs it (the others wait for it).
    async fn dummy_hash(&self) -> Result<&Arc<str>, PoolError> {
        self.dummy_hash
            .get_or_try_init(|| async {
                let random = hex::encode(crate::ids::random_bytes::<16>());
                Ok(Arc::from(self.pool.hash(random).await?))
            })
            .await
    }
}

impl From<PoolError> for ApiError {
    fn from(err: PoolError) -> Self {
        match err {
            PoolError::Busy => {
                tracing::warn!("password hashing queue full; answering 503");
                metrics::counter!("udam_password_hash_busy_total").increment(1);
                ApiError::unavailable_for(
                    "too many sign-ins at once; try again shortly",
                    BUSY_RETRY_AFTER_SECS,
                )
            }
            PoolError::Failed(cause) => ApiError::internal(anyhow::anyhow!(cause)),
        }
    }
}
