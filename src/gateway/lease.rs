//! Leases held by this process (docs/GATEWAY.md, "Leases"): requests taken from a
//! key's allowance in blocks, served from memory, with the used count flushed to the
//! lease's row at least every window of requests (each lease has its own, at least
//! `window`) and pushed along by a background task, which also returns idle leases
//! and reclaims crashed processes' ones.
//!
//! Each key has one slot behind an async lock, so a key's requests in this process
//! queue only for the instant of counting, or for the database when a new block is
//! due. Flushes run beside the requests: once half the window is served past the
//! last flushed count, a background task writes the count while requests go on
//! being served from the other half; a request waits only when the whole window is
//! used before that write is confirmed. (Flushing on the request path, under the
//! slot's lock, made every key's throughput one window per database round trip.)

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, watch};

use super::lease_store::{self, Granted};
use crate::db::Db;

/// The lease settings.
#[derive(Clone, Copy, Debug)]
pub struct LeaseSettings {
    /// How long a lease lives past its last flush in the database.
    pub ttl: Duration,
    /// A lease unused this long is returned.
    pub idle: Duration,
    /// The smallest window a lease gets (requests served at most beyond its last
    /// flushed count); larger blocks get larger ones, see
    /// [`lease_store::window_for`].
    pub window: i64,
}

impl LeaseSettings {
    /// How long this process trusts a lease after a flush began: a quarter of the
    /// TTL short of its expiry in the database, so it has stopped serving from it
    /// well before anyone may reclaim it (and clocks may differ a little).
    fn trusted_for(&self) -> Duration {
        self.ttl - self.ttl / 4
    }

    fn ttl_ms(&self) -> i64 {
        i64::try_from(self.ttl.as_millis()).unwrap_or(i64::MAX)
    }
}

#[derive(Debug)]
struct Held {
    granted: Granted,
    /// Served from the block, in memory.
    used: i64,
    /// Last count written to the lease's row (confirmed by the database).
    flushed: i64,
    /// A background flush of this lease is under way: no other flush starts meanwhile,
    /// so `flushed` always mirrors the last write the database confirmed.
    flushing: bool,
    /// Past this the lease is not served from.
    trusted_until: Instant,
    last_used: Instant,
}

/// One key's lease in this process.
#[derive(Debug, Default)]
struct SlotInner {
    held: tokio::sync::Mutex<Option<Held>>,
    /// Woken when a background flush ends.
    flush_done: Notify,
}

type Slot = Arc<SlotInner>;

/// What [`Leases::take`] got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Taken {
    /// Taken from this lease.
    From(String),
    /// Too few requests left.
    Exhausted,
}

/// This process's leases, by key id.
#[derive(Debug)]
pub struct Leases {
    db: Db,
    settings: LeaseSettings,
    slots: Mutex<HashMap<String, Slot>>,
}

impl Leases {
    /// No leases yet.
    pub fn new(db: Db, settings: LeaseSettings) -> Self {
        Self {
            db,
            settings,
            slots: Mutex::new(HashMap::new()),
        }
    }

    fn slot(&self, key_id: &str) -> Slot {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        slots.entry(key_id.to_owned()).or_default().clone()
    }

    /// Takes `cost` requests of `key_id`'s allowance, from the held lease or a new one.
    pub async fn take(&self, key_id: &str, cost: i64) -> Result<Taken, sqlx::Error> {
        let slot = self.slot(key_id);
        loop {
            let mut held = slot.held.lock().await;
            let now = Instant::now();
            match held.as_mut() {
                Some(h) if now < h.trusted_until && h.used + cost <= h.granted.requests => {
                    if h.used + cost - h.flushed > h.granted.window {
                        if h.flushing {
                            // The window is used up before the flush under way is
                            // confirmed: wait for it (registered before the lock is
                            // released, so its end cannot be missed), then look again.
                            let done = slot.flush_done.notified();
                            tokio::pin!(done);
                            done.as_mut().enable();
                            drop(held);
                            done.await;
                            continue;
                        }
                        // Flush before serving more. The flush counts this request
                        // already, so that a cost above the window (a priced route)
                        // stays within what a reclaim counts as served.
                        if !self.flush(h, cost).await? {
                            *held = None;
                        }
                        continue;
                    }
                    h.used += cost;
                    h.last_used = now;
                    let lease_id = h.granted.id.clone();
                    if !h.flushing && h.used - h.flushed >= early_flush_at(h.granted.window) {
                        h.flushing = true;
                        self.spawn_flush(slot.clone(), lease_id.clone(), h.used);
                    }
                    return Ok(Taken::From(lease_id));
                }
                Some(_) => {
                    // Used up or no longer trusted: return what is left of it (a flush
                    // still under way then finds the row gone and changes nothing).
                    if let Some(h) = held.take() {
                        self.release(key_id, &h).await?;
                    }
                }
                None => {
                    let acquired = lease_store::acquire(
                        &self.db,
                        key_id,
                        cost,
                        self.settings.window,
                        self.settings.ttl_ms(),
                    )
                    .await?;
                    let Some(granted) = acquired else {
                        return Ok(Taken::Exhausted);
                    };
                    *held = Some(Held {
                        granted,
                        used: 0,
                        flushed: 0,
                        flushing: false,
                        trusted_until: now + self.settings.trusted_for(),
                        last_used: now,
                    });
                }
            }
        }
    }

