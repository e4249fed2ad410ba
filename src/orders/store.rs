//! Order queries that only read.

use super::model::Order;
use crate::db::Db;
use crate::order_columns;
use crate::pagination::Page;

/// One order by id.
pub async fn get(db: &Db, id: &str) -> Result<Option<Order>, sqlx::Error> {
    if !crate::ids::is_well_formed(id) {
        return Ok(None);
    }
    const SQL: &str = concat!("SELECT ", order_columns!(), " FROM orders WHERE id = $1");
    let row = sqlx::query(SQL).bind(id).fetch_optional(db.pool()).await?;
    row.as_ref().map(Order::from_row).transpose()
}

/// The order `buyer_id` placed under an Idempotency-Key, if any.
pub async fn by_idempotency_key(
    db: &Db,
    buyer_id: &str,
    key: &str,
) -> Result<Option<Order>, sqlx::Error> {
    const SQL: &str = concat!(
        "SELECT ",
        order_columns!(),
        " FROM orders WHERE buyer_id = $1 AND idempotency_key = $2"
    );
    let row = sqlx::query(SQL)
        .bind(buyer_id)
        .bind(key)
        .fetch_optional(db.pool())
        .await?;
    row.as_ref().map(Order::from_row).transpose()
}

/// Whose orders a list shows.
#[derive(Clone, Copy, Debug)]
pub enum Party {
    /// Orders placed by the user.
    Buyer,
    /// Orders of the user's listings.
    Seller,
}

/// A page of a user's orders, newest first.
pub async fn list(
    db: &Db,
    party: Party,
    user_id: &str,
    page: &Page,
) -> Result<Vec<Order>, sqlx::Error> {
    const BY_BUYER: &str = concat!(
        "SELECT ",
        order_columns!(),
        " FROM orders WHERE buyer_id = $1 \
         AND (created_at < $2 OR (created_at = $2 AND id < $3)) \
         ORDER BY created_at DESC, id DESC LIMIT $4"
    );
    const BY_SELLER: &str = concat!(
        "SELECT ",
        order_columns!(),
        " FROM orders WHERE seller_id = $1 \
         AND (created_at < $2 OR (created_at = $2 AND id < $3)) \
         ORDER BY created_at DESC, id DESC LIMIT $4"
    );
    let sql = match party {
        Party::Buyer => BY_BUYER,
        Party::Seller => BY_SELLER,
    };
    let rows = sqlx::query(sql)
        .bind(user_id)
        .bind(page.before.0)
        .bind(&page.before.1)
        .bind(page.limit + 1)
        .fetch_all(db.pool())
        .await?;
    rows.iter().map(Order::from_row).collect()
}
