//! Scenario (g): one marketplace page (a listing, its seller's other listings, and
//! the viewer's orders) loaded by one GraphQL query against the same page loaded by
//! its three REST calls, at the same concurrency, printed as a ratio of pages per
//! second. Both run against the same server in the same round, one after the other.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

/// The scenario's name in the output.
pub const PAGE: &str = "(g) listing page: one GraphQL query vs its 3 REST calls";
/// Connections loading pages at once.
pub const CLIENTS: usize = 16;

const QUERY: &str = "query($id: ID!) {
  listing(id: $id) { id serviceName priceCents currency availableUnits
    seller { id listings(first: 10) { nodes { id serviceName priceCents } } } }
  myOrders(first: 20) { nodes { id status totalCents listingId } }
}";

/// Pages per second each way, and GraphQL's over REST's.
pub struct Outcome {
    /// GraphQL pages per second.
    pub graphql: f64,
    /// REST pages (3 calls each) per second.
    pub rest: f64,
    /// Pages that failed either way.
    pub errors: u64,
}

impl Outcome {
    /// One line for the terminal.
    pub fn line(&self) -> String {
        format!(
            "{PAGE}, {CLIENTS} clients: GraphQL {:.0} pages/s, REST {:.0} pages/s, ratio {:.2}; errors {}",
            self.graphql,
            self.rest,
            self.graphql / self.rest.max(f64::MIN_POSITIVE),
            self.errors
        )
    }
}

/// Measures both ways for `window` each, after `warmup` each.
pub async fn run(
    addr: SocketAddr,
    token: &str,
    listing: &str,
    seller: &str,
    warmup: Duration,
    window: Duration,
) -> anyhow::Result<Outcome> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CLIENTS)
        .build()?;
    let page = Arc::new(Page {
        client,
        base: format!("http://{addr}"),
        token: token.to_owned(),
        listing: listing.to_owned(),
        seller: seller.to_owned(),
    });
    // Both ways must answer the same page before anything is measured.
    anyhow::ensure!(page.graphql().await?, "the GraphQL page query failed");
    anyhow::ensure!(page.rest().await?, "the REST page calls failed");
    let errors = Arc::new(AtomicU64::new(0));
    let mut rates = [0.0; 2];
    for (i, rate) in rates.iter_mut().enumerate() {
        let _ = drive(&page, i == 0, warmup, &errors).await;
        *rate = drive(&page, i == 0, window, &errors).await as f64 / window.as_secs_f64();
    }
    Ok(Outcome {
        graphql: rates[0],
        rest: rates[1],
        errors: errors.load(Ordering::Relaxed),
    })
}

struct Page {
    client: reqwest::Client,
    base: String,
    token: String,
    listing: String,
    seller: String,
}

impl Page {
    async fn graphql(&self) -> anyhow::Result<bool> {
        let r = self
            .client
            .post(format!("{}/graphql", self.base))
            .bearer_auth(&self.token)
            .json(&json!({"query": QUERY, "variables": {"id": self.listing}}))
            .send()
            .await?;
        let ok = r.status().is_success();
        let body: serde_json::Value = r.json().await?;
        Ok(ok && body["errors"].is_null() && body["data"]["listing"]["id"].is_string())
    }

    async fn rest(&self) -> anyhow::Result<bool> {
        let paths = [
            format!("/api/v1/listings/{}", self.listing),
            format!("/api/v1/listings?seller_id={}&limit=10", self.seller),
            "/api/v1/orders?limit=20".to_owned(),
        ];
        for path in paths {
            let r = self
                .client
                .get(format!("{}{path}", self.base))
                .bearer_auth(&self.token)
                .send()
                .await?;
            let ok = r.status().is_success();
            let _ = r.bytes().await?;
            if !ok {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// Pages loaded by `CLIENTS` loops within `window`.
async fn drive(page: &Arc<Page>, graphql: bool, window: Duration, errors: &Arc<AtomicU64>) -> u64 {
    let done = Arc::new(AtomicU64::new(0));
    let end = Instant::now() + window;
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (page, done, errors) = (page.clone(), done.clone(), errors.clone());
            tokio::spawn(async move {
                while Instant::now() < end {
                    let ok = if graphql {
                        page.graphql().await
                    } else {
                        page.rest().await
                    };
                    if matches!(ok, Ok(true)) {
                        done.fetch_add(1, Ordering::Relaxed);
                    } else {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        let _ = task.await;
    }
    done.load(Ordering::Relaxed)
}
