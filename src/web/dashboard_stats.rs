//! The dashboard's read-only aggregations over `orders`: revenue per day, units sold
//! per listing and top buyers for a seller, spending per day for a buyer.
//!
//! One SQL text serves both backends: times are unix milliseconds, so a UTC day is
//! `created_at / 86400000` (integer division on both). Every query is bounded: it
//! reads one party's orders inside a time window through the `orders_seller` /
//! `orders_buyer` indexes (`(party, created_at DESC, id DESC)`), and returns at most
//! one row per (currency, day) or a fixed number of rows. Only fulfilled orders
//! count: pending, cancelled, expired, failed and refunded orders earned nothing.
//! Amounts stay per currency; nothing here adds two currencies together.

use sqlx::Row;

use crate::db::Db;
use crate::vocab::OrderStatus;

/// Milliseconds in a UTC day: the bucket of the per-day figures.
pub const DAY_MS: i64 = 86_400_000;

/// A sum for one currency on one day.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DayTotal {
    /// Lowercase ISO 4217 code.
    pub currency: String,
    /// Days since 1970-01-01 (UTC).
    pub day: i64,
    /// Sum of the orders' totals, minor units.
    pub total_cents: i64,
    /// Orders counted.
    pub orders: i64,
}

/// Units sold of one listing in one currency.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListingSales {
    /// The listing.
    pub listing_id: String,
    /// Its name as last sold.
    pub service_name: String,
    /// Lowercase ISO 4217 code.
    pub currency: String,
    /// Units sold.
    pub units: i64,
    /// Orders.
    pub orders: i64,
    /// Revenue, minor units.
    pub total_cents: i64,
}

/// One of a seller's top buyers in one currency.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopBuyer {
    /// The buyer's user id.
    pub buyer_id: String,
    /// Their email (the page masks it).
    pub email: String,
    /// Lowercase ISO 4217 code.
    pub currency: String,
    /// What they spent with this seller, minor units.
    pub total_cents: i64,
    /// Orders.
    pub orders: i64,
}

/// Whose orders a per-day query reads.
#[derive(Clone, Copy, Debug)]
pub enum Party {
    /// Orders of the seller's listings.
    Seller,
    /// Orders the buyer placed.
    Buyer,
}

/// Per (currency, day) sums of `user`'s fulfilled orders since `since_ms`, by
/// currency then day. At most currencies × days rows.
pub async fn per_day(
    db: &Db,
    party: Party,
    user: &str,
    since_ms: i64,
) -> Result<Vec<DayTotal>, sqlx::Error> {
    const SELLER: &str = "SELECT currency, created_at / 86400000 AS day, \
           CAST(SUM(total_cents) AS BIGINT) AS total_cents, COUNT(*) AS orders \
         FROM orders WHERE seller_id = $1 AND created_at >= $2 AND status = $3 \
         GROUP BY currency, created_at / 86400000 ORDER BY currency, day";
    const BUYER: &str = "SELECT currency, created_at / 86400000 AS day, \
           CAST(SUM(total_cents) AS BIGINT) AS total_cents, COUNT(*) AS orders \
         FROM orders WHERE buyer_id = $1 AND created_at >= $2 AND status = $3 \
         GROUP BY currency, created_at / 86400000 ORDER BY currency, day";
    let sql = match party {
        Party::Seller => SELLER,
        Party::Buyer => BUYER,
    };
    let rows = sqlx::query(sql)
        .bind(user)
        .bind(since_ms)
        .bind(OrderStatus::Fulfilled)
        .fetch_all(db.pool())
        .await?;
    rows.iter()
        .map(|r| {
            Ok(DayTotal {
                currency: r.try_get("currency")?,
                day: r.try_get("day")?,
                total_cents: r.try_get("total_cents")?,
                orders: r.try_get("orders")?,
            })
        })
        .collect()
}

