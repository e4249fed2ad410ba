//! The combined purchases' queue alone: several batches in flight at once, never
//! one listing in two of them, one purchase per buyer in a batch, and nothing left
//! waiting. Gates (not clocks) decide when a batch may finish.

use std::sync::{Arc, Mutex};

use tokio::sync::{Semaphore, mpsc};

use super::Queue;
use crate::db::batcher::Pending;
use crate::ledger::FeeRate;
use crate::orders::purchase::batch::{Limits, Waiter};

fn waiter(listing: &str, buyer: &str) -> Waiter {
    Waiter {
        listing_id: listing.to_owned(),
        buyer_id: buyer.to_owned(),
        units: 1,
        idempotency_key: None,
        limits: Limits {
            instant_max_cents: 500,
            unpaid_cap_cents: 10_000,
            fee: FeeRate::ZERO,
        },
    }
}

/// A batch as (listing, buyer) pairs.
type Batch = Vec<(String, String)>;

/// A serve function that reports each batch as (listing, buyer) pairs, then waits
/// for one gate permit before answering each purchase with its listing.
#[derive(Clone)]
struct Probe {
    batches: Arc<Mutex<Vec<Batch>>>,
    started: mpsc::UnboundedSender<()>,
    gate: Arc<Semaphore>,
}

type Serve = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

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

    fn serve(&self) -> impl Fn(Vec<Pending<Waiter, String>>) -> Serve + Send + Sync + 'static {
        let probe = self.clone();
        move |batch| {
            let probe = probe.clone();
            Box::pin(async move {
                let pairs = batch
                    .iter()
                    .map(|p| (p.req.listing_id.clone(), p.req.buyer_id.clone()))
                    .collect();
                probe.batches.lock().unwrap().push(pairs);
                let _ = probe.started.send(());
                probe.gate.acquire().await.unwrap().forget();
                for p in batch {
                    let listing = p.req.listing_id.clone();
                    p.reply(listing);
                }
            })
        }
    }

    fn batches(&self) -> Vec<Batch> {
        self.batches.lock().unwrap().clone()
    }
}

fn submit(
    queue: &Arc<Queue<String>>,
    probe: &Probe,
    listing: &str,
    buyer: &str,
) -> tokio::task::JoinHandle<Option<String>> {
    let (queue, serve, req) = (Arc::clone(queue), probe.serve(), waiter(listing, buyer));
    tokio::spawn(async move { queue.submit(req, serve).await })
}

/// Polls (yielding) until `n` purchases wait in the queue.
async fn until_waiting(queue: &Queue<String>, n: usize) {
    while queue.lock().waiting.len() < n {
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn listings_run_side_by_side_but_one_listing_never_twice() {
    let queue = Arc::new(Queue::new(4, 256));
    let (probe, mut started) = Probe::new();
    // Two listings' first purchases start two batches at once.
    let a1 = submit(&queue, &probe, "lst_a", "usr_1");
    started.recv().await;
    let b1 = submit(&queue, &probe, "lst_b", "usr_2");
    started.recv().await;
    // More purchases of the held listings wait, though slots are free.
    let a2 = submit(&queue, &probe, "lst_a", "usr_3");
    let a3 = submit(&queue, &probe, "lst_a", "usr_4");
    let b2 = submit(&queue, &probe, "lst_b", "usr_5");
    until_waiting(&queue, 3).await;
    assert_eq!(probe.batches().len(), 2, "{:?}", probe.batches());
    // The held listings' waiting purchases become the next batches of the tasks that
    // held them: lst_a's two together.
    probe.gate.add_permits(4);
    for (handle, listing) in [
        (a1, "lst_a"),
        (b1, "lst_b"),
        (a2, "lst_a"),
        (a3, "lst_a"),
        (b2, "lst_b"),
    ] {
        assert_eq!(handle.await.unwrap().as_deref(), Some(listing));
    }
    let batches = probe.batches();
    let together = batches.iter().any(|batch| {
        ["usr_3", "usr_4"]
            .iter()
            .all(|buyer| batch.iter().any(|(_, b)| b == buyer))
    });
    assert!(together, "{batches:?}");
    assert_eq!(
        batches.iter().map(Vec::len).sum::<usize>(),
        5,
        "{batches:?}"
    );
    assert_eq!(queue.lock().in_flight, 0);
    assert!(queue.lock().held.is_empty());
}

#[tokio::test]
async fn a_buyers_second_purchase_waits_for_the_next_batch() {
    let queue = Arc::new(Queue::new(1, 256));
    let (probe, mut started) = Probe::new();
    let first = submit(&queue, &probe, "lst_a", "usr_0");
    started.recv().await;
    let same = [
        submit(&queue, &probe, "lst_b", "usr_1"),
        submit(&queue, &probe, "lst_c", "usr_1"),
        submit(&queue, &probe, "lst_d", "usr_2"),
    ];
    until_waiting(&queue, 3).await;
    probe.gate.add_permits(3);
    first.await.unwrap();
    for handle in same {
        assert!(handle.await.unwrap().is_some());
    }
    let batches = probe.batches();
    let sizes: Vec<usize> = batches.iter().map(Vec::len).collect();
    assert_eq!(sizes, [1, 2, 1], "{batches:?}");
    assert_eq!(batches[1][0].1, "usr_1");
    assert_eq!(batches[2][0].1, "usr_1");
}
