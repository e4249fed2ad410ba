//! What a listing's last batch found: the price, currency, seller and name its next
//! batch's journal is computed from, so that batch can be written in one statement.
//!
//! Only a guess: the statement compares these facts with the row it locks and
//! refuses itself when any differs, and the next batch goes the transaction way,
//! which reads them afresh.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

/// Most listings remembered, so memory stays bounded however many listings one
/// process sells (about 200 bytes each: 3 MiB when full). Past it half the entries
/// are dropped (each of their next batches goes the transaction way once). At 4,096
/// with the whole map dropped, purchases spread over 10,000 listings found their
/// facts one time in five and paid the transaction way's four round trips the rest
/// (docs/BENCHMARKS.md, "A lone purchase of one of many listings").
const MAX_LISTINGS: usize = 16_384;

/// A listing's facts as its last batch placed orders at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Facts {
    pub seller_id: String,
    pub service_name: String,
    pub currency: String,
    pub price_cents: i64,
}

/// The facts of the listings this process sold last, by listing id.
#[derive(Debug, Default)]
pub(super) struct FactsCache(Mutex<HashMap<String, Facts>>);

impl FactsCache {
    /// The facts `listing`'s last batch found, if remembered.
    pub fn get(&self, listing: &str) -> Option<Facts> {
        self.lock().get(listing).cloned()
    }

    /// Remembers what a batch of `listing` found.
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

    /// Forgets `listing` (its last batch found it changed, paused or gone).
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
