//! What a listing's last batch found: the price, currency, seller and name its next
//! batch's journal is computed from, so that batch can be written in one statement.
//!
//! Only a guess: the statement compares these facts with the row it locks and
//! refuses itself when any differs, and the next batch goes the transaction way,
//! which reads them afresh.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

/// Most listings remembered; past it the cache starts over (each listing's next
/// batch then goes the transaction way once), so memory stays bounded however many
/// listings one process sells.
const MAX_LISTINGS: usize = 4096;

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
            map.clear();
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
        assert!(cache.lock().len() <= MAX_LISTINGS);
        assert_eq!(cache.get(&format!("lst_{MAX_LISTINGS}")), Some(facts(1)));
    }
}
