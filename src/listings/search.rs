//! Browse and search queries, built per backend from only the filters in use.
//!
//! Each engine searches through its own index: PostgreSQL a weighted `tsvector`
//! (GIN, `websearch_to_tsquery`), SQLite an FTS5 table. Leaving unused
//! filters out of the SQL, rather than writing `($1 = '' OR …)`, keeps every plan
//! free to use the index that fits; the statements differ only by which filters
//! are present, so their number stays small and each is prepared once.
//!
//! Relevance order lives in [`super::relevance`]; this module builds the other
//! orders and lends it the statement builder and the filters.

use sqlx::AssertSqlSafe;
use sqlx::any::AnyArguments;
use sqlx::query::Query;

use super::model::Listing;
use super::query::SearchText;
use super::store::{After, Sort};
use crate::db::{Backend, Db};
use crate::listing_columns;
use crate::vocab::{Delivery, ListingStatus};

/// Filters; `None`/`false` means "any".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filters {
    /// Lowercase ISO 4217 code.
    pub currency: Option<String>,
    /// Lowest price per unit, inclusive.
    pub min_price_cents: Option<i64>,
    /// Highest price per unit, inclusive.
    pub max_price_cents: Option<i64>,
    /// Only listings with units left.
    pub in_stock: bool,
    /// Only this seller's listings.
    pub seller_id: Option<String>,
    /// Only listings delivered this way.
    pub delivery: Option<Delivery>,
}

/// One page request.
pub struct Request<'a> {
    /// The search text as typed (PostgreSQL parses it) and as parsed here.
    pub search: Option<(&'a str, &'a SearchText)>,
    /// Filters.
    pub filters: &'a Filters,
    /// Order.
    pub sort: Sort,
    /// Keyset position.
    pub after: Option<After>,
    /// Rows to fetch.
    pub limit: i64,
}

/// A parameter value.
pub(super) enum Bind {
    Text(String),
    Int(i64),
}

/// SQL text under construction with its parameters, numbered `$1…` as added.
#[derive(Default)]
pub(super) struct Sql {
    text: String,
    binds: Vec<Bind>,
}

impl Sql {
    pub(super) fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    pub(super) fn bind(&mut self, value: Bind) -> &mut Self {
        self.binds.push(value);
        self.text.push_str(&format!("${}", self.binds.len()));
        self
    }

    pub(super) fn query(&self) -> Query<'_, sqlx::Any, AnyArguments> {
        let mut query = sqlx::query(AssertSqlSafe(self.text.clone()));
        for bind in &self.binds {
            query = match bind {
                Bind::Text(t) => query.bind(t.clone()),
                Bind::Int(i) => query.bind(*i),
            };
        }
        query
    }
}

/// A page of listings with each one's sort key (rank, time or price).
pub async fn page(db: &Db, req: &Request<'_>) -> Result<Vec<(Listing, i64)>, sqlx::Error> {
    if let Some(seller) = &req.filters.seller_id
        && !crate::ids::is_well_formed(seller)
    {
        return Ok(Vec::new());
    }
    if req.search.is_some_and(|(_, parsed)| parsed.is_empty()) {
        return Ok(Vec::new());
    }
    if req.sort == Sort::Relevance
        && let Some((raw, parsed)) = req.search
    {
        return super::relevance::page(db, req, raw, parsed).await;
    }
    let sql = build(db.backend(), req);
    let rows = sql.query().fetch_all(db.pool()).await?;
    rows.iter()
        .map(|row| {
            let listing = Listing::from_row(row)?;
            let key = match req.sort {
                Sort::Relevance | Sort::Newest => listing.created_at,
                Sort::PriceAsc | Sort::PriceDesc => listing.price_cents,
            };
            Ok((listing, key))
        })
        .collect()
}

