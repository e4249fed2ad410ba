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
//! concurrent purchases of one listing with one commit; whatever it cannot serve
//! whole comes back here and runs one at a time.

pub mod batch;

use sqlx::Row;

use super::model::Order;
use crate::clock::now_ms;
use crate::db::{Backend, Db, Tx};
use crate::error::{ApiError, ErrorCode};
use crate::ids::new_id;
use crate::state::AppState;
use crate::vocab::{GrantStatus, ListingStatus, OrderStatus, PaymentStatus, ProviderName};

/// The result of a purchase.
#[derive(Debug)]
pub struct Purchase {
    /// The order as stored.
    pub order: Order,
    /// True when the buyer must still pay through `checkout_url`.
    pub requires_payment: bool,
}

/// How a conditional take of units ended.
enum Take {
    Taken,
    /// The listing did not qualify; re-read it to say why.
    Refused,
}

/// Outcome labels for the `udam_orders_total` metric.
fn count(outcome: &'static str) {
    metrics::counter!("udam_orders_total", "outcome" => outcome).increment(1);
}

/// Buys `units` of a listing for `buyer_id`.
pub async fn purchase(
    state: &AppState,
    buyer_id: &str,
    listing_id: &str,
    units: i64,
) -> Result<Purchase, ApiError> {
    let config = &state.config;
    if units < 1 || units > config.max_units_per_order {
        return Err(ApiError::validation(
            "units",
            format!("must be 1 to {}", config.max_units_per_order),
        ));
    }
    if let Some((pg, combiner)) = state.db.purchases() {
        let limits = batch::Limits {
            instant_max_cents: config.instant_limit_cents.min(config.unpaid_cap_cents),
            unpaid_cap_cents: config.unpaid_cap_cents,
        };
        match batch::buy(combiner, pg, limits, buyer_id, listing_id, units).await {
            batch::Batched::Placed(order) => {
                count(OrderStatus::Fulfilled.as_str());
                return Ok(Purchase {
                    order: *order,
                    requires_payment: false,
                });
            }
            batch::Batched::Fallback => {}
            batch::Batched::Failed => {
                return Err(ApiError::internal(anyhow::anyhow!(
                    "the database failed while committing a purchase"
                )));
            }
        }
    }
    // A price change between this read and the conditional take makes the take
    // refuse (it checks the price it was computed with); then we start over.
    for _ in 0..3 {
        // The purchase path reads the database, never the browse cache.
        let listing = crate::listings::store::get(&state.db, listing_id)
            .await?
            .ok_or_else(|| ApiError::not_found("listing"))?;
        if listing.status != ListingStatus::Active {
            count(ErrorCode::ListingUnavailable.as_str());
            return Err(ApiError::conflict(
                ErrorCode::ListingUnavailable,
                "this listing is paused or archived and cannot be bought",
            ));
        }
        let total = units
            .checked_mul(listing.price_cents)
            .ok_or_else(|| ApiError::validation("units", "units × price is too large to charge"))?;
        let instant = total <= config.instant_limit_cents && total <= config.unpaid_cap_cents;
        let attempt = if instant {
            try_instant(state, buyer_id, &listing, units, total).await?
        } else {
            None
        };
        let result = match attempt {
            Some(result) => result,
            // Not instant, or the buyer's unpaid balance is at its cap: reserve and pay.
            None => reserve(state, buyer_id, &listing, units, total).await?,
        };
        match result {
            (Take::Taken, Some(order)) => {
                let requires_payment = order.status == OrderStatus::PendingPayment;
                count(order.status.as_str());
                return Ok(Purchase {
                    order,
                    requires_payment,
                });
            }
            _ => {
                let now = crate::listings::store::get(&state.db, listing_id)
                    .await?
                    .ok_or_else(|| ApiError::not_found("listing"))?;
                if now.status != ListingStatus::Active {
                    count(ErrorCode::ListingUnavailable.as_str());
                    return Err(ApiError::conflict(
                        ErrorCode::ListingUnavailable,
                        "this listing is paused or archived and cannot be bought",
                    ));
                }
                if now.price_cents == listing.price_cents && now.available_units < units {
                    count(ErrorCode::InsufficientUnits.as_str());
                    return Err(ApiError::conflict(
                        ErrorCode::InsufficientUnits,
                        format!("only {} unit(s) left", now.available_units),
                    ));
                }
                // The price changed (or units came back) meanwhile: try again.
            }
        }
    }
    count("contended");
    Err(ApiError::conflict(
        ErrorCode::ListingChanged,
        "the listing kept changing while buying; try again",
    ))
}

