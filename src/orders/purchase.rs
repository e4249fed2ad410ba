//! Buying: units are taken from the listing by one conditional statement, so two
//! buyers racing for the last unit can never both win, however many server
//! processes share the database. No row is locked across round trips to the
//! application: the statement that takes the units holds the listing row only
//! until its transaction commits.
//!
//! Small orders are fulfilled at once and recorded as owed (the buyer's balance,
//! itself bounded by a conditional upsert). Every other order reserves its units
//! and goes to the payment provider.
//!
//! On PostgreSQL, small orders first try the `batch` combiner, which serves
//! concurrent purchases, of one listing or of many, with one commit; whatever it
//! cannot serve whole comes back here and runs one at a time. On SQLite, instant purchases share
//! the one writer's transactions (`sqlite`).
//!
//! A purchase one at a time prices its order from the listing's facts the process
//! remembers (`facts`) and reads the listing only when it knows nothing of it or
//! when its take refused: the take checks the price and the status, the only facts
//! that change.
//!
//! Money: an instant order posts its `instant_sale` journal transaction in the same
//! database transaction as the order (docs/LEDGER.md), on both paths. An order placed
//! under an Idempotency-Key carries the key, unique per buyer, so a key can never buy
//! twice: a second insert under it fails, and the purchase answers with the order the
//! key already made ([`Purchase::replayed`]).

/// The charge of an instant order: adds its total to what the buyer owes in its
/// currency, unless that passes the unpaid cap, and returns `$returning` when it
/// did (the arguments are the placeholders of the buyer, the currency, the total
/// and the cap). [`CHARGE_SQL`], and the head of SQLite's chain of statements.
macro_rules! charge_sql {
    ($buyer:literal, $currency:literal, $total:literal, $cap:literal, $returning:literal) => {
        concat!(
            "INSERT INTO balances (user_id, currency, owed_cents) VALUES (",
            $buyer,
            ", ",
            $currency,
            ", ",
            $total,
            ") ON CONFLICT (user_id, currency) DO UPDATE \
             SET owed_cents = balances.owed_cents + excluded.owed_cents \
             WHERE balances.owed_cents + excluded.owed_cents <= ",
            $cap,
            " RETURNING ",
            $returning
        )
    };
}

pub mod batch;
mod facts;
mod sqlite;

pub use facts::{Facts, FactsCache};

use sqlx::Row;

use super::model::Order;
use crate::clock::now_ms;
use crate::db::{Backend, Db, Tx};
use crate::error::{ApiError, ErrorCode};
use crate::ids::new_id;
use crate::ledger::{self, FeeRate, JournalTransaction};
use crate::listings::model::Listing;
use crate::state::AppState;
use crate::telemetry::labels::{ListingRead, OrderOutcome};
use crate::vocab::{GrantStatus, ListingStatus, OrderStatus, PaymentStatus, ProviderName};

/// The result of a purchase.
#[derive(Debug)]
pub struct Purchase {
    /// The order as stored.
    pub order: Order,
    /// True when the buyer must still pay through `checkout_url`.
    pub requires_payment: bool,
    /// True when the Idempotency-Key had made this order before (nothing was bought now).
    pub replayed: bool,
}

impl Purchase {
    /// A purchase answered with an order that exists already.
    pub fn existing(order: Order) -> Self {
        Self {
            requires_payment: order.status == OrderStatus::PendingPayment,
            order,
            replayed: true,
        }
    }
}

/// How a conditional take of units ended.
enum Take {
    Taken,
    /// The listing did not qualify; re-read it to say why.
    Refused,
    /// The buyer's Idempotency-Key already names an order (a concurrent or earlier
    /// request under the same key committed first); nothing was changed.
    Duplicate,
}

/// A buyer's purchase request.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// Who buys.
    pub buyer_id: &'a str,
    /// What.
    pub listing_id: &'a str,
    /// How many units.
    pub units: i64,
    /// The request's Idempotency-Key, stored on the order (unique per buyer).
    pub idempotency_key: Option<&'a str>,
}

/// Outcome labels for the `udam_orders_total` metric.
fn count(outcome: OrderOutcome) {
    metrics::counter!("udam_orders_total", "outcome" => outcome.as_str()).increment(1);
}

