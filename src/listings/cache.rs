//! The in-process browse cache and its invalidation across processes.
//!
//! Public listing pages and listing reads are cached as finished JSON bodies with an
//! ETag. A write in this process invalidates at once. Writes in other processes
//! (any number of replicas sharing the database) are found by a poller that asks
//! the database every `poll_interval` which listings changed since it last looked
//! (`updated_at`, indexed). The same mechanism works on SQLite and PostgreSQL, and
//! purchases need no extra statement to invalidate: they already bump `updated_at`.
//!
//! Staleness bound: a write becomes visible on every process within one poll
//! interval plus one query (default 250 ms). The poller re-reads a window reaching
//! `SKEW_MARGIN_MS` back, so writer clocks up to that far behind are still seen; a
//! TTL of `max_age` is the backstop should anything slip through.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use moka::future::Cache;
use sha2::{Digest, Sha256};

use crate::clock::now_ms;
use crate::db::Db;

/// How far back each poll looks beyond the newest write it has seen, to tolerate
/// clock skew between the processes that write.
const SKEW_MARGIN_MS: i64 = 1_000;

/// A cached response body and its validator.
#[derive(Clone, Debug)]
pub struct CachedBody {
    /// The JSON body.
    pub body: Bytes,
    /// Strong ETag, quoted.
    pub etag: String,
}

impl CachedBody {
    /// Wraps a body, computing its ETag.
    pub fn new(body: Vec<u8>) -> Self {
        let digest = Sha256::digest(&body);
        let etag = format!("\"{}\"", hex::encode(&digest[..12]));
        Self {
            body: Bytes::from(body),
            etag,
        }
    }
}

/// Most browse pages held (distinct filter and cursor combinations).
pub const MAX_PAGES: u64 = 2_000;
/// Most listing reads held.
pub const MAX_LISTINGS: u64 = 20_000;

/// Cached browse pages and listing reads, each bounded by an entry count.
#[derive(Clone, Debug)]
pub struct BrowseCache {
    pages: Cache<String, Arc<CachedBody>>,
    listings: Cache<String, Arc<CachedBody>>,
}

impl BrowseCache {
    /// A cache whose entries live at most `max_age`.
    pub fn new(max_age: Duration) -> Self {
        let build = |capacity| {
            Cache::builder()
                .max_capacity(capacity)
                .time_to_live(max_age)
                .build()
        };
        Self {
            pages: build(MAX_PAGES),
            listings: build(MAX_LISTINGS),
        }
    }

    /// A cached browse page.
    pub async fn page(&self, key: &str) -> Option<Arc<CachedBody>> {
        record(self.pages.get(key).await)
    }

    /// Stores a browse page.
    pub async fn put_page(&self, key: String, body: Arc<CachedBody>) {
        self.pages.insert(key, body).await;
    }

    /// A cached listing read.
    pub async fn listing(&self, id: &str) -> Option<Arc<CachedBody>> {
        record(self.listings.get(id).await)
    }

    /// Stores a listing read.
    pub async fn put_listing(&self, id: String, body: Arc<CachedBody>) {
        self.listings.insert(id, body).await;
    }

    /// Forgets everything (after a change whose listings are not known here).
    pub fn invalidate_all(&self) {
        self.listings.invalidate_all();
        self.pages.invalidate_all();
    }

    /// Forgets one listing and every page (any page may show it).
    pub async fn invalidate(&self, ids: impl IntoIterator<Item = &str>) {
        for id in ids {
            self.listings.invalidate(id).await;
        }
        self.pages.invalidate_all();
    }
}

fn record(hit: Option<Arc<CachedBody>>) -> Option<Arc<CachedBody>> {
    let result = if hit.is_some() { "hit" } else { "miss" };
    metrics::counter!("udam_browse_cache_total", "result" => result).increment(1);
    hit
}

/// Watches the database for listing writes made by any process and invalidates them.
/// Runs until `shutdown` fires.
pub async fn run_invalidator(
    db: Db,
    cache: BrowseCache,
    poll_interval: Duration,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut seen: HashMap<String, i64> = HashMap::new();
    let mut watermark = now_ms();
    let mut ticker = tokio::time::interval(poll_interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = shutdown.changed() => return,
        }
        let since = watermark - SKEW_MARGIN_MS;
        let changed = match crate::listings::store::changed_since(&db, since).await {
            Ok(rows) => rows,
            Err(err) => {
                tracing::warn!(error = %err, "cache invalidation poll failed; will retry");
                continue;
            }
        };
        let fresh: Vec<&str> = changed
            .iter()
            .filter(|(id, at)| seen.get(id) != Some(at))
            .map(|(id, _)| id.as_str())
            .collect();
        if !fresh.is_empty() {
            cache.invalidate(fresh).await;
        }
        watermark = changed
            .iter()
            .map(|(_, at)| *at)
            .max()
            .unwrap_or(watermark)
            .max(watermark);
        // Only the rows inside the next window can come back; forget the rest.
        seen = changed
            .into_iter()
            .filter(|(_, at)| *at >= watermark - SKEW_MARGIN_MS)
            .collect();
    }
}

#[cfg(test)]
mod flood_tests {
    use super::*;

    /// Flooded with five times as many distinct pages and listings as it may hold,
    /// the cache stays within its bounds and still serves what it keeps.
    #[tokio::test]
    async fn distinct_keys_past_the_bound_never_exceed_it() {
        let cache = BrowseCache::new(Duration::from_secs(60));
        let body = Arc::new(CachedBody::new(b"[]".to_vec()));
        for i in 0..MAX_PAGES * 5 {
            cache.put_page(format!("page-{i}"), Arc::clone(&body)).await;
        }
        for i in 0..MAX_LISTINGS * 5 {
            cache
                .put_listing(format!("lst_{i}"), Arc::clone(&body))
                .await;
        }
        cache.pages.run_pending_tasks().await;
        cache.listings.run_pending_tasks().await;
        assert!(cache.pages.entry_count() <= MAX_PAGES);
        assert!(cache.listings.entry_count() <= MAX_LISTINGS);
        // Still answering: what it holds is served.
        let held = (0..MAX_LISTINGS * 5)
            .map(|i| format!("lst_{i}"))
            .find(|key| cache.listings.contains_key(key))
            .expect("the cache holds entries after the flood");
        let hit = cache.listing(&held).await.expect("a held entry is served");
        assert_eq!(hit.body.as_ref(), b"[]");
    }
}
