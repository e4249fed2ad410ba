//! The delivery worker steps aside while purchases keep the server busy, so that its
//! statements do not slow them, and delivers once they ease
//! (docs/WEBHOOKS.md, "The worker steps aside for requests").

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use super::{LOCAL_DELIVERY, Receiver, assert_all_signed, register};
use crate::common::{Backend, TestApp, create_listing, listing_body, place_order};

crate::dual_backend_tests!(
    a_delivery_waits_while_purchases_keep_the_server_busy,
    a_delivery_waits_no_longer_than_the_longest_deferral,
);

/// Clients buying without pause, more than enough to keep a quarter of a request
/// per core in progress.
const BUSY_CLIENTS: usize = 16;

/// Purchases made without pause until stopped, by a buyer and a seller who have no
/// endpoints (so they emit no event); counts the answered ones.
struct Busy {
    stop: Arc<AtomicBool>,
    answered: Arc<AtomicU64>,
    clients: JoinSet<()>,
}

impl Busy {
    /// Starts the clients, and returns once they have had 500 answers, so the
    /// server is busy and any pass begun before then has long finished.
    async fn start(app: &TestApp) -> Self {
        let seller = app.signup("busy-seller@example.com").await;
        let buyer = app.signup("busy-buyer@example.com").await;
        let listing = create_listing(app, &seller, &listing_body("busy", 1, 1_000_000)).await;
        let stop = Arc::new(AtomicBool::new(false));
        let answered = Arc::new(AtomicU64::new(0));
        let mut clients = JoinSet::new();
        for _ in 0..BUSY_CLIENTS {
            let (client, stop, answered) = (app.client.clone(), stop.clone(), answered.clone());
            let (buyer, listing) = (buyer.clone(), listing.clone());
            clients.spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    place_order(&client, &buyer, &listing, 1).await;
                    answered.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        let busy = Self {
            stop,
            answered,
            clients,
        };
        busy.wait_for_answers(500).await;
        busy
    }

    /// Polls until `n` more purchases were answered.
    async fn wait_for_answers(&self, n: u64) {
        let target = self.answered.load(Ordering::Relaxed) + n;
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.answered.load(Ordering::Relaxed) < target {
            assert!(Instant::now() < deadline, "{n} answers within 30 s");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    async fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        while let Some(client) = self.clients.join_next().await {
            client.expect("every busy purchase succeeded");
        }
    }
}

/// A server delivering to local receivers that defers passes by up to `defer_max`,
/// where the busy buyer's 1-cent purchases never reach the unpaid cap.
async fn spawn(backend: Backend, defer_max: &str) -> TestApp {
    let mut flags = LOCAL_DELIVERY.to_vec();
    flags.extend(["--webhook-defer-max", defer_max]);
    flags.extend(["--unpaid-cap-cents", "100000000"]);
    TestApp::spawn_with(backend, &flags).await
}

async fn a_delivery_waits_while_purchases_keep_the_server_busy(backend: Backend) {
    // Far longer than the test: only the purchases decide when the worker sends.
    let app = spawn(backend, "10m").await;
    let seller = app.signup("seller@example.com").await;
    let buyer = app.signup("buyer@example.com").await;
    let rx = Receiver::start().await;
    let (_, secret) = register(&app, &seller, &rx.url, &["order.created"]).await;
    let listing = create_listing(&app, &seller, &listing_body("ticks", 100, 5)).await;

    // Idle, an order's event goes out within the worker's 20 ms polls.
    place_order(&app, &buyer, &listing, 1).await;
    rx.wait_until("the first order's event", |got| got.len() == 1)
        .await;

    let busy = Busy::start(&app).await;
    let order = place_order(&app, &buyer, &listing, 1).await;
    // While the purchases go on (a thousand more: well past fifty of the worker's
    // polls), the event waits.
    busy.wait_for_answers(1000).await;
    assert_eq!(
        rx.received().len(),
        1,
        "nothing sent while the server was busy"
    );
    busy.stop().await;

    // Once they stop, it goes.
    let got = rx
        .wait_until("the second order's event", |got| got.len() == 2)
        .await;
    assert_eq!(got[1].json()["data"]["id"], order.as_str());
    assert_all_signed(&got, &secret).await;
    app.assert_ledger_clean().await;
}

async fn a_delivery_waits_no_longer_than_the_longest_deferral(backend: Backend) {
    let app = spawn(backend, "200ms").await;
    let seller = app.signup("seller@example.com").await;
    let buyer = app.signup("buyer@example.com").await;
    let rx = Receiver::start().await;
    register(&app, &seller, &rx.url, &["order.created"]).await;
    let listing = create_listing(&app, &seller, &listing_body("ticks", 100, 5)).await;

    // Purchases that never ease hold the event back 200 ms or so, then it goes.
    let busy = Busy::start(&app).await;
    let order = place_order(&app, &buyer, &listing, 1).await;
    let got = rx
        .wait_until("the order's event", |got| got.len() == 1)
        .await;
    assert_eq!(got[0].json()["data"]["id"], order.as_str());
    // Only now do the purchases stop.
    busy.stop().await;
    app.assert_ledger_clean().await;
}