/// Buys `units` of a listing for `buyer_id`.
pub async fn purchase(state: &AppState, req: Request<'_>) -> Result<Purchase, ApiError> {
    let config = &state.config;
    let Request {
        buyer_id,
        listing_id,
        units,
        idempotency_key,
    } = req;
    if units < 1 || units > config.max_units_per_order {
        return Err(ApiError::validation(
            "units",
            format!("must be 1 to {}", config.max_units_per_order),
        ));
    }
    // Before any batch: an id PostgreSQL would refuse (a NUL byte) must not fail the
    // statement other buyers' purchases share.
    if !crate::ids::is_well_formed(listing_id) {
        return Err(ApiError::not_found("listing"));
    }
    if let Some((pg, combiner)) = state.purchases() {
        let limits = batch::Limits {
            instant_max_cents: config.instant_limit_cents.min(config.unpaid_cap_cents),
            unpaid_cap_cents: config.unpaid_cap_cents,
            fee: config.platform_fee_bps,
        };
        match batch::buy(combiner, pg, limits, req).await {
            batch::Batched::Placed(order) => {
                count(OrderOutcome::Fulfilled);
                return Ok(Purchase {
                    order: *order,
                    requires_payment: false,
                    replayed: false,
                });
            }
            batch::Batched::Fallback => {}
            batch::Batched::Failed => {
                // The commit's outcome is unknown: the caller must not treat this as
                // a failure a retry may repeat (the key stays claimed; a retry finds
                // the order by its key if it committed).
                return Err(ApiError::new(
                    axum::http::StatusCode::SERVICE_UNAVAILABLE,
                    ErrorCode::OutcomeUnknown,
                    "the database did not confirm the purchase; retry with the same \
                     Idempotency-Key to learn its outcome",
                ));
            }
        }
    }
    // The listing's facts come from the last read or sale of it in this process when
    // remembered, else from the database. Either way they are a guess the take
    // checks: a price changed (or a listing paused) since makes it take nothing, and
    // the listing is read afresh to say why, or to try again at the new price.
    let cache = state.listing_facts();
    let mut known = cache.get(listing_id);
    for _ in 0..3 {
        let facts = match known.take() {
            Some(facts) => facts,
            None => {
                let listing = read_listing(state, listing_id, ListingRead::Unknown).await?;
                // Refused before anything is written: the seller is fixed, and a
                // listing not active is not remembered.
                refuse_own_or_inactive(&listing, buyer_id)?;
                let facts = Facts::of(&listing);
                cache.remember(listing_id, &facts);
                facts
            }
        };
        if facts.seller_id == buyer_id {
            // Remembered facts: the seller never changes, so this needs no read.
            return Err(own_listing());
        }
        let total = units
            .checked_mul(facts.price_cents)
            .ok_or_else(|| ApiError::validation("units", "units × price is too large to charge"))?;
        let instant = total <= config.instant_limit_cents && total <= config.unpaid_cap_cents;
        let order = OrderDraft {
            buyer_id,
            listing_id,
            facts: &facts,
            units,
            total,
            idempotency_key,
        };
        let attempt = if instant {
            try_instant(state, &order).await?
        } else {
            None
        };
        let result = match attempt {
            Some(result) => result,
            // Not instant, or the buyer's unpaid balance is at its cap: reserve and pay.
            None => reserve(state, &order).await?,
        };
        match result {
            (Take::Taken, Some(order)) => {
                let requires_payment = order.status == OrderStatus::PendingPayment;
                count(if requires_payment {
                    OrderOutcome::PendingPayment
                } else {
                    OrderOutcome::Fulfilled
                });
                return Ok(Purchase {
                    order,
                    requires_payment,
                    replayed: false,
                });
            }
            (Take::Duplicate, _) => {
                if let Some(key) = idempotency_key
                    && let Some(existing) = existing_order(&state.db, buyer_id, key).await?
                {
                    count(OrderOutcome::Replayed);
                    return Ok(Purchase::existing(existing));
                }
                // The key's order is older than a key lives: it was freed; buy anew.
                known = Some(facts);
            }
            _ => {
                cache.forget(listing_id);
                let now = read_listing(state, listing_id, ListingRead::Refused).await?;
                if now.status != ListingStatus::Active {
                    return Err(listing_unavailable());
                }
                let fresh = Facts::of(&now);
                if fresh.price_cents == facts.price_cents && now.available_units < units {
                    // Not remembered: on PostgreSQL the next purchase of a listing run
                    // short goes its own way, never into a combined batch it would refuse.
                    count(OrderOutcome::InsufficientUnits);
                    return Err(ApiError::conflict(
                        ErrorCode::InsufficientUnits,
                        format!("only {} unit(s) left", now.available_units),
                    ));
                }
                cache.remember(listing_id, &fresh);
                // The price changed (or units came back) meanwhile: try again at `now`.
                known = Some(fresh);
            }
        }
    }
    count(OrderOutcome::Contended);
    Err(ApiError::conflict(
        ErrorCode::ListingChanged,
        "the listing kept changing while buying; try again",
    ))
}

