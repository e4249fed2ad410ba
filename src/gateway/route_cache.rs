//! A short-lived cache of key routes, so that a busy key is not read from the
//! database on every request.
//!
//! An entry lives `--gateway-route-cache` (default 500 ms, at most 900 ms): a
//! revoke, a roll or a change of the listing reaches every process within that time,
//! inside the 1 s the product promises. Allowances are not taken from the cache: the
//! leases' conditional updates in the database decide those. Unknown keys are not
//! cached, so a key issued a moment ago works at once on every process.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::costs::{self, RouteCost};
use super::store::{self, Route};
use crate::db::Db;

/// Most entries kept; past it the cache starts over (a burst of many keys then costs
/// one database read each, as without a cache).
const MAX_ENTRIES: usize = 10_000;

/// A route and its parsed route costs.
#[derive(Debug)]
pub struct CachedRoute {
    /// The key's route as read.
    pub route: Route,
    /// `route.route_costs`, parsed.
    pub costs: Vec<RouteCost>,
    /// `route.upstream_base_url`, parsed once here rather than per request (parsing,
    /// with the host's IDNA mapping, was about 8 % of the gateway's user-space CPU in
    /// a profile); `None` when it is missing or does not parse.
    pub upstream_base: Option<reqwest::Url>,
}

/// One cached route.
#[derive(Debug)]
struct Entry {
    /// When the database was asked for it.
    read_at: Instant,
    route: Arc<CachedRoute>,
    /// One request is reading it again ahead of its expiry.
    refreshing: AtomicBool,
}

/// Routes by key hash, each with the moment it was read.
#[derive(Debug)]
pub struct RouteCache {
    ttl: Duration,
    entries: Mutex<HashMap<[u8; 32], Arc<Entry>>>,
}

impl RouteCache {
    /// A cache whose entries live `ttl` (zero: no caching).
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The route of `key_hash`, from the cache while fresh, else from the database.
    ///
    /// Past half its life an entry is read again by one request while the others
    /// keep using it, so a busy key's entry is renewed before it expires and its
    /// requests do not all stop for the database at once (every connection used to
    /// miss together each `ttl`). No entry is ever used past `ttl`.
    pub async fn get(
        &self,
        db: &Db,
        key_hash: &[u8; 32],
    ) -> Result<Option<Arc<CachedRoute>>, sqlx::Error> {
        if !self.ttl.is_zero() {
            let entry = self
                .entries
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(key_hash)
                .cloned();
            if let Some(entry) = entry
                && entry.read_at.elapsed() < self.ttl
            {
                let renew = entry.read_at.elapsed() >= self.ttl / 2
                    && !entry.refreshing.swap(true, Ordering::AcqRel);
                if !renew {
                    return Ok(Some(entry.route.clone()));
                }
                return match self.read(db, key_hash).await {
                    // The entry is still fresh: serve it, and let a later request try.
                    Err(err) if entry.read_at.elapsed() < self.ttl => {
                        entry.refreshing.store(false, Ordering::Release);
                        tracing::warn!(error = %err, "renewing a gateway route failed");
                        Ok(Some(entry.route.clone()))
                    }
                    read => read,
                };
            }
        }
        self.read(db, key_hash).await
    }

    /// Whether a fresh route of `key_hash` is held, so that a request with it would
    /// not read the database.
    pub fn holds(&self, key_hash: &[u8; 32]) -> bool {
        !self.ttl.is_zero()
            && self
                .entries
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(key_hash)
                .is_some_and(|e| e.read_at.elapsed() < self.ttl)
    }

    async fn read(
        &self,
        db: &Db,
        key_hash: &[u8; 32],
    ) -> Result<Option<Arc<CachedRoute>>, sqlx::Error> {
        // Timed from before the read, so an entry never outlives `ttl` from the
        // moment the database answered for it.
        let read_at = Instant::now();
        let Some(route) = store::route(db, key_hash).await? else {
            self.forget(key_hash);
            return Ok(None);
        };
        let cached = Arc::new(CachedRoute {
            costs: costs::from_column(route.route_costs.as_deref()),
            upstream_base: route
                .upstream_base_url
                .as_deref()
                .and_then(|base| reqwest::Url::parse(base).ok()),
            route,
        });
        if !self.ttl.is_zero() {
            let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
            if entries.len() >= MAX_ENTRIES {
                let ttl = self.ttl;
                entries.retain(|_, e| e.read_at.elapsed() < ttl);
                if entries.len() >= MAX_ENTRIES {
                    entries.clear();
                }
            }
            entries.insert(
                *key_hash,
                Arc::new(Entry {
                    read_at,
                    route: cached.clone(),
                    refreshing: AtomicBool::new(false),
                }),
            );
        }
        Ok(Some(cached))
    }

    /// Drops the entry of `key_hash` (its key stopped working, or its lease had to be
    /// surrendered: the next request reads it again).
    pub fn forget(&self, key_hash: &[u8; 32]) {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key_hash);
    }
}