/// Units sold per listing (and currency) of `seller` since `since_ms`, most units
/// first, at most `limit` rows.
pub async fn units_per_listing(
    db: &Db,
    seller: &str,
    since_ms: i64,
    limit: i64,
) -> Result<Vec<ListingSales>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT listing_id, MAX(service_name) AS service_name, currency, \
           CAST(SUM(units) AS BIGINT) AS units, COUNT(*) AS orders, \
           CAST(SUM(total_cents) AS BIGINT) AS total_cents \
         FROM orders WHERE seller_id = $1 AND created_at >= $2 AND status = $3 \
         GROUP BY listing_id, currency \
         ORDER BY units DESC, listing_id, currency LIMIT $4",
    )
    .bind(seller)
    .bind(since_ms)
    .bind(OrderStatus::Fulfilled)
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(ListingSales {
                listing_id: r.try_get("listing_id")?,
                service_name: r.try_get("service_name")?,
                currency: r.try_get("currency")?,
                units: r.try_get("units")?,
                orders: r.try_get("orders")?,
                total_cents: r.try_get("total_cents")?,
            })
        })
        .collect()
}

/// The `per_currency` biggest buyers of `seller` in each currency since `since_ms`,
/// by currency, then amount (largest first). Ranked per currency in SQL (a window
/// function, on both backends), so one busy currency cannot crowd out another. The
/// email is looked up per row kept (a subquery on the primary key), not joined: a
/// join made PostgreSQL hash the whole `users` table, since it cannot tell how few
/// rows the ranking keeps.
pub async fn top_buyers(
    db: &Db,
    seller: &str,
    since_ms: i64,
    per_currency: i64,
) -> Result<Vec<TopBuyer>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT r.buyer_id, (SELECT u.email FROM users u WHERE u.id = r.buyer_id) AS email, \
                r.currency, r.total_cents, r.orders FROM \
           (SELECT t.buyer_id, t.currency, t.total_cents, t.orders, \
              ROW_NUMBER() OVER (PARTITION BY t.currency \
                                 ORDER BY t.total_cents DESC, t.buyer_id) AS place \
            FROM (SELECT buyer_id, currency, CAST(SUM(total_cents) AS BIGINT) AS total_cents, \
                    COUNT(*) AS orders \
                  FROM orders WHERE seller_id = $1 AND created_at >= $2 AND status = $3 \
                  GROUP BY buyer_id, currency) t) r \
         WHERE r.place <= $4 \
         ORDER BY r.currency, r.total_cents DESC, r.buyer_id",
    )
    .bind(seller)
    .bind(since_ms)
    .bind(OrderStatus::Fulfilled)
    .bind(per_currency)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(TopBuyer {
                buyer_id: r.try_get("buyer_id")?,
                email: r.try_get("email")?,
                currency: r.try_get("currency")?,
                total_cents: r.try_get("total_cents")?,
                orders: r.try_get("orders")?,
            })
        })
        .collect()
}

/// An email as the seller sees it: the first character of the name and the
/// top-level domain (`b•••@•••.com`). Sellers are never shown buyers' emails
/// elsewhere (the sales table shows none), so the dashboard does not start here.
pub fn mask_email(email: &str) -> String {
    let (name, domain) = email.rsplit_once('@').unwrap_or((email, ""));
    let first: String = name.chars().take(1).collect();
    let tld = domain.rsplit_once('.').map(|(_, t)| t).unwrap_or_default();
    if tld.is_empty() {
        format!("{first}•••")
    } else {
        format!("{first}•••@•••.{tld}")
    }
}

#[cfg(test)]
mod tests {
    use super::mask_email;

    #[test]
    fn emails_are_masked() {
        assert_eq!(mask_email("bob@example.com"), "b•••@•••.com");
        assert_eq!(mask_email("émile@mail.example.fr"), "é•••@•••.fr");
        assert_eq!(mask_email("nobody"), "n•••");
        assert_eq!(mask_email(""), "•••");
    }
}