/// The listing from the database (the purchase path never reads the browse cache),
/// counted by `why` it was read.
async fn read_listing(
    state: &AppState,
    listing_id: &str,
    why: ListingRead,
) -> Result<Listing, ApiError> {
    metrics::counter!("udam_purchase_listing_reads_total", "why" => why.as_str()).increment(1);
    crate::listings::store::get(&state.db, listing_id)
        .await?
        .ok_or_else(|| ApiError::not_found("listing"))
}

/// Refuses a purchase of the buyer's own listing, or of one not active, as read.
fn refuse_own_or_inactive(listing: &Listing, buyer_id: &str) -> Result<(), ApiError> {
    if listing.seller_id == buyer_id {
        return Err(own_listing());
    }
    if listing.status != ListingStatus::Active {
        return Err(listing_unavailable());
    }
    Ok(())
}

/// 409 `own_listing`, counted.
fn own_listing() -> ApiError {
    count(OrderOutcome::OwnListing);
    ApiError::conflict(ErrorCode::OwnListing, "you cannot buy your own listing")
}

/// 409 `listing_unavailable`, counted.
fn listing_unavailable() -> ApiError {
    count(OrderOutcome::ListingUnavailable);
    ApiError::conflict(
        ErrorCode::ListingUnavailable,
        "this listing is paused or archived and cannot be bought",
    )
}

/// The order `buyer_id` placed under `key` within the key's lifetime. An older order
/// still carrying the key has its key cleared, so the key can buy again (Stripe's
/// rule: a key is remembered for 24 hours).
pub async fn existing_order(
    db: &Db,
    buyer_id: &str,
    key: &str,
) -> Result<Option<Order>, sqlx::Error> {
    let Some(order) = super::store::by_idempotency_key(db, buyer_id, key).await? else {
        return Ok(None);
    };
    if order.created_at >= now_ms() - super::idempotency::KEY_LIFETIME_MS {
        return Ok(Some(order));
    }
    sqlx::query(
        "UPDATE orders SET idempotency_key = NULL \
         WHERE buyer_id = $1 AND idempotency_key = $2 AND id = $3",
    )
    .bind(buyer_id)
    .bind(key)
    .bind(&order.id)
    .execute(db.writes())
    .await?;
    Ok(None)
}

/// What a purchase is about to place, at the listing's facts as known.
struct OrderDraft<'a> {
    buyer_id: &'a str,
    listing_id: &'a str,
    facts: &'a Facts,
    units: i64,
    total: i64,
    idempotency_key: Option<&'a str>,
}

type Attempt = (Take, Option<Order>);

/// Instant issuance: balance, units, order, grant and the sale's journal
/// transaction in one database transaction. `None` when the buyer's unpaid balance
/// would pass the cap. On SQLite it shares the writer's transaction with the
/// purchases queued beside it (`sqlite`).
async fn try_instant(
    state: &AppState,
    draft: &OrderDraft<'_>,
) -> Result<Option<Attempt>, ApiError> {
    if state.db.backend() == Backend::Sqlite {
        return sqlite::try_instant(state, draft).await;
    }
    try_instant_alone(state, draft).await
}