type Attempt = (Take, Option<Order>);

/// Instant issuance: balance, units, order and grant in one transaction.
/// `None` when the buyer's unpaid balance would pass the cap.
async fn try_instant(
    state: &AppState,
    buyer_id: &str,
    listing: &crate::listings::model::Listing,
    units: i64,
    total: i64,
) -> Result<Option<Attempt>, ApiError> {
    let mut tx = state.db.begin_write().await?;
    // The balance row is the buyer's own, so this is uncontended; it goes first so
    // that the contended listing row is locked for as short a time as possible.
    let owed = sqlx::query(
        "INSERT INTO balances (user_id, currency, owed_cents) VALUES ($1, $2, $3) \
         ON CONFLICT (user_id, currency) DO UPDATE \
         SET owed_cents = balances.owed_cents + excluded.owed_cents \
         WHERE balances.owed_cents + excluded.owed_cents <= $4 \
         RETURNING owed_cents",
    )
    .bind(buyer_id)
    .bind(&listing.currency)
    .bind(total)
    .bind(state.config.unpaid_cap_cents)
    .fetch_optional(&mut *tx)
    .await?;
    if owed.is_none() {
        tx.rollback().await?;
        return Ok(None);
    }
    let order = NewOrder {
        id: new_id("ord"),
        buyer_id,
        listing,
        units,
        total,
        status: OrderStatus::Fulfilled,
        payment_status: PaymentStatus::Deferred,
        provider: None,
        expires_at: None,
        grant_id: Some(new_id("tok")),
    };
    let taken = take_and_insert(state.db.backend(), &mut tx, &order).await?;
    finish(&state.db, tx, taken, &order.id).await.map(Some)
}

/// Reserves units for an order that must be paid first.
async fn reserve(
    state: &AppState,
    buyer_id: &str,
    listing: &crate::listings::model::Listing,
    units: i64,
    total: i64,
) -> Result<Attempt, ApiError> {
    let ttl = i64::try_from(state.config.reservation_ttl.0.as_millis()).unwrap_or(i64::MAX);
    let mut tx = state.db.begin_write().await?;
    let order = NewOrder {
        id: new_id("ord"),
        buyer_id,
        listing,
        units,
        total,
        status: OrderStatus::PendingPayment,
        payment_status: PaymentStatus::Unpaid,
        provider: Some(state.payments.name()),
        // Whole seconds, so the provider's session (which counts in seconds) can
        // expire exactly when the reservation does.
        expires_at: Some(crate::clock::ceil_to_second(now_ms().saturating_add(ttl))),
        grant_id: None,
    };
    let taken = take_and_insert(state.db.backend(), &mut tx, &order).await?;
    finish(&state.db, tx, taken, &order.id).await
}

async fn finish(db: &Db, tx: Tx, taken: Take, order_id: &str) -> Result<Attempt, ApiError> {
    match taken {
        Take::Taken => {
            tx.commit().await?;
            Ok((Take::Taken, super::store::get(db, order_id).await?))
        }
        Take::Refused => {
            tx.rollback().await?;
            Ok((Take::Refused, None))
        }
    }
}

struct NewOrder<'a> {
    id: String,
    buyer_id: &'a str,
    listing: &'a crate::listings::model::Listing,
    units: i64,
    total: i64,
    status: OrderStatus,
    payment_status: PaymentStatus,
    provider: Option<ProviderName>,
    expires_at: Option<i64>,
    /// Set when the order is fulfilled at once.
    grant_id: Option<String>,
}

