//! The in-process browse cache and its invalidation across processes.
//!
//! Public listing pages and listing reads are cached as finished JSON bodies with an
//! ETag. A write in this process invalidates at once. Writes in other processes
//! (any number of replicas sharing the database) are found by a poller that asks
//! the database every `poll_interval` which listings changed since it last looked:
//! those edited (`updated_at`, indexed) and those that placed orders (the orders'
//! `created_at`, indexed). The same mechanism works on SQLite and PostgreSQL, and
//! purchases need no extra statement to invalidate: the order they write is the
//! signal. (A sale does not move its listing's `updated_at`: on PostgreSQL that
//! keeps its update clear of every index, migration 0024.)
//!
//! Staleness bound: a write becomes visible on every process within one poll
//! interval plus one query (default 250 ms). The poller re-reads a window reaching
//! `SKEW_MARGIN_MS` back, so writer clocks up to that far behind are still seen; a
//! TTL of `max_age` is the backstop should anything slip through.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use moka::future::Cache;
use sha2::{Digest, Sha256};

use crate::clock::now_ms;
use crate::db::Db;
use crate::telemetry::labels::{CachePart, CacheResult};

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

/// Most bytes of browse pages held (bodies, keys and [`ENTRY_OVERHEAD`] each).
/// Bounded in bytes, not entries: a page of 100 listings with 10,000-character
/// descriptions is ~4 MB, so a count alone would not bound memory. Typical pages
/// (20 short listings, ~10 KB) fit about 800 at once.
pub const MAX_PAGE_BYTES: u64 = 8 * 1024 * 1024;
/// Most bytes of listing reads held (typically ~1 KB each: about 8,000 listings).
pub const MAX_LISTING_BYTES: u64 = 8 * 1024 * 1024;
/// What one entry costs besides its key and body: the `Arc`, the ETag and the
/// cache's own bookkeeping. Also makes tiny entries count, so the entry count is
/// bounded too (at most a byte bound divided by this).
pub const ENTRY_OVERHEAD: usize = 256;
/// Most bytes of inserts that may wait for the cache's eviction. moka applies its
/// bound in batches, after dozens of writes: inserted one after another, 142 pages
/// of 400 KiB (57 MB) were held at once against an 8 MiB bound. Past this many
/// bytes an insert applies the bound at once.
pub const MAX_PENDING_BYTES: u64 = 1024 * 1024;

/// One byte-bounded part of the cache, with the bytes inserted since its bound was
/// last applied.
#[derive(Clone, Debug)]
struct Part {
    cache: Cache<String, Arc<CachedBody>>,
    pending_bytes: Arc<AtomicU64>,
}

impl Part {
    fn new(max_bytes: u64, max_age: Duration) -> Self {
        Self {
            cache: Cache::builder()
                .weigher(|key: &String, value: &Arc<CachedBody>| weigh(key, value))
                .max_capacity(max_bytes)
                .time_to_live(max_age)
                .build(),
            pending_bytes: Arc::default(),
        }
    }

    /// Inserts, then applies the bound once [`MAX_PENDING_BYTES`] wait for it.
    async fn insert(&self, key: String, body: Arc<CachedBody>) {
        let weight = u64::from(weigh(&key, &body));
        self.cache.insert(key, body).await;
        let pending = self.pending_bytes.fetch_add(weight, Ordering::Relaxed) + weight;
        if pending >= MAX_PENDING_BYTES {
            self.pending_bytes.store(0, Ordering::Relaxed);
            self.cache.run_pending_tasks().await;
        }
    }
}

/// Cached browse pages and listing reads, each bounded by the bytes it holds.
#[derive(Clone, Debug)]
pub struct BrowseCache {
    pages: Part,
    listings: Part,
}

