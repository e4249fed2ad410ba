//! Crash points of a purchase (instant one at a time, batched, reserved for payment):
//! for each, a process dies there under a keyed purchase, a new one starts, and the
//! retry with the same key either replays the one order or makes it once.
//!
//! Where a backend never passes a point (PostgreSQL serves instant purchases in
//! batches; SQLite has no batches), the first request simply succeeds and the retry
//! must replay it: the same assertions hold.

use reqwest::StatusCode;
use serde_json::json;
use sqlx::Row;

use super::{is_dead, post_keyed, retry_until_settled, start};
use crate::common::{Backend, TestDb, assert_invariant, assert_ledger_clean, fixtures};
use crate::common::{create_listing, listing_body};

crate::dual_backend_tests!(
    crash_after_the_key_is_claimed,
    crash_before_an_instant_purchase_commits,
    crash_after_an_instant_purchase_commits,
    crash_before_a_batch_commits,
    crash_after_a_batch_commits,
    crash_before_a_one_statement_batch,
    crash_after_a_one_statement_batch,
    crash_before_the_answer_is_stored,
    crash_after_a_reservation_commits,
    an_unconfirmed_commit_keeps_the_key,
);

/// Which backends pass a point (and so die there).
#[derive(Clone, Copy)]
enum Reached {
    Both,
    SqliteOnly,
    PostgresOnly,
}

impl Reached {
    fn on(self, backend: Backend) -> bool {
        match self {
            Self::Both => true,
            Self::SqliteOnly => backend == Backend::Sqlite,
            Self::PostgresOnly => backend == Backend::Postgres,
        }
    }
}

/// What the crash left behind for the retry.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Committed {
    /// The process died before the order committed: the retry buys it.
    No,
    /// The order committed: the retry replays it.
    Yes,
}

async fn crash_after_the_key_is_claimed(backend: Backend) {
    crash_and_retry(
        backend,
        "purchase::after_claim",
        Reached::Both,
        100,
        Committed::No,
    )
    .await;
}

async fn crash_before_an_instant_purchase_commits(backend: Backend) {
    let point = "purchase::instant_before_commit";
    crash_and_retry(backend, point, Reached::SqliteOnly, 100, Committed::No).await;
}

async fn crash_after_an_instant_purchase_commits(backend: Backend) {
    let point = "purchase::instant_after_commit";
    crash_and_retry(backend, point, Reached::SqliteOnly, 100, Committed::Yes).await;
}

/// A listing's batch written as a transaction: on PostgreSQL only after a combined
/// statement refused the listing, here because the process's remembered price is
/// stale (the listing was repriced after the warm-up purchase).
async fn crash_before_a_batch_commits(backend: Backend) {
    let point = "purchase::batch_before_commit";
    let reached = Reached::PostgresOnly;
    crash_after_warm_up(backend, point, reached, 100, Committed::No, STALE).await;
}

async fn crash_after_a_batch_commits(backend: Backend) {
    let point = "purchase::batch_after_commit";
    let reached = Reached::PostgresOnly;
    crash_after_warm_up(backend, point, reached, 100, Committed::Yes, STALE).await;
}

/// A purchase is written in one combined statement on PostgreSQL; dying just before
/// it is sent leaves nothing.
async fn crash_before_a_one_statement_batch(backend: Backend) {
    let point = "purchase::one_statement_before";
    crash_and_retry(backend, point, Reached::PostgresOnly, 100, Committed::No).await;
}

/// Dying just after that statement committed: the retry replays its order.
async fn crash_after_a_one_statement_batch(backend: Backend) {
    let point = "purchase::one_statement_after";
    crash_and_retry(backend, point, Reached::PostgresOnly, 100, Committed::Yes).await;
}

/// Defect 5 as reported: the order committed, the process died before storing the
/// answer; before the fix the retry bought a second time.
async fn crash_before_the_answer_is_stored(backend: Backend) {
    let point = "purchase::before_answer_stored";
    crash_and_retry(backend, point, Reached::Both, 100, Committed::Yes).await;
}