/// [`try_instant`] in a transaction of its own.
async fn try_instant_alone(
    state: &AppState,
    draft: &OrderDraft<'_>,
) -> Result<Option<Attempt>, ApiError> {
    let mut tx = state.db.begin_purchase().await?;
    // The balance row is the buyer's own, so this is uncontended; it goes first so
    // that the contended listing row is locked for as short a time as possible.
    let owed = sqlx::query(CHARGE_SQL)
        .bind(draft.buyer_id)
        .bind(&draft.facts.currency)
        .bind(draft.total)
        .bind(state.config.unpaid_cap_cents)
        .fetch_optional(&mut *tx)
        .await?;
    if owed.is_none() {
        tx.rollback().await?;
        return Ok(None);
    }
    let order = NewOrder::instant(draft);
    let taken = take_and_insert(state.db.backend(), &mut tx, &order).await?;
    if matches!(taken, Take::Taken) {
        // After the take, as in a batch: every purchase locks balances, then the
        // listing, then any ledger account it creates, so none waits in a cycle.
        post_instant_sale(&mut tx, &order, state.config.platform_fee_bps).await?;
        crate::crash_point!("purchase::instant_before_commit");
    }
    let done = finish(tx, taken, &order).await?;
    if matches!(done.0, Take::Taken) {
        crate::crash_point!("purchase::instant_after_commit");
        // Tests: a commit that succeeded but whose answer was lost (`FAILPOINTS=
        // purchase::instant_commit_unconfirmed=return`).
        #[cfg(feature = "failpoints")]
        ::fail::fail_point!("purchase::instant_commit_unconfirmed", |_| Err(
            ApiError::internal(anyhow::anyhow!("the commit went unconfirmed"))
        ));
    }
    Ok(Some(done))
}

/// Adds an instant order's total ($3) to what the buyer ($1) owes in its currency
/// ($2), unless that passes the unpaid cap ($4): no row comes back then.
const CHARGE_SQL: &str = charge_sql!("$1", "$2", "$3", "$4", "owed_cents");

/// Posts the `instant_sale` of `order` (the buyer owes the total; the seller's share
/// is pending; the platform takes its fee) inside the order's transaction.
async fn post_instant_sale(
    tx: &mut Tx,
    order: &NewOrder<'_>,
    fee: FeeRate,
) -> Result<(), ApiError> {
    let txn = instant_sale_of(order, fee)?;
    ledger::post(tx, &txn).await.map_err(ledger_error)?;
    Ok(())
}

/// The `instant_sale` journal transaction of `order`.
fn instant_sale_of(order: &NewOrder<'_>, fee: FeeRate) -> Result<JournalTransaction, ApiError> {
    let sale = ledger::Sale {
        order_id: &order.id,
        buyer_id: order.draft.buyer_id,
        seller_id: &order.draft.facts.seller_id,
        currency: &order.draft.facts.currency,
        total_cents: order.draft.total,
    };
    ledger::instant_sale(&sale, fee).map_err(ApiError::internal)
}

/// A ledger refusal inside a purchase: a database failure stays one (so timeouts
/// answer 503), anything else is a bug, answered 500.
fn ledger_error(err: ledger::LedgerError) -> ApiError {
    match err {
        ledger::LedgerError::Database(err) => err.into(),
        other => ApiError::internal(other),
    }
}

/// Reserves units for an order that must be paid first.
async fn reserve(state: &AppState, draft: &OrderDraft<'_>) -> Result<Attempt, ApiError> {
    let ttl = i64::try_from(state.config.reservation_ttl.0.as_millis()).unwrap_or(i64::MAX);
    let mut tx = state.db.begin_purchase().await?;
    let now = now_ms();
    let order = NewOrder {
        id: new_id("ord"),
        draft,
        status: OrderStatus::PendingPayment,
        payment_status: PaymentStatus::Unpaid,
        provider: Some(state.payments.name()),
        // Whole seconds, so the provider's session (which counts in seconds) can
        // expire exactly when the reservation does.
        expires_at: Some(crate::clock::ceil_to_second(now.saturating_add(ttl))),
        grant_id: None,
        now,
    };
    let taken = take_and_insert(state.db.backend(), &mut tx, &order).await?;
    let done = finish(tx, taken, &order).await?;
    if matches!(done.0, Take::Taken) {
        crate::crash_point!("purchase::reserve_after_commit");
    }
    Ok(done)
}

/// Commits a take (the order is then exactly as built, so nothing is read back after
/// the commit, a read that could fail once the purchase is done), or rolls back.
async fn finish(tx: Tx, taken: Take, order: &NewOrder<'_>) -> Result<Attempt, ApiError> {
    match taken {
        Take::Taken => {
            tx.commit().await?;
            Ok((Take::Taken, Some(order.stored())))
        }
        refused => {
            tx.rollback().await?;
            Ok((refused, None))
        }
    }
}

struct NewOrder<'a> {
    id: String,
    draft: &'a OrderDraft<'a>,
    status: OrderStatus,
    payment_status: PaymentStatus,
    provider: Option<ProviderName>,
    expires_at: Option<i64>,
    /// Set when the order is fulfilled at once.
    grant_id: Option<String>,
    /// Its `created_at` and `updated_at`.
    now: i64,
}

