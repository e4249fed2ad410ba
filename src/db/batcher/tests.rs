//! The batcher alone: batches form from what queues while one is served, callers
//! that left are skipped, and a panicking serve never leaves a key stuck. Gates
//! (not clocks) decide when a batch may finish.

use std::sync::{Arc, Mutex};

use tokio::sync::{Semaphore, mpsc};

use super::{Batcher, Pending};

type Numbers = Batcher<&'static str, u32, u32>;

/// A serve function that reports each batch's requests, then waits for one
/// gate permit before answering every request with its double.
#[derive(Clone)]
struct Probe {
    batches: Arc<Mutex<Vec<Vec<u32>>>>,
    started: mpsc::UnboundedSender<()>,
    gate: Arc<Semaphore>,
}

impl Probe {
    fn new() -> (Self, mpsc::UnboundedReceiver<()>) {
        let (started, rx) = mpsc::unbounded_channel();
        let probe = Self {
            batches: Arc::default(),
            started,
            gate: Arc::new(Semaphore::new(0)),
        };
        (probe, rx)
    }

    fn serve(
        &self,
    ) -> impl Fn(&'static str, Vec<Pending<u32, u32>>) -> futures_like::BoxFut + Send + Sync + 'static
    {
        let probe = self.clone();
        move |_key, batch| {
            let probe = probe.clone();
            Box::pin(async move {
                let reqs: Vec<u32> = batch.iter().map(|p| p.req).collect();
                probe.batches.lock().unwrap().push(reqs.clone());
                let _ = probe.started.send(());
                if reqs.contains(&666) {
                    panic!("serve failed on purpose");
                }
                probe.gate.acquire().await.unwrap().forget();
                for p in batch {
                    let double = p.req * 2;
                    p.reply(double);
                }
            })
        }
    }

    fn batches(&self) -> Vec<Vec<u32>> {
        self.batches.lock().unwrap().clone()
    }
}

mod futures_like {
    /// The boxed future the probe's serve function returns.
    pub type BoxFut = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;
}

/// Yields until `key` has `n` waiters (the submitting tasks have queued).
async fn until_waiting(batcher: &Numbers, key: &'static str, n: usize) {
    for _ in 0..100_000 {
        if batcher.waiting(&key) == n {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("never saw {n} waiters");
}

fn submit(
    batcher: &Arc<Numbers>,
    probe: &Probe,
    key: &'static str,
    n: u32,
) -> tokio::task::JoinHandle<Option<u32>> {
    let batcher = batcher.clone();
    let serve = probe.serve();
    tokio::spawn(async move { batcher.submit(key, n, serve).await })
}

#[tokio::test]
async fn a_lone_request_is_served_alone() {
    let batcher = Arc::new(Numbers::new(1, 10));
    let (probe, _started) = Probe::new();
    probe.gate.add_permits(1);
    assert_eq!(batcher.submit("k", 21, probe.serve()).await, Some(42));
    assert_eq!(probe.batches(), vec![vec![21]]);
    assert_eq!(batcher.waiting(&"k"), 0);
    assert!(batcher.lock().is_empty(), "an idle key is forgotten");
}

#[tokio::test]
async fn requests_queued_during_a_batch_form_the_next_ones() {
    let batcher = Arc::new(Numbers::new(1, 3));
    let (probe, mut started) = Probe::new();
    let first = submit(&batcher, &probe, "k", 1);
    started.recv().await.unwrap();
    let rest: Vec<_> = (2..=6).map(|n| submit(&batcher, &probe, "k", n)).collect();
    until_waiting(&batcher, "k", 5).await;
    probe.gate.add_permits(3);
    assert_eq!(first.await.unwrap(), Some(2));
    for (n, handle) in (2..=6).zip(rest) {
        assert_eq!(handle.await.unwrap(), Some(n * 2));
    }
    // One in flight, at most three per batch, in arrival order.
    let batches = probe.batches();
    assert_eq!(batches.len(), 3, "{batches:?}");
    assert_eq!(batches[0], vec![1]);
    assert_eq!(batches[1].len(), 3);
    assert_eq!(batches[2].len(), 2);
    let mut seen: Vec<u32> = batches.concat();
    seen.sort_unstable();
    assert_eq!(seen, vec![1, 2, 3, 4, 5, 6]);
}

#[tokio::test]
async fn keys_are_served_independently() {
    let batcher = Arc::new(Numbers::new(1, 10));
    let (probe, mut started) = Probe::new();
    let a = submit(&batcher, &probe, "a", 1);
    let b = submit(&batcher, &probe, "b", 2);
    // Both keys start a batch although neither has finished.
    started.recv().await.unwrap();
    started.recv().await.unwrap();
    probe.gate.add_permits(2);
    assert_eq!(a.await.unwrap(), Some(2));
    assert_eq!(b.await.unwrap(), Some(4));
}

#[tokio::test]
async fn max_in_flight_batches_run_at_once() {
    let batcher = Arc::new(Numbers::new(2, 10));
    let (probe, mut started) = Probe::new();
    let one = submit(&batcher, &probe, "k", 1);
    started.recv().await.unwrap();
    let two = submit(&batcher, &probe, "k", 2);
    // The second request starts a second batch while the first is in flight.
    started.recv().await.unwrap();
    let three = submit(&batcher, &probe, "k", 3);
    until_waiting(&batcher, "k", 1).await;
    probe.gate.add_permits(3);
    assert_eq!(one.await.unwrap(), Some(2));
    assert_eq!(two.await.unwrap(), Some(4));
    assert_eq!(three.await.unwrap(), Some(6));
    assert_eq!(probe.batches().len(), 3);
}

#[tokio::test]
async fn callers_that_left_are_skipped() {
    let batcher = Arc::new(Numbers::new(1, 10));
    let (probe, mut started) = Probe::new();
    let first = submit(&batcher, &probe, "k", 1);
    started.recv().await.unwrap();
    let gone = submit(&batcher, &probe, "k", 2);
    let stays = submit(&batcher, &probe, "k", 3);
    until_waiting(&batcher, "k", 2).await;
    gone.abort();
    assert!(gone.await.unwrap_err().is_cancelled());
    probe.gate.add_permits(2);
    assert_eq!(first.await.unwrap(), Some(2));
    assert_eq!(stays.await.unwrap(), Some(6));
    assert_eq!(probe.batches(), vec![vec![1], vec![3]]);
}

#[tokio::test]
async fn a_panicking_serve_answers_none_and_frees_the_key() {
    let batcher = Arc::new(Numbers::new(1, 10));
    let (probe, _started) = Probe::new();
    assert_eq!(batcher.submit("k", 666, probe.serve()).await, None);
    // The slot came back: the next request starts a task and is answered.
    probe.gate.add_permits(1);
    assert_eq!(batcher.submit("k", 4, probe.serve()).await, Some(8));
    assert!(batcher.lock().is_empty());
}