/// A large order: its units are reserved and committed, then the process dies before
/// the checkout exists; the retry answers with the same order and opens its checkout.
async fn crash_after_a_reservation_commits(backend: Backend) {
    let point = "purchase::reserve_after_commit";
    crash_and_retry(backend, point, Reached::Both, 5000, Committed::Yes).await;
}

async fn crash_and_retry(
    backend: Backend,
    point: &str,
    reached: Reached,
    price: i64,
    committed: Committed,
) {
    let fresh = WarmUp {
        purchases: 0,
        reprice_to: None,
    };
    crash_after_warm_up(backend, point, reached, price, committed, fresh).await;
}

/// What happens to the listing before the keyed purchase.
#[derive(Clone, Copy)]
struct WarmUp {
    /// Purchases of one unit by another buyer, through the armed process.
    purchases: i64,
    /// Then a new price, set through the same process, which keeps remembering the
    /// old one.
    reprice_to: Option<i64>,
}

/// One warm-up purchase, then a reprice: the process's facts are stale.
const STALE: WarmUp = WarmUp {
    purchases: 1,
    reprice_to: Some(120),
};

/// [`crash_and_retry`] after a warm-up, so that the process knows the listing (or
/// remembers it wrongly) when the keyed purchase comes.
async fn crash_after_warm_up(
    backend: Backend,
    point: &str,
    reached: Reached,
    price: i64,
    committed: Committed,
    warm_up: WarmUp,
) {
    let warm_ups = warm_up.purchases;
    const LISTED: i64 = 10;
    let db = TestDb::new(backend).await;
    let armed = start(&db.url, Some(point)).await;
    let seller = armed.signup("seller@example.com").await;
    let buyer = armed.signup("buyer@example.com").await;
    let listing = create_listing(&armed, &seller, &listing_body("crash", price, LISTED)).await;
    if warm_ups > 0 {
        let early = armed.signup("early@example.com").await;
        for _ in 0..warm_ups {
            let r = crate::common::order(&armed, &early, &listing, 1).await;
            assert_eq!(
                r.status,
                StatusCode::CREATED,
                "{point}: warm-up {:?}",
                r.body
            );
        }
    }
    if let Some(new_price) = warm_up.reprice_to {
        let path = format!("/api/v1/listings/{listing}");
        let r = armed
            .patch(&path, &json!({"price_cents": new_price}), Some(&seller))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{point}: reprice {:?}", r.body);
    }
    let price = warm_up.reprice_to.unwrap_or(price);
    let body = json!({"listing_id": listing, "units": 2});
    let path = "/api/v1/orders";

    let first = post_keyed(&armed, path, &buyer, "crash-key", &body).await;
    let dies = reached.on(backend);
    if dies {
        assert!(first.is_none(), "{point}: the process answered {first:?}");
        assert!(is_dead(&armed).await, "{point}: the process still runs");
    } else {
        let first = first
            .as_ref()
            .expect("an answer where the point is not reached");
        assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.body);
    }
    drop(armed);

    let server = start(&db.url, None).await;
    let retry = retry_until_settled(&server, path, &buyer, "crash-key", &body).await;
    assert_eq!(
        retry.status,
        StatusCode::CREATED,
        "{point}: {:?}",
        retry.body
    );
    let replayed = retry.header("idempotent-replayed") == Some("true");
    assert_eq!(
        replayed,
        !dies || committed == Committed::Yes,
        "{point}: the retry replays exactly when the order had committed"
    );
    if let Some(first) = &first {
        assert_eq!(first.body["order"]["id"], retry.body["order"]["id"]);
    }
    let order_id = retry.body["order"]["id"]
        .as_str()
        .expect("order id")
        .to_owned();
    if price > 500 {
        assert_eq!(retry.body["payment_requires_confirmation"], true);
        assert!(
            retry.body["checkout_url"].as_str().is_some(),
            "{point}: the retry can still pay: {:?}",
            retry.body
        );
    } else {
        assert_eq!(retry.body["order"]["status"], "fulfilled");
    }

    // Again: the stored answer, the same order.
    let again = post_keyed(&server, path, &buyer, "crash-key", &body)
        .await
        .expect("answer");
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.body["order"]["id"], retry.body["order"]["id"]);

    let pool = fixtures::connect(&db.url).await;
    let orders: Vec<String> = sqlx::query(
        "SELECT o.id FROM orders o JOIN users u ON u.id = o.buyer_id \
         WHERE o.listing_id = $1 AND u.email = $2",
    )
    .bind(listing.as_str())
    .bind("buyer@example.com")
    .fetch_all(pool.writes())
    .await
    .expect("orders")
    .iter()
    .map(|r| r.try_get("id").expect("id"))
    .collect();
    assert_eq!(orders, vec![order_id], "{point}: one order per key");
    let (left, held) = assert_invariant(&pool, &listing, LISTED).await;
    let (left_wanted, held_wanted) = (LISTED - 2 - warm_ups, 2 + warm_ups);
    assert_eq!((left, held), (left_wanted, held_wanted), "{point}");
    let owed = server.get("/api/v1/balance", Some(&buyer)).await.body["items"].clone();
    let expected = if price > 500 {
        json!([])
    } else {
        json!([{"currency": "usd", "owed_cents": 2 * price}])
    };
    assert_eq!(owed, expected, "{point}: owed once");
    assert_ledger_clean(&pool).await;
    pool.close().await;
}