impl<'a> NewOrder<'a> {
    /// An instant order: fulfilled at once, its debt deferred, with its grant, as of now.
    fn instant(draft: &'a OrderDraft<'a>) -> Self {
        NewOrder {
            id: new_id("ord"),
            draft,
            status: OrderStatus::Fulfilled,
            payment_status: PaymentStatus::Deferred,
            provider: None,
            expires_at: None,
            grant_id: Some(new_id("tok")),
            now: now_ms(),
        }
    }

    /// The order exactly as [`take_and_insert`] stores it.
    fn stored(&self) -> Order {
        let facts = self.draft.facts;
        Order {
            id: self.id.clone(),
            buyer_id: self.draft.buyer_id.to_owned(),
            listing_id: self.draft.listing_id.to_owned(),
            seller_id: facts.seller_id.clone(),
            service_name: facts.service_name.clone(),
            units: self.draft.units,
            unit_price_cents: facts.price_cents,
            total_cents: self.draft.total,
            currency: facts.currency.clone(),
            status: self.status,
            payment_status: self.payment_status,
            holds_units: true,
            provider: self.provider,
            provider_session_id: None,
            checkout_url: None,
            payment_intent_id: None,
            settlement_id: None,
            expires_at: self.expires_at,
            created_at: self.now,
            updated_at: self.now,
        }
    }
}

/// Takes the units (conditionally) and inserts the order, plus its grant when
/// fulfilled at once. On PostgreSQL this is one statement, one round trip. An
/// Idempotency-Key that already names an order of the buyer makes the insert fail on
/// the unique index: [`Take::Duplicate`], and the caller rolls back.
async fn take_and_insert(
    backend: Backend,
    tx: &mut Tx,
    o: &NewOrder<'_>,
) -> Result<Take, sqlx::Error> {
    let result = match backend {
        Backend::Postgres => take_and_insert_pg(tx, o).await,
        Backend::Sqlite => sqlite::take_and_insert(tx, o).await,
    };
    match result {
        Err(err) if o.draft.idempotency_key.is_some() && crate::db::is_unique_violation(&err) => {
            Ok(Take::Duplicate)
        }
        other => other,
    }
}

async fn take_and_insert_pg(tx: &mut Tx, o: &NewOrder<'_>) -> Result<Take, sqlx::Error> {
    let (draft, now) = (o.draft, o.now);
    let row = sqlx::query(
        "WITH taken AS ( \
           UPDATE listings SET available_units = available_units - $3 \
           WHERE id = $2 AND status = $13 AND available_units >= $3 AND price_cents = $4 \
           RETURNING id, seller_id, service_name, currency \
         ), placed AS ( \
           INSERT INTO orders (id, buyer_id, listing_id, seller_id, service_name, units, \
             unit_price_cents, total_cents, currency, status, payment_status, holds_units, \
             provider, expires_at, created_at, updated_at, idempotency_key) \
           SELECT $1, $5, t.id, t.seller_id, t.service_name, $3, $4, $6, t.currency, $7, $8, 1, \
             $9, $11, $10, $10, $15 FROM taken t \
           RETURNING id, listing_id, seller_id \
         ), granted AS ( \
           INSERT INTO grants (id, order_id, buyer_id, listing_id, seller_id, units, status, created_at) \
           SELECT $12, p.id, $5, p.listing_id, p.seller_id, $3, $14, $10 \
           FROM placed p WHERE $12 <> '' \
         ) \
         SELECT COUNT(*) AS placed FROM placed",
    )
    .bind(&o.id)
    .bind(draft.listing_id)
    .bind(draft.units)
    .bind(draft.facts.price_cents)
    .bind(o.draft.buyer_id)
    .bind(o.draft.total)
    .bind(o.status)
    .bind(o.payment_status)
    .bind(o.provider)
    .bind(now)
    .bind(o.expires_at)
    .bind(o.grant_id.as_deref().unwrap_or(""))
    .bind(ListingStatus::Active)
    .bind(GrantStatus::Active)
    .bind(o.draft.idempotency_key)
    .fetch_one(&mut **tx)
    .await?;
    let placed: i64 = row.try_get("placed")?;
    Ok(if placed == 1 {
        Take::Taken
    } else {
        Take::Refused
    })
}