/// The listing columns qualified with a table alias (`l.id, l.seller_id, …`).
pub(super) fn qualified_columns(alias: &str) -> String {
    listing_columns!()
        .split(',')
        .map(|c| format!("{alias}.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The statement of every order but relevance (which needs search text and lives
/// in [`super::relevance`]); with search text, the matches in that order.
fn build(backend: Backend, req: &Request<'_>) -> Sql {
    let mut sql = Sql::default();
    sql.push("SELECT ").push(&qualified_columns("l"));
    match (req.search, backend) {
        (Some((raw, _)), Backend::Postgres) => {
            sql.push(" FROM listings l WHERE l.search_doc @@ websearch_to_tsquery('udam_search', ");
            sql.bind(Bind::Text(raw.to_owned())).push(")");
        }
        (Some((_, parsed)), Backend::Sqlite) => {
            sql.push(
                " FROM listings l WHERE l.rowid IN \
                 (SELECT rowid FROM listings_fts WHERE listings_fts MATCH ",
            );
            sql.bind(Bind::Text(parsed.fts5())).push(")");
        }
        (None, _) => {
            sql.push(" FROM listings l WHERE 1 = 1");
        }
    }
    push_active_and_filters(&mut sql, "l", req.filters);
    let after = req.after.as_ref();
    match req.sort {
        Sort::Relevance | Sort::Newest => {
            if let Some(after) = after {
                keyset(&mut sql, " AND", "l.created_at", '<', after, "l.id");
            }
            sql.push(" ORDER BY l.created_at DESC, l.id DESC");
        }
        Sort::PriceAsc => {
            if let Some(after) = after {
                keyset(&mut sql, " AND", "l.price_cents", '>', after, "l.id");
            }
            sql.push(" ORDER BY l.price_cents ASC, l.id ASC");
        }
        Sort::PriceDesc => {
            if let Some(after) = after {
                keyset(&mut sql, " AND", "l.price_cents", '<', after, "l.id");
            }
            sql.push(" ORDER BY l.price_cents DESC, l.id DESC");
        }
    }
    sql.push(" LIMIT ").bind(Bind::Int(req.limit));
    sql
}

/// `(key OP k OR (key = k AND id OP i))`: strictly after the previous page's last row.
pub(super) fn keyset(sql: &mut Sql, joiner: &str, key: &str, op: char, after: &After, id: &str) {
    sql.push(&format!("{joiner} ({key} {op} "))
        .bind(Bind::Int(after.key))
        .push(&format!(" OR ({key} = "))
        .bind(Bind::Int(after.key))
        .push(&format!(" AND {id} {op} "))
        .bind(Bind::Text(after.id.clone()))
        .push("))");
}

/// One condition of [`Filters`], so that a statement can place each where it helps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum FilterKind {
    Currency,
    MinPrice,
    MaxPrice,
    InStock,
    Seller,
    Delivery,
}

/// `AND {alias}.status = 'active'` and the filters in use.
pub(super) fn push_active_and_filters(sql: &mut Sql, alias: &str, filters: &Filters) {
    sql.push(&format!(" AND {alias}.status = "))
        .bind(Bind::Text(ListingStatus::Active.as_str().to_owned()));
    push_filters(sql, alias, filters, |_| true, false);
}

/// ` AND …` for each filter in use that `keep` accepts. With `opaque`, each is
/// written `(…) IS TRUE`, which no index serves: for a statement whose rows come
/// from a small index result, ANDing a filter's index (most of the table) would
/// cost more than testing the few rows.
pub(super) fn push_filters(
    sql: &mut Sql,
    alias: &str,
    filters: &Filters,
    keep: impl Fn(FilterKind) -> bool,
    opaque: bool,
) {
    let (open, close) = if opaque { ("(", ") IS TRUE") } else { ("", "") };
    let cond = |sql: &mut Sql, kind: FilterKind, text: String, value: Option<Bind>| {
        if keep(kind) {
            sql.push(&format!(" AND {open}{alias}.{text}"));
            if let Some(value) = value {
                sql.bind(value);
            }
            sql.push(close);
        }
    };
    if let Some(currency) = &filters.currency {
        let value = Bind::Text(currency.clone());
        cond(sql, FilterKind::Currency, "currency = ".into(), Some(value));
    }
    if let Some(min) = filters.min_price_cents {
        cond(
            sql,
            FilterKind::MinPrice,
            "price_cents >= ".into(),
            Some(Bind::Int(min)),
        );
    }
    if let Some(max) = filters.max_price_cents {
        cond(
            sql,
            FilterKind::MaxPrice,
            "price_cents <= ".into(),
            Some(Bind::Int(max)),
        );
    }
    if filters.in_stock {
        // The generated column, not `available_units > 0`: the in-stock index is
        // on it (migration 0024), so that a sale changes no indexed value.
        cond(sql, FilterKind::InStock, "in_stock".into(), None);
    }
    if let Some(seller) = &filters.seller_id {
        let value = Bind::Text(seller.clone());
        cond(sql, FilterKind::Seller, "seller_id = ".into(), Some(value));
    }
    if let Some(delivery) = filters.delivery {
        // A word of the enum, written in: a bound value would keep a generic plan
        // from using the partial index of gateway listings (migration 0020).
        let text = format!("delivery = '{}'", delivery.as_str());
        cond(sql, FilterKind::Delivery, text, None);
    }
}