/// What the cache holds now, for the gauges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Held {
    /// Browse pages held.
    pub pages: u64,
    /// Their weight in bytes (at most [`MAX_PAGE_BYTES`]).
    pub page_bytes: u64,
    /// Listing reads held.
    pub listings: u64,
    /// Their weight in bytes (at most [`MAX_LISTING_BYTES`]).
    pub listing_bytes: u64,
}

/// Gauge of what the browse cache holds, labelled `kind` = `pages` | `listings`.
pub const ENTRIES_METRIC: &str = "udam_browse_cache_entries";
/// Gauge of the bytes the browse cache holds, labelled like [`ENTRIES_METRIC`].
pub const BYTES_METRIC: &str = "udam_browse_cache_bytes";

/// An entry's weight: its key, its body and [`ENTRY_OVERHEAD`], saturating.
fn weigh(key: &str, value: &CachedBody) -> u32 {
    let bytes = key.len() + value.body.len() + value.etag.len() + ENTRY_OVERHEAD;
    u32::try_from(bytes).unwrap_or(u32::MAX)
}

impl BrowseCache {
    /// A cache whose entries live at most `max_age`.
    pub fn new(max_age: Duration) -> Self {
        Self {
            pages: Part::new(MAX_PAGE_BYTES, max_age),
            listings: Part::new(MAX_LISTING_BYTES, max_age),
        }
    }

    /// What the cache holds once its pending evictions have run (the cache
    /// applies its bound in the background, shortly after inserts).
    pub async fn held(&self) -> Held {
        self.pages.cache.run_pending_tasks().await;
        self.listings.cache.run_pending_tasks().await;
        Held {
            pages: self.pages.cache.entry_count(),
            page_bytes: self.pages.cache.weighted_size(),
            listings: self.listings.cache.entry_count(),
            listing_bytes: self.listings.cache.weighted_size(),
        }
    }

    /// Publishes [`Self::held`] as the [`ENTRIES_METRIC`] and [`BYTES_METRIC`] gauges.
    pub async fn publish_held(&self) {
        let held = self.held().await;
        // Counts far below 2^53: exact as f64.
        metrics::gauge!(ENTRIES_METRIC, "kind" => CachePart::Pages.as_str()).set(held.pages as f64);
        metrics::gauge!(BYTES_METRIC, "kind" => CachePart::Pages.as_str())
            .set(held.page_bytes as f64);
        metrics::gauge!(ENTRIES_METRIC, "kind" => CachePart::Listings.as_str())
            .set(held.listings as f64);
        metrics::gauge!(BYTES_METRIC, "kind" => CachePart::Listings.as_str())
            .set(held.listing_bytes as f64);
    }

    /// A cached browse page.
    pub async fn page(&self, key: &str) -> Option<Arc<CachedBody>> {
        record(self.pages.cache.get(key).await)
    }

    /// Stores a browse page.
    pub async fn put_page(&self, key: String, body: Arc<CachedBody>) {
        self.pages.insert(key, body).await;
    }

    /// A cached listing read.
    pub async fn listing(&self, id: &str) -> Option<Arc<CachedBody>> {
        record(self.listings.cache.get(id).await)
    }

    /// Stores a listing read.
    pub async fn put_listing(&self, id: String, body: Arc<CachedBody>) {
        self.listings.insert(id, body).await;
    }

    /// Forgets everything (after a change whose listings are not known here).
    pub fn invalidate_all(&self) {
        self.listings.cache.invalidate_all();
        self.pages.cache.invalidate_all();
    }

    /// Forgets one listing and every page (any page may show it).
    pub async fn invalidate(&self, ids: impl IntoIterator<Item = &str>) {
        for id in ids {
            self.listings.cache.invalidate(id).await;
        }
        self.pages.cache.invalidate_all();
    }
}

