//! Batched loading: a page of 100 orders with their listings costs as many SQL
//! statements as a page of 10, counted from sqlx's own statement log on the real
//! database (every statement sqlx runs is a `sqlx::query` tracing event).
//!
//! The counter is process-global; nextest runs each test in its own process.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::json;
use tracing::field::{Field, Visit};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt};

use super::{data, gql};
use crate::common::{Backend, TestApp, create_listing, listing_body, place_order};

crate::dual_backend_tests!(a_page_of_orders_loads_its_listings_in_one_statement);

/// Statements that read orders or listings, as sqlx logs them.
#[derive(Clone, Default)]
struct Statements {
    seen: Arc<Mutex<Vec<String>>>,
    total: Arc<AtomicUsize>,
}

struct StatementText(Option<String>);

impl Visit for StatementText {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "db.statement" {
            self.0 = Some(value.to_owned());
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "db.statement" {
            self.0 = Some(format!("{value:?}"));
        }
    }
}

impl<S: tracing::Subscriber> Layer<S> for Statements {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        if event.metadata().target() != "sqlx::query" {
            return;
        }
        self.total.fetch_add(1, Ordering::SeqCst);
        let mut text = StatementText(None);
        event.record(&mut text);
        if let Some(sql) = text.0 {
            let sql = sql.to_lowercase();
            if sql.contains("from orders") || sql.contains("from listings where id") {
                self.seen.lock().unwrap().push(sql);
            }
        }
    }
}

impl Statements {
    /// Runs `f` and answers the order and listing statements it caused.
    async fn during<F: std::future::Future<Output = ()>>(&self, f: F) -> Vec<String> {
        self.seen.lock().unwrap().clear();
        f.await;
        std::mem::take(&mut *self.seen.lock().unwrap())
    }
}

async fn a_page_of_orders_loads_its_listings_in_one_statement(backend: Backend) {
    let counter = Statements::default();
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(counter.clone()))
        .expect("the only subscriber of this test process");
    let app = TestApp::spawn(backend).await;
    let buyer = app.signup("buyer@example.com").await;
    let seller = app.signup("seller@example.com").await;
    // 100 orders over 100 distinct listings: a per-order lookup would show 100 times.
    for i in 0..100 {
        let listing = create_listing(&app, &seller, &listing_body(&format!("l{i}"), 10, 5)).await;
        place_order(&app, &buyer, &listing, 1).await;
    }
    let query = "query($n: Int) { myOrders(first: $n) { nodes { id listing { id serviceName priceCents } } } }";
    let mut counts = Vec::new();
    for n in [10, 100] {
        let statements = counter
            .during(async {
                let r = gql(&app, Some(&buyer), query, json!({"n": n})).await;
                let nodes = data(&r)["myOrders"]["nodes"].as_array().unwrap().clone();
                assert_eq!(nodes.len(), n);
                for node in &nodes {
                    assert!(
                        node["listing"]["serviceName"]
                            .as_str()
                            .unwrap()
                            .starts_with('l')
                    );
                }
            })
            .await;
        counts.push(statements.len());
        let by_id = statements
            .iter()
            .filter(|s| s.contains("from listings where id"))
            .count();
        // Batches close after a short delay (1 ms), so on a loaded machine a page
        // may take several; a lookup per order would take one statement per order.
        let bound = (n / 10).max(2);
        assert!(by_id <= bound, "listings load in batches: {statements:#?}");
    }
    assert!(
        counter.total.load(Ordering::SeqCst) > 0,
        "sqlx logs its statements"
    );
    assert!(
        counts[1] <= 11,
        "orders page + a few listings batches, not one per order: {counts:?}"
    );
    app.assert_ledger_clean().await;
}