/// Defect 5, second half: a commit that succeeded but went unconfirmed (PostgreSQL:
/// the batch's commit; SQLite: the one-at-a-time commit) answers 5xx and keeps the key
/// claimed; before the fix the key was released and the retry bought a second time.
/// The retry is "in progress" until the claim's lease ends, then replays the order.
async fn an_unconfirmed_commit_keeps_the_key(backend: Backend) {
    let point = match backend {
        Backend::Postgres => "purchase::batch_commit_unconfirmed",
        Backend::Sqlite => "purchase::instant_commit_unconfirmed",
    };
    let db = TestDb::new(backend).await;
    let server = start(&db.url, Some(point)).await;
    let seller = server.signup("seller@example.com").await;
    let buyer = server.signup("buyer@example.com").await;
    let listing = create_listing(&server, &seller, &listing_body("lost", 100, 10)).await;
    let body = json!({"listing_id": listing, "units": 1});
    let path = "/api/v1/orders";
    let first = post_keyed(&server, path, &buyer, "lost-key", &body)
        .await
        .expect("an answer");
    assert!(first.status.is_server_error(), "{:?}", first.body);
    if backend == Backend::Postgres {
        assert_eq!(first.error_code(), "outcome_unknown");
    }
    let at_once = post_keyed(&server, path, &buyer, "lost-key", &body)
        .await
        .expect("an answer");
    assert_eq!(
        at_once.error_code(),
        "idempotency_in_progress",
        "the key was not released: {:?}",
        at_once.body
    );
    drop(server);
    // The retry goes to a process without the fail point (one that has it would
    // answer a new purchase the same way; this one must not buy at all).
    let healthy = start(&db.url, None).await;
    let retry = retry_until_settled(&healthy, path, &buyer, "lost-key", &body).await;
    assert_eq!(retry.status, StatusCode::CREATED, "{:?}", retry.body);
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    let pool = fixtures::connect(&db.url).await;
    let orders: i64 = sqlx::query("SELECT COUNT(*) AS n FROM orders WHERE listing_id = $1")
        .bind(listing.as_str())
        .fetch_one(pool.writes())
        .await
        .expect("count")
        .try_get("n")
        .expect("n");
    assert_eq!(orders, 1, "bought once");
    assert_eq!(assert_invariant(&pool, &listing, 10).await, (9, 1));
    assert_ledger_clean(&pool).await;
    pool.close().await;
}