fn record(hit: Option<Arc<CachedBody>>) -> Option<Arc<CachedBody>> {
    let result = if hit.is_some() {
        CacheResult::Hit
    } else {
        CacheResult::Miss
    };
    metrics::counter!("udam_browse_cache_total", "result" => result.as_str()).increment(1);
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
        // Woken every poll anyway: a cheap moment to apply the bound and report it.
        cache.publish_held().await;
        let since = watermark - SKEW_MARGIN_MS;
        let changed = match crate::listings::store::changed_since(&db, since).await {
            Ok(rows) => rows,
            Err(err) => {
                tracing::warn!(error = %err, "cache invalidation poll failed; will retry");
                continue;
            }
        };
        // A sale is invalidated at every poll that sees it: its pair is not a
        // write's identity (`Changed::sold`), and a spare miss is cheap.
        let fresh: Vec<&str> = changed
            .edited
            .iter()
            .filter(|(id, at)| seen.get(id) != Some(at))
            .chain(&changed.sold)
            .map(|(id, _)| id.as_str())
            .collect();
        if !fresh.is_empty() {
            cache.invalidate(fresh).await;
        }
        watermark = changed
            .edited
            .iter()
            .chain(&changed.sold)
            .map(|(_, at)| *at)
            .max()
            .unwrap_or(watermark)
            .max(watermark);
        // Only the rows inside the next window can come back; forget the rest.
        seen = changed
            .edited
            .into_iter()
            .filter(|(_, at)| *at >= watermark - SKEW_MARGIN_MS)
            .collect();
    }
}

#[cfg(test)]
mod flood_tests {
    use super::*;

    /// Flooded with far more distinct pages and listings than fit, some of them
    /// large, the cache stays within its byte bounds and still serves what it keeps.
    #[tokio::test]
    async fn distinct_keys_past_the_bound_never_exceed_it() {
        let cache = BrowseCache::new(Duration::from_secs(60));
        let small = Arc::new(CachedBody::new(b"[]".to_vec()));
        let large = Arc::new(CachedBody::new(vec![b'x'; 400 * 1024]));
        for i in 0..60_000u64 {
            cache
                .put_page(format!("page-{i}"), Arc::clone(&small))
                .await;
        }
        for i in 0..100u64 {
            cache.put_page(format!("big-{i}"), Arc::clone(&large)).await;
        }
        for i in 0..60_000u64 {
            cache
                .put_listing(format!("lst_{i}"), Arc::clone(&small))
                .await;
        }
        let held = cache.held().await;
        assert!(held.page_bytes <= MAX_PAGE_BYTES, "{held:?}");
        assert!(held.listing_bytes <= MAX_LISTING_BYTES, "{held:?}");
        let most_entries = MAX_LISTING_BYTES / ENTRY_OVERHEAD as u64;
        assert!(held.listings <= most_entries, "{held:?}");
        // Still answering: what it holds is served.
        let held = (0..60_000u64)
            .map(|i| format!("lst_{i}"))
            .find(|key| cache.listings.cache.contains_key(key))
            .expect("the cache holds entries after the flood");
        let hit = cache.listing(&held).await.expect("a held entry is served");
        assert_eq!(hit.body.as_ref(), b"[]");
    }

    /// Large pages inserted one after another never pile up past the bound while
    /// they wait for eviction: every body the cache still holds is counted by its
    /// `Arc`, applied or pending.
    #[tokio::test]
    async fn pending_inserts_stay_near_the_bound() {
        let cache = BrowseCache::new(Duration::from_secs(60));
        let size = 400 * 1024;
        let large = Arc::new(CachedBody::new(vec![b'x'; size]));
        // The bound, plus what waits for it: twice the pending bytes, as the entries
        // one pass turns away are dropped at the next (measured: at most 25 here,
        // and 142 before inserts applied the bound).
        let most = (MAX_PAGE_BYTES + 2 * MAX_PENDING_BYTES) / size as u64 + 1;
        for i in 0..200u64 {
            cache.put_page(format!("big-{i}"), Arc::clone(&large)).await;
            let held = Arc::strong_count(&large) as u64 - 1;
            assert!(
                held <= most,
                "{held} pages of 400 KiB held after {i} inserts"
            );
        }
    }
}
