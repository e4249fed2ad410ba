//! In-process GCRA buckets: sharded, bounded in memory, never held across an await.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use super::Decision;
use super::gcra::{self, Rate};

/// Shards, so that requests for different buckets rarely wait on one lock.
/// Far more than the cores we run on, and cheap: an empty shard is a few words.
const SHARDS: usize = 64;

/// Buckets kept in total before the fullest live ones are forgotten. A bucket
/// costs about 100 bytes with a short key (keys are capped in length by the
/// limiter), so this bounds the store near 13 MB even under a flood of
/// distinct client addresses: within the memory budget in docs/OPERATIONS.md.
pub(crate) const DEFAULT_CAPACITY: usize = 1 << 17;

/// A shard is not swept before it holds this many buckets: sweeping tiny maps
/// costs more than the memory it saves.
const MIN_SWEEP_AT: usize = 256;

/// Gauge of the in-process buckets held (at most [`DEFAULT_CAPACITY`]).
pub(crate) const BUCKETS_METRIC: &str = "udam_rate_limit_buckets";

/// Buckets of one process, keyed by bucket name, each holding its TAT.
pub(crate) struct LocalStore {
    shards: Box<[Mutex<Shard>]>,
    /// Picks a shard; seeded per process so clients cannot aim at one shard.
    hasher: RandomState,
    /// Zero of this store's clock. `Instant` is monotonic, so a wall-clock
    /// jump cannot refill or drain buckets.
    epoch: Instant,
    capacity_per_shard: usize,
    /// Buckets held over all shards, kept beside the shards so that the gauge
    /// is published without locking them all.
    held: AtomicUsize,
}

struct Shard {
    tats: HashMap<Box<str>, u64>,
    /// Sweep when an insert would grow the map past this many buckets.
    sweep_at: usize,
}

impl LocalStore {
    /// An empty store with the default shard count and capacity.
    pub fn new() -> Self {
        Self::with_shape(SHARDS, DEFAULT_CAPACITY)
    }

    /// An empty store of `shards` shards holding about `capacity` buckets in all.
    pub fn with_shape(shards: usize, capacity: usize) -> Self {
        let shards = shards.max(1);
        let capacity_per_shard = (capacity / shards).max(1);
        Self {
            shards: (0..shards)
                .map(|_| {
                    Mutex::new(Shard {
                        tats: HashMap::new(),
                        sweep_at: MIN_SWEEP_AT.min(capacity_per_shard),
                    })
                })
                .collect(),
            hasher: RandomState::new(),
            epoch: Instant::now(),
            capacity_per_shard,
            held: AtomicUsize::new(0),
        }
    }

    /// Nanoseconds on this store's clock.
    pub fn now_ns(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// One request against `bucket`, now.
    pub fn check(&self, bucket: &str, rate: Rate) -> Decision {
        self.check_at(bucket, rate, self.now_ns())
    }

    /// One request against `bucket` at `now` (nanoseconds on this store's clock).
    pub fn check_at(&self, bucket: &str, rate: Rate, now: u64) -> Decision {
        let index = (self.hasher.hash_one(bucket) % self.shards.len() as u64) as usize;
        // A panic elsewhere cannot leave a half-written u64 behind, so a
        // poisoned shard is still sound to use.
        let mut shard = self.shards[index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let tat = shard.tats.get(bucket).copied().unwrap_or(0);
        let (step, decision) = gcra::check(tat, now, rate);
        if step.allowed {
            let (added, removed) = shard.store(bucket, step.tat, now, self.capacity_per_shard);
            if added + removed > 0 {
                // Counted under the shard's lock, so a bucket is never subtracted
                // before it was added; the gauge is set after the lock is let go.
                let held = if added >= removed {
                    let grown = added - removed;
                    self.held.fetch_add(grown, Ordering::Relaxed) + grown
                } else {
                    let shrunk = removed - added;
                    self.held.fetch_sub(shrunk, Ordering::Relaxed) - shrunk
                };
                drop(shard);
                // Bucket counts are far below 2^53: exact as f64. Concurrent
                // inserts may publish out of order; the next change corrects it.
                metrics::gauge!(BUCKETS_METRIC).set(held as f64);
            }
        }
        decision
    }

    /// Buckets currently held.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).tats.len())
            .sum()
    }
}

impl Shard {
    /// Stores `bucket`'s TAT; returns how many buckets were added (0 or 1) and
    /// how many a sweep forgot.
    fn store(&mut self, bucket: &str, tat: u64, now: u64, capacity: usize) -> (usize, usize) {
        if let Some(slot) = self.tats.get_mut(bucket) {
            *slot = tat;
            return (0, 0);
        }
        let mut removed = 0;
        if self.tats.len() >= self.sweep_at {
            let before = self.tats.len();
            self.sweep(now, capacity);
            removed = before - self.tats.len();
        }
        self.tats.insert(bucket.into(), tat);
        (1, removed)
    }

