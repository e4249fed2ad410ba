//! A generic micro-batcher: requests that arrive while a batch is in the database
//! queue up and become the next batch, so one statement (and one commit) serves
//! many requests. Both PostgreSQL fast paths (session lookups, instant purchases)
//! run on it.
//!
//! Requests are queued per key (a listing for purchases, `()` for session
//! lookups); each key has at most `max_in_flight` serving tasks. Serving runs in
//! tasks of its own, not in a caller's future, so a client that hangs up never
//! abandons the others' answers. A caller that went away before its request was
//! taken is skipped. Should a serving task panic, a drop guard gives its slot back
//! and its waiters see `None`, so the key never stays stuck.
//!
//! No timer is involved: a lone request waits for nobody.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::oneshot;

/// One queued request and the way to answer it.
pub struct Pending<Req, Resp> {
    /// What the caller asked for.
    pub req: Req,
    reply: oneshot::Sender<Resp>,
}

impl<Req, Resp> Pending<Req, Resp> {
    /// A request to queue elsewhere than in a [`Batcher`], and where its answer
    /// arrives (an error when it is dropped unanswered).
    pub fn new(req: Req) -> (Self, oneshot::Receiver<Resp>) {
        let (reply, answer) = oneshot::channel();
        (Self { req, reply }, answer)
    }

    /// Answers the caller; an answer to a caller that went away is dropped.
    pub fn reply(self, resp: Resp) {
        let _ = self.reply.send(resp);
    }

    /// Whether the caller went away (its request was dropped: the client hung up
    /// or the request timed out) and no longer waits for the answer.
    pub fn is_gone(&self) -> bool {
        self.reply.is_closed()
    }
}

struct Queue<Req, Resp> {
    waiting: Vec<Pending<Req, Resp>>,
    in_flight: usize,
}

/// Queues of requests per key, served in batches by spawned tasks.
pub struct Batcher<K, Req, Resp> {
    queues: Mutex<HashMap<K, Queue<Req, Resp>>>,
    max_in_flight: usize,
    max_batch: usize,
}

impl<K, Req, Resp> Batcher<K, Req, Resp>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    Req: Send + 'static,
    Resp: Send + 'static,
{
    /// A batcher with at most `max_in_flight` batches per key in the database at
    /// once and at most `max_batch` requests per batch (both at least 1).
    pub fn new(max_in_flight: usize, max_batch: usize) -> Self {
        Self {
            queues: Mutex::default(),
            max_in_flight: max_in_flight.max(1),
            max_batch: max_batch.max(1),
        }
    }

    /// Queues `req` under `key` and waits for its answer. When this call has to
    /// start a serving task, that task serves batches with `serve` until the
    /// key's queue is empty. `None` means the serving task panicked.
    pub async fn submit<F, Fut>(self: &Arc<Self>, key: K, req: Req, serve: F) -> Option<Resp>
    where
        F: Fn(K, Vec<Pending<Req, Resp>>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let start = {
            let mut queues = self.lock();
            let queue = queues.entry(key.clone()).or_insert_with(|| Queue {
                waiting: Vec::new(),
                in_flight: 0,
            });
            queue.waiting.push(Pending { req, reply });
            let start = queue.in_flight < self.max_in_flight;
            if start {
                queue.in_flight += 1;
            }
            start
        };
        if start {
            let me = self.clone();
            tokio::spawn(async move { me.serve(key, serve).await });
        }
        answer.await.ok()
    }

    /// How many requests of `key` wait to be taken into a batch.
    #[cfg(test)]
    fn waiting(&self, key: &K) -> usize {
        self.lock().get(key).map_or(0, |q| q.waiting.len())
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<K, Queue<Req, Resp>>> {
        self.queues.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The next batch of `key`, without callers that went away; `None` (and the
    /// slot given back) when nobody waits.
    fn next_batch(&self, key: &K) -> Option<Vec<Pending<Req, Resp>>> {
        let mut queues = self.lock();
        let queue = queues.get_mut(key)?;
        queue.waiting.retain(|p| !p.reply.is_closed());
        if queue.waiting.is_empty() {
            queue.in_flight = queue.in_flight.saturating_sub(1);
            if queue.in_flight == 0 {
                queues.remove(key);
            }
            return None;
        }
        let n = queue.waiting.len().min(self.max_batch);
        Some(queue.waiting.drain(..n).collect())
    }

    async fn serve<F, Fut>(&self, key: K, serve: F)
    where
        F: Fn(K, Vec<Pending<Req, Resp>>) -> Fut,
        Fut: Future<Output = ()>,
    {
        let mut guard = SlotGuard {
            batcher: self,
            key: &key,
            armed: true,
        };
        while let Some(batch) = self.next_batch(&key) {
            serve(key.clone(), batch).await;
        }
        // `next_batch` gave the slot back on the way out.
        guard.armed = false;
    }
}

/// Gives a serving task's slot back if it ends abnormally (a panic), so later
/// requests of its key still start tasks; when it was the key's last task, the
/// key's waiters are dropped (they see `None`).
struct SlotGuard<'a, K: Hash + Eq, Req, Resp> {
    batcher: &'a Batcher<K, Req, Resp>,
    key: &'a K,
    armed: bool,
}

impl<K: Hash + Eq, Req, Resp> Drop for SlotGuard<'_, K, Req, Resp> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let mut queues = self
            .batcher
            .queues
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(queue) = queues.get_mut(self.key) {
            queue.in_flight = queue.in_flight.saturating_sub(1);
            // With no task left, nobody would serve the waiters: dropping them
            // answers `None` at once instead of leaving them queued.
            if queue.in_flight == 0 {
                queues.remove(self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests;
