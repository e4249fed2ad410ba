//! Browse and search queries, built per backend from only the filters in use.
//!
//! Each engine searches through its own index: PostgreSQL a weighted `tsvector`
//! (GIN, `websearch_to_tsquery`), SQLite an FTS5 table (bm25). Leaving unused
//! filters out of the SQL, rather than writing `($1 = '' OR …)`, keeps every plan
//! free to use the index that fits; the statements differ only by which filters
//! are present, so their number stays small and each is prepared once.
//!
//! Relevance is an integer, so a cursor can carry it exactly: a listing whose
//! name matches scores [`NAME_HIT`] more than any whose description alone does,
//! plus the engine's rank scaled by a million and rounded.

use sqlx::AssertSqlSafe;
use sqlx::Row;
use sqlx::any::AnyArguments;
use sqlx::query::Query;

use super::model::Listing;
use super::query::SearchText;
use super::store::{After, Sort};
use crate::db::{Backend, Db};
use crate::listing_columns;
use crate::vocab::ListingStatus;

/// Matched phrases in the name and in the description (SQLite relevance).
const HITS_NAME: &str = "length(h0) - length(replace(h0, char(1), ''))";
const HITS_DESC: &str = "length(h1) - length(replace(h1, char(1), ''))";

/// The relevance bonus of a name match, above any engine rank (times a million).
pub const NAME_HIT: i64 = 1_000_000_000_000;

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
enum Bind {
    Text(String),
    Int(i64),
}

/// SQL text under construction with its parameters, numbered `$1…` as added.
#[derive(Default)]
struct Sql {
    text: String,
    binds: Vec<Bind>,
}

impl Sql {
    fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    fn bind(&mut self, value: Bind) -> &mut Self {
        self.binds.push(value);
        self.text.push_str(&format!("${}", self.binds.len()));
        self
    }

    fn query(&self) -> Query<'_, sqlx::Any, AnyArguments> {
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
    let sql = build(db.backend(), req);
    let rows = sql.query().fetch_all(db.pool()).await?;
    rows.iter()
        .map(|row| {
            let listing = Listing::from_row(row)?;
            let key = match req.sort {
                Sort::Relevance => row.try_get("rank")?,
                Sort::Newest => listing.created_at,
                Sort::PriceAsc | Sort::PriceDesc => listing.price_cents,
            };
            Ok((listing, key))
        })
        .collect()
}

/// The listing columns qualified with the alias `l.`.
fn qualified_columns() -> String {
    listing_columns!()
        .split(',')
        .map(|c| format!("l.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn build(backend: Backend, req: &Request<'_>) -> Sql {
    let mut sql = Sql::default();
    let relevance = req.sort == Sort::Relevance;
    let search = req.search.map(|(raw, parsed)| match backend {
        Backend::Postgres => raw.to_owned(),
        Backend::Sqlite => parsed.fts5(),
    });
    if relevance {
        sql.push("SELECT * FROM (");
    }
    let sqlite_relevance = relevance && backend == Backend::Sqlite && search.is_some();
    sql.push("SELECT ").push(&if sqlite_relevance {
        listing_columns!().to_owned()
    } else {
        qualified_columns()
    });
    match (&search, relevance, backend) {
        (Some(q), true, Backend::Postgres) => {
            sql.push(&format!(
                ", ((ts_filter(l.search_doc, '{{a}}') @@ q.query)::int * {NAME_HIT}::bigint \
                 + round(ts_rank(l.search_doc, q.query, 1) * 1000000)::bigint) AS rank \
                 FROM listings l, websearch_to_tsquery('udam_search', "
            ));
            sql.bind(Bind::Text(q.clone()))
                .push(") AS q(query) WHERE l.search_doc @@ q.query");
        }
        (Some(q), true, Backend::Sqlite) => {
            // highlight() wraps each matched phrase in char(1)…char(2): a name hit is a
            // char(1) in the name, and counting them gives a per-listing score. (bm25
            // is not used: its IDF moves as listings are added, which would shift
            // every rank and make relevance cursors repeat or skip rows.)
            sql.push(&format!(
                ", (instr(h0, char(1)) > 0) * {NAME_HIT} \
                 + (({HITS_NAME}) * 4 + {HITS_DESC}) * 1000000 \
                 / (1 + (length(service_name) + length(description)) / 100) AS rank \
                 FROM (SELECT {columns}, highlight(listings_fts, 0, char(1), char(2)) AS h0, \
                 highlight(listings_fts, 1, char(1), char(2)) AS h1 \
                 FROM listings_fts JOIN listings l ON l.rowid = listings_fts.rowid \
                 WHERE listings_fts MATCH ",
                columns = qualified_columns(),
            ));
            sql.bind(Bind::Text(q.clone()));
        }
        (Some(q), false, Backend::Postgres) => {
            sql.push(" FROM listings l WHERE l.search_doc @@ websearch_to_tsquery('udam_search', ");
            sql.bind(Bind::Text(q.clone())).push(")");
        }
        (Some(q), false, Backend::Sqlite) => {
            sql.push(
                " FROM listings l WHERE l.rowid IN \
                 (SELECT rowid FROM listings_fts WHERE listings_fts MATCH ",
            );
            sql.bind(Bind::Text(q.clone())).push(")");
        }
        (None, _, _) => {
            sql.push(" FROM listings l WHERE 1 = 1");
        }
    }
    sql.push(" AND l.status = ")
        .bind(Bind::Text(ListingStatus::Active.as_str().to_owned()));
    push_filters(&mut sql, req.filters);
    if sqlite_relevance {
        sql.push(")");
    }
    let after = req.after.as_ref();
    match req.sort {
        Sort::Relevance => {
            sql.push(") s");
            if let Some(after) = after {
                keyset(&mut sql, " WHERE", "s.rank", '<', after, "s.id");
            }
            sql.push(" ORDER BY s.rank DESC, s.id DESC");
        }
        Sort::Newest => {
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
fn keyset(sql: &mut Sql, joiner: &str, key: &str, op: char, after: &After, id: &str) {
    sql.push(&format!("{joiner} ({key} {op} "))
        .bind(Bind::Int(after.key))
        .push(&format!(" OR ({key} = "))
        .bind(Bind::Int(after.key))
        .push(&format!(" AND {id} {op} "))
        .bind(Bind::Text(after.id.clone()))
        .push("))");
}

fn push_filters(sql: &mut Sql, filters: &Filters) {
    if let Some(currency) = &filters.currency {
        sql.push(" AND l.currency = ")
            .bind(Bind::Text(currency.clone()));
    }
    if let Some(min) = filters.min_price_cents {
        sql.push(" AND l.price_cents >= ").bind(Bind::Int(min));
    }
    if let Some(max) = filters.max_price_cents {
        sql.push(" AND l.price_cents <= ").bind(Bind::Int(max));
    }
    if filters.in_stock {
        sql.push(" AND l.available_units > 0");
    }
    if let Some(seller) = &filters.seller_id {
        sql.push(" AND l.seller_id = ")
            .bind(Bind::Text(seller.clone()));
    }
}
