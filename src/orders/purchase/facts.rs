//! What a purchase needs to know of a listing (its seller, name, currency and
//! price), remembered from the last time this process read or sold it, so that the
//! next purchase does not read the listing first.
//!
//! Only a guess, checked by the write that uses it:
//! - the seller, the name and the currency never change once a listing exists
//!   (`PATCH` offers none of them);
//! - the price and the status can change at any time, from any process. Every take
//!   of units checks both (`status = 'active' AND price_cents = $price`), so a stale
//!   guess takes nothing: PostgreSQL's combined statement refuses itself and its
//!   listing goes the transaction way, and a purchase one at a time re-reads the listing and says
//!   why (`purchase`'s loop).
//!
//! So a listing is remembered only while it is active, and forgotten when a write
//! found it changed.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use crate::listings::model::Listing;

/// Most listings remembered, so memory stays bounded however many listings one
/// process sells (about 200 bytes each: 3 MiB when full). Past it half the entries
/// are dropped (each of their next batches goes the transaction way once, and each
/// of their next purchases one at a time reads its listing once). At 4,096
/// with the whole map dropped, purchases spread over 10,000 listings found their
/// facts one time in five and paid the transaction way's four round trips the rest
/// (docs/BENCHMARKS.md, "A lone purchase of one of many listings").
const MAX_LISTINGS: usize = 16_384;

/// A listing's facts as a purchase prices and records its order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Facts {
    /// Who sells it (never changes).
    pub seller_id: String,
    /// Its name, copied onto each order (never changes).
    pub service_name: String,
    /// Its currency (never changes).
    pub currency: String,
    /// Its price per unit when last seen: checked by every take.
    pub price_cents: i64,
}

impl Facts {
    /// The facts of a listing as read.
    pub fn of(listing: &Listing) -> Self {
        Self {
            seller_id: listing.seller_id.clone(),
            service_name: listing.service_name.clone(),
            currency: listing.currency.clone(),
            price_cents: listing.price_cents,
        }
    }
}

/// The facts of the listings this process read or sold last, by listing id: one per
/// process, shared by PostgreSQL's batches and purchases one at a time.
#[derive(Debug, Default)]
pub struct FactsCache(Mutex<HashMap<String, Facts>>);

impl FactsCache {
    /// The facts last remembered of `listing`.
    pub fn get(&self, listing: &str) -> Option<Facts> {
        self.lock().get(listing).cloned()
    }

    /// Remembers what a read or a batch of the active `listing` found.
    pub fn remember(&self, listing: &str, facts: &Facts) {
        let mut map = self.lock();
        if map.get(listing) == Some(facts) {
            return;
        }
        if map.len() >= MAX_LISTINGS && !map.contains_key(listing) {
            // Every other entry in the map's own order: arbitrary, not the newest or
            // the oldest, so no listing is dropped each time. O(n) once per n/2
            // inserts.
            let mut keep = false;
            map.retain(|_, _| {
                keep = !keep;
                keep
            });
        }
        map.insert(listing.to_owned(), facts.clone());
    }

    /// Forgets `listing` (a write found it changed, paused or gone).
    pub fn forget(&self, listing: &str) {
        self.lock().remove(listing);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Facts>> {
        // The map is only ever replaced whole or by one insert: never half-written.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(price_cents: i64) -> Facts {
        Facts {
            seller_id: "usr_s".into(),
            service_name: "API".into(),
            currency: "usd".into(),
            price_cents,
        }
    }

    #[test]
    fn remembers_the_latest_and_forgets() {
        let cache = FactsCache::default();
        assert_eq!(cache.get("lst_a"), None);
        cache.remember("lst_a", &facts(100));
        cache.remember("lst_a", &facts(120));
        assert_eq!(cache.get("lst_a"), Some(facts(120)));
        cache.forget("lst_a");
        assert_eq!(cache.get("lst_a"), None);
    }

    #[test]
    fn stays_bounded() {
        let cache = FactsCache::default();
        for i in 0..=MAX_LISTINGS {
            cache.remember(&format!("lst_{i}"), &facts(1));
        }
        let len = cache.lock().len();
        assert!(len <= MAX_LISTINGS);
        // Half is kept, not everything dropped: a working set above the bound still
        // finds most of its facts.
        assert!(len > MAX_LISTINGS / 2, "{len}");
        assert_eq!(cache.get(&format!("lst_{MAX_LISTINGS}")), Some(facts(1)));
    }
}
