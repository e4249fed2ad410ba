//! The queue of combined purchases: one queue per process, several statements in
//! the database at once, and never one listing in two of them.
//!
//! A purchase starts a statement at once when fewer than `max_in_flight` are in the
//! database (a lone purchase waits for nobody; purchases of different listings run
//! side by side as they would alone). Otherwise it waits, and the next statement to
//! finish takes everything waiting as its next batch, except purchases of a listing
//! another statement holds: those wait for that statement, whose next batch takes
//! them. So a hot listing's purchases gather into one batch while its previous one
//! commits, instead of queueing on its row lock in many small statements.
//!
//! A batch has at most one purchase per buyer (a balance row is written once per
//! statement). A caller that went away before its purchase was taken is skipped.
//! Serving runs in tasks of its own, not in a caller's future; should one panic, a
//! drop guard gives its slot and listings back, and when it was the last task the
//! waiters are dropped (they see `None`), as [`crate::db::batcher`] does.

use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::Waiter;
use crate::db::batcher::Pending;

/// Purchases waiting for a combined statement, and the statements in flight.
pub(super) struct Queue<Resp> {
    state: Mutex<State<Resp>>,
    max_in_flight: usize,
    max_batch: usize,
}

struct State<Resp> {
    waiting: VecDeque<Pending<Waiter, Resp>>,
    in_flight: usize,
    /// The listings of the batches in the database.
    held: HashSet<String>,
}

impl<Resp: Send + 'static> Queue<Resp> {
    /// A queue with at most `max_in_flight` batches in the database at once and at
    /// most `max_batch` purchases per batch (both at least 1).
    pub(super) fn new(max_in_flight: usize, max_batch: usize) -> Self {
        Self {
            state: Mutex::new(State {
                waiting: VecDeque::new(),
                in_flight: 0,
                held: HashSet::new(),
            }),
            max_in_flight: max_in_flight.max(1),
            max_batch: max_batch.max(1),
        }
    }

    /// Queues `req` and waits for its answer; when a slot is free, this call starts
    /// a task that serves batches with `serve` until nothing it may take waits.
    /// `None` means the serving task panicked.
    pub(super) async fn submit<F, Fut>(self: &Arc<Self>, req: Waiter, serve: F) -> Option<Resp>
    where
        F: Fn(Vec<Pending<Waiter, Resp>>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (pending, answer) = Pending::new(req);
        let start = {
            let mut state = self.lock();
            state.waiting.push_back(pending);
            let start = state.in_flight < self.max_in_flight;
            if start {
                state.in_flight += 1;
            }
            start
        };
        if start {
            let me = Arc::clone(self);
            tokio::spawn(async move { me.serve(serve).await });
        }
        answer.await.ok()
    }

    async fn serve<F, Fut>(&self, serve: F)
    where
        F: Fn(Vec<Pending<Waiter, Resp>>) -> Fut,
        Fut: Future<Output = ()>,
    {
        let mut guard = SlotGuard {
            queue: self,
            held: Vec::new(),
            armed: true,
        };
        while let Some(batch) = self.next_batch(&mut guard.held) {
            serve(batch).await;
        }
        // `next_batch` gave the slot back on the way out.
        guard.armed = false;
    }

    /// Gives back the listings of this task's last batch (`held`), then takes the
    /// next batch: the oldest waiting purchases whose listing no other batch holds,
    /// one per buyer, without callers that went away; its listings go into `held`.
    /// `None` (and the slot given back) when there is none to take: every purchase
    /// still waiting is then of a listing another task holds, and that task takes it
    /// next.
    fn next_batch(&self, held: &mut Vec<String>) -> Option<Vec<Pending<Waiter, Resp>>> {
        let mut state = self.lock();
        for listing in held.drain(..) {
            state.held.remove(&listing);
        }
        let mut batch = Vec::new();
        let mut buyers = HashSet::new();
        let mut listings = HashSet::new();
        let mut left = VecDeque::new();
        while let Some(p) = state.waiting.pop_front() {
            if p.is_gone() {
                continue;
            }
            let takes = batch.len() < self.max_batch
                && !state.held.contains(&p.req.listing_id)
                && !buyers.contains(&p.req.buyer_id);
            if takes {
                buyers.insert(p.req.buyer_id.clone());
                listings.insert(p.req.listing_id.clone());
                batch.push(p);
            } else {
                left.push_back(p);
            }
        }
        state.waiting = left;
        if batch.is_empty() {
            state.in_flight = state.in_flight.saturating_sub(1);
            return None;
        }
        state.held.extend(listings.iter().cloned());
        held.extend(listings);
        Some(batch)
    }

    fn lock(&self) -> MutexGuard<'_, State<Resp>> {
        // Every change under the lock leaves the state whole.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Gives a serving task's slot and listings back if it ends abnormally (a panic);
/// when it was the last task, the waiters are dropped (they see `None`).
struct SlotGuard<'a, Resp> {
    queue: &'a Queue<Resp>,
    held: Vec<String>,
    armed: bool,
}

impl<Resp> Drop for SlotGuard<'_, Resp> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let mut state = self
            .queue
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for listing in self.held.drain(..) {
            state.held.remove(&listing);
        }
        state.in_flight = state.in_flight.saturating_sub(1);
        if state.in_flight == 0 {
            state.waiting.clear();
        }
    }
}

#[cfg(test)]
mod tests;