    /// Drops buckets that are full again (TAT not after `now`): forgetting them
    /// changes no answer, since a missing bucket is a full one. If live buckets
    /// alone still fill the shard, forgets the eighth that are closest to full.
    fn sweep(&mut self, now: u64, capacity: usize) {
        self.tats.retain(|_, tat| *tat > now);
        if self.tats.len() >= capacity {
            self.evict_fullest(self.tats.len() / 8 + 1);
        }
        // Doubling keeps the sweep's cost amortised O(1) per insert: the next
        // sweep comes only after as many inserts as there are buckets left.
        self.sweep_at = (self.tats.len() * 2).max(MIN_SWEEP_AT).min(capacity);
    }

    /// Removes the `count` buckets with the earliest TATs.
    fn evict_fullest(&mut self, count: usize) {
        let mut tats: Vec<u64> = self.tats.values().copied().collect();
        if count == 0 || tats.is_empty() {
            return;
        }
        let count = count.min(tats.len());
        let (_, &mut cutoff, _) = tats.select_nth_unstable(count - 1);
        // Everything before the cutoff goes; of the buckets that tie with it,
        // only as many as make up `count`.
        let mut ties_to_drop = count - tats.iter().filter(|t| **t < cutoff).count();
        self.tats.retain(|_, tat| {
            if *tat < cutoff {
                false
            } else if *tat == cutoff && ties_to_drop > 0 {
                ties_to_drop -= 1;
                false
            } else {
                true
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ratelimit::Quota;
    use std::time::Duration;

    const SEC: u64 = 1_000_000_000;

    #[test]
    fn buckets_are_independent() {
        let store = LocalStore::new();
        let rate = Rate::from_quota(Quota::per_minute(2));
        let now = 10 * SEC;
        assert!(store.check_at("ip:1.1.1.1", rate, now).allowed);
        assert!(store.check_at("ip:1.1.1.1", rate, now).allowed);
        assert!(!store.check_at("ip:1.1.1.1", rate, now).allowed);
        assert!(store.check_at("ip:2.2.2.2", rate, now).allowed);
        assert!(store.check_at("login-email:a@b.c", rate, now).allowed);
    }

    #[test]
    fn sweep_forgets_buckets_that_have_refilled() {
        let store = LocalStore::with_shape(1, 100_000);
        let rate = Rate::from_quota(Quota::per_second(10));
        for i in 0..MIN_SWEEP_AT {
            store.check_at(&format!("ip:{i}"), rate, SEC);
        }
        assert_eq!(store.len(), MIN_SWEEP_AT);
        // A second later every one of those buckets is full again.
        store.check_at("ip:new", rate, 2 * SEC);
        assert_eq!(store.len(), 1);
    }

    #[test]
    fn live_buckets_never_exceed_capacity_and_the_fullest_go_first() {
        let capacity = 1000;
        let store = LocalStore::with_shape(4, capacity);
        let rate = Rate::from_quota(Quota::per_hour(100));
        // A flood of distinct clients, all still inside their hour.
        for i in 0..20_000u64 {
            store.check_at(&format!("ip:{i}"), rate, SEC + i);
            assert!(store.len() <= capacity, "{} buckets after {i}", store.len());
        }
        // The count behind the gauge agrees with the shards.
        assert_eq!(store.held.load(Ordering::Relaxed), store.len());
        // The newest (emptiest) bucket survived; the oldest was forgotten.
        let newest = store.check_at("ip:19999", rate, SEC + 20_000);
        assert_eq!(newest.remaining, 98);
        let oldest = store.check_at("ip:0", rate, SEC + 20_000);
        assert_eq!(oldest.remaining, 99);
    }

    #[test]
    fn concurrent_requests_share_one_budget_exactly() {
        let store = LocalStore::new();
        let rate = Rate::from_quota(Quota::new(500, Duration::from_secs(3600)));
        let allowed = std::sync::atomic::AtomicU32::new(0);
        std::thread::scope(|scope| {
            for _ in 0..8 {
                scope.spawn(|| {
                    for _ in 0..200 {
                        if store.check("account:7", rate).allowed {
                            allowed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        assert_eq!(allowed.into_inner(), 500);
    }

    #[test]
    fn eviction_with_tied_tats_removes_only_what_it_must() {
        let store = LocalStore::with_shape(1, 16);
        let rate = Rate::from_quota(Quota::per_hour(1));
        for i in 0..40 {
            store.check_at(&format!("ip:{i}"), rate, SEC);
            assert!(store.len() <= 16);
        }
        // Same-instant buckets tie; a sweep must not drop them all at once.
        assert!(store.len() >= 14, "{} left", store.len());
    }
}
