//! Shared application state handed to every handler, and the PostgreSQL fast
//! paths' combiners that live beside it.
//!
//! The combiners are held here, above the capabilities that define them and the
//! database they run on, so that `db` imports no capability: each capability asks the
//! state for its own combiner and the native pool.

use std::ops::Deref;
use std::sync::Arc;

use sqlx::postgres::PgPool;

use crate::accounts::password::PasswordHasher;
use crate::accounts::sessions::batch::{Lookups as SessionLookups, new_lookups};
use crate::audit::AuditLog;
use crate::config::Config;
use crate::crypto::KeyRing;
use crate::db::Db;
use crate::http::load::RequestLoad;
use crate::listings::cache::BrowseCache;
use crate::listings::delivery::Deliveries;
use crate::orders::purchase::FactsCache;
use crate::orders::purchase::batch::{Combiner as PurchaseCombiner, new_combiner};
use crate::payments::PaymentProvider;
use crate::ratelimit::RateLimiter;

/// Everything a request may need. Cheap to clone (one `Arc`).
#[derive(Clone, Debug)]
pub struct AppState(Arc<Shared>);

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

/// [`Inner`] and the fast paths made for its database.
#[derive(Debug)]
struct Shared {
    inner: Inner,
    fast_paths: FastPaths,
    deliveries: Deliveries,
    listing_facts: Arc<FactsCache>,
    audit: AuditLog,
    request_load: Arc<RequestLoad>,
}

/// The combiners of the PostgreSQL fast paths, `None` on SQLite. One per state, so
/// each database (and each test server) has its own and never shares one by accident.
struct FastPaths {
    session_lookups: Option<Arc<SessionLookups>>,
    purchases: Option<Arc<PurchaseCombiner>>,
}

impl FastPaths {
    /// Combiners when `db` has the native PostgreSQL pool they run on.
    fn for_db(db: &Db, listing_facts: &Arc<FactsCache>) -> Self {
        let on = db.pg().is_some();
        Self {
            session_lookups: on.then(|| Arc::new(new_lookups())),
            purchases: on.then(|| Arc::new(new_combiner(Arc::clone(listing_facts)))),
        }
    }
}

impl std::fmt::Debug for FastPaths {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FastPaths")
            .field("on", &self.purchases.is_some())
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// Wraps the parts into a state, with the fast paths its database supports.
    pub fn new(inner: Inner) -> Self {
        let listing_facts = Arc::default();
        let fast_paths = FastPaths::for_db(&inner.db, &listing_facts);
        Self(Arc::new(Shared {
            inner,
            fast_paths,
            deliveries: Deliveries::new(),
            listing_facts,
            audit: AuditLog::default(),
            request_load: Arc::default(),
        }))
    }

    /// The public base URL, e.g. `http://127.0.0.1:8080`.
    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    /// The native pool and combiner of the session-lookup fast path; `None` on SQLite.
    pub fn session_lookups(&self) -> Option<(&PgPool, &Arc<SessionLookups>)> {
        self.db.pg().zip(self.0.fast_paths.session_lookups.as_ref())
    }

    /// The listings' delivery modes read so far (they never change).
    pub fn deliveries(&self) -> &Deliveries {
        &self.0.deliveries
    }

    /// What purchases know of the listings this process read or sold last (a guess
    /// every take checks).
    pub fn listing_facts(&self) -> &FactsCache {
        &self.0.listing_facts
    }

    /// The audit log's writer, which combines concurrent records into one commit.
    pub fn audit(&self) -> &AuditLog {
        &self.0.audit
    }

    /// The time this process has spent in requests, which background work reads to
    /// step aside while requests keep it busy.
    pub fn request_load(&self) -> &Arc<RequestLoad> {
        &self.0.request_load
    }

    /// The native pool and combiner of the instant-purchase fast path; `None` on SQLite.
    pub fn purchases(&self) -> Option<(&PgPool, &Arc<PurchaseCombiner>)> {
        self.db.pg().zip(self.0.fast_paths.purchases.as_ref())
    }
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0.inner
    }
}