    /// Writes `count` to the lease's row in a task of its own; on its end, the slot
    /// learns the confirmed count (or that the lease was lost) and waiters wake.
    fn spawn_flush(&self, slot: Slot, lease_id: String, count: i64) {
        let db = self.db.clone();
        let settings = self.settings;
        tokio::spawn(async move {
            let started = Instant::now();
            let written = lease_store::flush(&db, &lease_id, count, settings.ttl_ms()).await;
            let mut held = slot.held.lock().await;
            if held.as_ref().is_some_and(|h| h.granted.id == lease_id) {
                match written {
                    Ok(true) => {
                        if let Some(h) = held.as_mut() {
                            h.flushing = false;
                            h.flushed = count;
                            h.trusted_until = started + settings.trusted_for();
                        }
                    }
                    // Expired and possibly reclaimed: stop serving from it.
                    Ok(false) => *held = None,
                    Err(err) => {
                        if let Some(h) = held.as_mut() {
                            h.flushing = false;
                        }
                        // The next request past the window flushes on its own path
                        // and reports the error if it persists.
                        tracing::warn!(lease = %lease_id, error = %err, "gateway lease flush failed");
                    }
                }
            }
            drop(held);
            slot.flush_done.notify_waiters();
        });
    }

    /// Gives back `cost` requests taken from `lease_id`; false when that lease is no
    /// longer held (the caller then gives them back to the key itself).
    pub async fn give_back(&self, key_id: &str, lease_id: &str, cost: i64) -> bool {
        let slot = self.slot(key_id);
        let mut held = slot.held.lock().await;
        match held.as_mut() {
            Some(h) if h.granted.id == lease_id => {
                h.used = h.used.saturating_sub(cost).max(0);
                true
            }
            _ => false,
        }
    }

    /// Returns the lease held for `key_id`, if any (its grants shrank under it).
    pub async fn surrender(&self, key_id: &str) -> Result<(), sqlx::Error> {
        let slot = self.slot(key_id);
        let mut held = slot.held.lock().await;
        match held.take() {
            Some(h) => self.release(key_id, &h).await,
            None => Ok(()),
        }
    }

    /// Writes the used count plus `ahead` (requests about to be served) and renews
    /// the lease; false when it was lost. Only called with no background flush
    /// under way, under the slot's lock.
    async fn flush(&self, h: &mut Held, ahead: i64) -> Result<bool, sqlx::Error> {
        let started = Instant::now();
        let count = h.used + ahead;
        let kept =
            lease_store::flush(&self.db, &h.granted.id, count, self.settings.ttl_ms()).await?;
        if kept {
            h.flushed = count;
            h.trusted_until = started + self.settings.trusted_for();
        }
        Ok(kept)
    }

    async fn release(&self, key_id: &str, h: &Held) -> Result<(), sqlx::Error> {
        lease_store::release(&self.db, &h.granted.id, key_id, h.granted.requests, h.used)
            .await
            .map(drop)
    }

    /// One round of upkeep: idle leases returned, the others flushed and renewed.
    /// With `all`, every lease is returned (at shutdown), once its background flush
    /// has ended.
    pub async fn upkeep(&self, all: bool) {
        let slots: Vec<(String, Slot)> = {
            let slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
            slots.iter().map(|(k, s)| (k.clone(), s.clone())).collect()
        };
        let now = Instant::now();
        for (key_id, slot) in slots {
            // A slot busy with a request is being looked after by it.
            let Ok(mut held) = (if all {
                Ok(settled(&slot).await)
            } else {
                slot.held.try_lock()
            }) else {
                continue;
            };
            let Some(h) = held.as_mut() else {
                continue;
            };
            let result = if all || now.duration_since(h.last_used) >= self.settings.idle {
                let h = held.take();
                match h {
                    Some(h) => self.release(&key_id, &h).await,
                    None => Ok(()),
                }
            } else {
                // Renewed in the background (or by the flush under way), so that
                // requests never queue behind the upkeep's round trip.
                if !h.flushing {
                    h.flushing = true;
                    self.spawn_flush(slot.clone(), h.granted.id.clone(), h.used);
                }
                Ok(())
            };
            if let Err(err) = result {
                // Kept (or lost) as it is: an expired lease is reclaimed by anyone.
                tracing::warn!(key = %key_id, error = %err, "gateway lease upkeep failed");
            }
        }
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        slots.retain(|_, slot| slot.held.try_lock().map_or(true, |held| held.is_some()));
    }
}

/// Served past the last flushed count at which a background flush starts: half
/// the window, so the other half covers the flush's round trip.
fn early_flush_at(window: i64) -> i64 {
    (window / 2).max(1)
}

/// The slot's lock, once no background flush of its lease is under way.
async fn settled(slot: &SlotInner) -> tokio::sync::MutexGuard<'_, Option<Held>> {
    loop {
        let held = slot.held.lock().await;
        if !held.as_ref().is_some_and(|h| h.flushing) {
            return held;
        }
        let done = slot.flush_done.notified();
        tokio::pin!(done);
        done.as_mut().enable();
        drop(held);
        done.await;
    }
}

/// Looks after the leases every `tick` until `stop`, reclaiming expired leases of
/// any process every second; then returns every lease this process holds.
pub async fn run(leases: Arc<Leases>, tick: Duration, mut stop: watch::Receiver<bool>) {
    let mut interval = tokio::time::interval(tick.max(Duration::from_millis(10)));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_reclaim = Instant::now();
    loop {
        let stopped = tokio::select! {
            _ = interval.tick() => false,
            _ = stop.wait_for(|s| *s) => true,
        };
        if stopped {
            break;
        }
        leases.upkeep(false).await;
        if last_reclaim.elapsed() >= Duration::from_secs(1) {
            last_reclaim = Instant::now();
            match lease_store::reclaim_expired(&leases.db).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(leases = n, "reclaimed expired gateway leases"),
                Err(err) => tracing::warn!(error = %err, "reclaiming gateway leases failed"),
            }
        }
    }
    leases.upkeep(true).await;
}