/// Takes the units (conditionally) and inserts the order, plus its grant when
/// fulfilled at once. On PostgreSQL this is one statement, one round trip.
async fn take_and_insert(
    backend: Backend,
    tx: &mut Tx,
    o: &NewOrder<'_>,
) -> Result<Take, sqlx::Error> {
    let now = now_ms();
    if backend == Backend::Postgres {
        let row = sqlx::query(
            "WITH taken AS ( \
               UPDATE listings SET available_units = available_units - $3, \
                 updated_at = CASE WHEN updated_at >= $10 THEN updated_at + 1 ELSE $10 END \
               WHERE id = $2 AND status = $13 AND available_units >= $3 AND price_cents = $4 \
               RETURNING id, seller_id, service_name, currency \
             ), placed AS ( \
               INSERT INTO orders (id, buyer_id, listing_id, seller_id, service_name, units, \
                 unit_price_cents, total_cents, currency, status, payment_status, holds_units, \
                 provider, expires_at, created_at, updated_at) \
               SELECT $1, $5, t.id, t.seller_id, t.service_name, $3, $4, $6, t.currency, $7, $8, 1, \
                 $9, $11, $10, $10 FROM taken t \
               RETURNING id, listing_id, seller_id \
             ), granted AS ( \
               INSERT INTO grants (id, order_id, buyer_id, listing_id, seller_id, units, status, created_at) \
               SELECT $12, p.id, $5, p.listing_id, p.seller_id, $3, $14, $10 \
               FROM placed p WHERE $12 <> '' \
             ) \
             SELECT COUNT(*) FROM placed",
        )
        .bind(&o.id)
        .bind(&o.listing.id)
        .bind(o.units)
        .bind(o.listing.price_cents)
        .bind(o.buyer_id)
        .bind(o.total)
        .bind(o.status)
        .bind(o.payment_status)
        .bind(o.provider)
        .bind(now)
        .bind(o.expires_at)
        .bind(o.grant_id.as_deref().unwrap_or(""))
        .bind(ListingStatus::Active)
        .bind(GrantStatus::Active)
        .fetch_one(&mut **tx)
        .await?;
        let placed: i64 = row.try_get(0)?;
        return Ok(if placed == 1 {
            Take::Taken
        } else {
            Take::Refused
        });
    }
    let taken = sqlx::query(
        "UPDATE listings SET available_units = available_units - $2, \
           updated_at = CASE WHEN updated_at >= $4 THEN updated_at + 1 ELSE $4 END \
         WHERE id = $1 AND status = $5 AND available_units >= $2 AND price_cents = $3",
    )
    .bind(&o.listing.id)
    .bind(o.units)
    .bind(o.listing.price_cents)
    .bind(now)
    .bind(ListingStatus::Active)
    .execute(&mut **tx)
    .await?;
    if taken.rows_affected() != 1 {
        return Ok(Take::Refused);
    }
    sqlx::query(
        "INSERT INTO orders (id, buyer_id, listing_id, seller_id, service_name, units, \
           unit_price_cents, total_cents, currency, status, payment_status, holds_units, \
           provider, expires_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 1, $12, $13, $14, $14)",
    )
    .bind(&o.id)
    .bind(o.buyer_id)
    .bind(&o.listing.id)
    .bind(&o.listing.seller_id)
    .bind(&o.listing.service_name)
    .bind(o.units)
    .bind(o.listing.price_cents)
    .bind(o.total)
    .bind(&o.listing.currency)
    .bind(o.status)
    .bind(o.payment_status)
    .bind(o.provider)
    .bind(o.expires_at)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    if let Some(grant_id) = &o.grant_id {
        super::lifecycle::insert_grant(tx, grant_id, &o.id).await?;
    }
    Ok(Take::Taken)
}
