//! Relevance pages on PostgreSQL when filters are in use (issue 19).
//!
//! Filters make a tier's page rarer: with eur, at most 50.00 and in stock (9% of
//! the listings) a page needs eleven times as many matches as without. Walking the
//! newest listings until a page of them passes then reads ~90,000 rows, and
//! reading every match of the tier through its GIN index reads tens of thousands.
//! So here:
//!
//! 1. **A short walk** ([`WALK_ROWS`] listings, through the index of the most
//!    selective equality filter, so those rows all pass it) that returns only the
//!    matches' ids, tiers and whether they pass the other filters, for both tiers
//!    at once (at most [`HITS_PER_ROW`] × page of them), with how many listings it
//!    read and the oldest one's `created_at`. When a tier's passing matches fill
//!    the page, or the walk read every listing below the cursor (so its matches are
//!    all there are), those rows are read by id. A common word fills the page here.
//! 2. Otherwise the walk measured how many of the tier's matches it met, how often
//!    its listings pass the filters, and over what span of `created_at` it read:
//!    the tier is read through its GIN index ANDed with a `created_at` range (a
//!    bitmap of the `created_at` B-tree), newest range first, sized to hold a page
//!    at those rates, each next range sized from what the ranges before it found
//!    (at most four times wider), the last one open. Only the matches inside each
//!    range are read, so a rare word costs a few small bitmaps, not a read of all
//!    its matches.
//!
//! The walk is short because each listing it reads is a heap page of its own (the
//! filter's index is in `created_at` order, the rows of one currency are spread
//! over the table): 8,000 of them took 10–20 ms, most of a page's time, while a
//! range's bitmaps read only index pages and the matching rows.
//!
//! Every step returns exact results: the walk reads every listing in its range in
//! order, and the ranges cover everything older than the cursor with no gap, so
//! the bounds change only how many rows are read, never which rows are listed.

use sqlx::Row;

use super::super::model::Listing;
use super::super::query::SearchText;
use super::super::search::{
    Bind, FilterKind, Request, Sql, keyset, push_filters, qualified_columns,
};
use super::super::store::After;
use super::{NAME_DOC, TIER_SPAN, Tier, TierPage, decode, forced_index_tx};
use crate::db::Db;
use crate::vocab::{Delivery, ListingStatus};

/// Listings the walk reads (through the chosen filter's index) at most.
pub const WALK_ROWS: i64 = 1_000;

/// The walk returns at most this many matches per listing of the page: enough to
/// fill a page when one match in ten passes the other filters.
const HITS_PER_ROW: i64 = 10;

/// A match the walk found.
struct Hit {
    id: String,
    position: i64,
    passes: bool,
    in_name: bool,
}

/// What one walk from a position found.
struct Walk {
    /// Where it started (the cursor's position within its tier, or the top).
    from: Option<After>,
    hits: Vec<Hit>,
    /// Listings it read: fewer than [`WALK_ROWS`] when none is left below, and
    /// then its hits are all the matches there are.
    read: i64,
    /// The `created_at` of the oldest listing it read.
    floor: Option<i64>,
    /// Of the listings it read, how many pass every filter (its own index's
    /// filter all of them): the rate at which a match can be expected to pass.
    passed: i64,
    /// The oldest and newest active listings' `created_at`: the ranges start
    /// below the newest, and the one reaching past the oldest is left open.
    span: (i64, i64),
}

/// A page in relevance order with filters, each listing with its sort key.
pub(super) async fn page(
    db: &Db,
    req: &Request<'_>,
    raw: &str,
    parsed: &SearchText,
    start: i64,
    position: Option<After>,
) -> Result<Vec<(Listing, i64)>, sqlx::Error> {
    let mut out = Vec::new();
    let mut walked: Option<Walk> = None;
    // One transaction held to bitmap scans serves the ranges of both tiers.
    let mut tx = None;
    for tier in Tier::ALL {
        let limit = req.limit - out.len() as i64;
        if tier.level() > start || limit <= 0 {
            continue;
        }
        let page = TierPage {
            tier,
            raw,
            parsed,
            req,
            after: position.clone().filter(|_| tier.level() == start),
            limit,
        };
        // The walk from the top serves both tiers of a first page.
        let walk = match walked.take() {
            Some(w) if w.from == page.after => w,
            _ => run_walk(db, &page).await?,
        };
        let hits: Vec<&Hit> = walk
            .hits
            .iter()
            .filter(|h| h.in_name == (tier == Tier::Name))
            .collect();
        let passing: Vec<&Hit> = hits.iter().copied().filter(|h| h.passes).collect();
        // At its cap the walk's hits stop short of the listings it read.
        let capped = walk.hits.len() as i64 >= req.limit * HITS_PER_ROW;
        let complete = !capped && walk.read < WALK_ROWS;
        let read_by_id = if passing.len() as i64 >= limit || complete {
            let ids: Vec<&str> = passing
                .iter()
                .take(limit as usize)
                .map(|h| h.id.as_str())
                .collect();
            let rows = if ids.is_empty() {
                Vec::new()
            } else {
                decode(by_ids(&page, &ids).query().fetch_all(db.pool()).await?)?
            };
            // A listing that changed since the walk (archived, sold out, repriced)
            // is not read back; a short page would end pagination early, so the
            // tier is then read through the ranges below instead.
            (rows.len() == ids.len()).then_some(rows)
        } else {
            None
        };
        let rows = if let Some(rows) = read_by_id {
            rows
        } else {
            let (oldest, newest) = walk.span;
            let bottom = if capped {
                walk.hits.last().map(|h| h.position)
            } else {
                walk.floor
            };
            let top = page
                .after
                .as_ref()
                .map_or(newest.saturating_add(1), |a| a.key);
            let found = expected_passing(&walk, hits.len(), passing.len());
            let width = first_width(&page, (top, bottom), found);
            let tx = match &mut tx {
                Some(tx) => tx,
                None => tx.insert(forced_index_tx(db).await?),
            };
            ranges(tx, &page, (oldest, newest), width).await?
        };
        walked = Some(walk);
        let level = tier.level() * TIER_SPAN;
        out.extend(rows.into_iter().map(|(l, position)| (l, level + position)));
    }
    if let Some(tx) = tx {
        tx.commit().await?;
    }
    Ok(out)
}

/// The filter whose index the walk reads through: the one that keeps fewest rows
/// and has an index in `created_at` order (seller, gateway delivery, currency, in
/// stock; `delivery=key` keeps most listings and has no index of its own).
fn walk_filter(page: &TierPage<'_>) -> Option<FilterKind> {
    let f = page.req.filters;
    if f.seller_id.is_some() {
        Some(FilterKind::Seller)
    } else if f.delivery == Some(Delivery::Gateway) {
        Some(FilterKind::Delivery)
    } else if f.currency.is_some() {
        Some(FilterKind::Currency)
    } else if f.in_stock {
        Some(FilterKind::InStock)
    } else {
        None
    }
}

/// Reads the newest [`WALK_ROWS`] listings that pass the walk's filter (from the
/// cursor), and returns their matches of either tier, newest first, with how many
/// listings it read, how many of those pass every filter, and the oldest one's
/// `created_at`.
async fn run_walk(db: &Db, page: &TierPage<'_>) -> Result<Walk, sqlx::Error> {
    let inner = walk_filter(page);
    let filters = page.req.filters;
    let mut sql = Sql::default();
    sql.push(
        "WITH w AS MATERIALIZED (SELECT w.id, w.created_at, w.search_doc, w.currency, \
           w.price_cents, w.in_stock, w.seller_id, w.delivery FROM listings w \
           WHERE w.status = ",
    )
    .bind(Bind::Text(ListingStatus::Active.as_str().to_owned()));
    push_filters(&mut sql, "w", filters, |k| Some(k) == inner, false);
    if let Some(after) = &page.after {
        keyset(&mut sql, " AND", "w.created_at", '<', after, "w.id");
    }
    sql.push(" ORDER BY w.created_at DESC, w.id DESC LIMIT ")
        .bind(Bind::Int(WALK_ROWS))
        .push(
            "), m AS (SELECT COUNT(*) AS walked, MIN(w.created_at) AS floor, \
               COUNT(*) FILTER (WHERE TRUE",
        );
    push_filters(&mut sql, "w", filters, |k| Some(k) != inner, false);
    sql.push(
        ") AS passed FROM w), \
             s AS (SELECT min(created_at) AS oldest, max(created_at) AS newest \
               FROM listings WHERE status = ",
    )
    .bind(Bind::Text(ListingStatus::Active.as_str().to_owned()))
    .push(
        ") SELECT m.walked, m.floor, m.passed, s.oldest, s.newest, h.id, h.position, \
               h.passes, h.in_name FROM m CROSS JOIN s \
             LEFT JOIN LATERAL (SELECT l.id, l.created_at AS position, (TRUE",
    );
    push_filters(&mut sql, "l", filters, |k| Some(k) != inner, false);
    sql.push(") AS passes, (")
        .push(NAME_DOC)
        .push(" @@ q.query) AS in_name FROM w l");
    page.pg_search(&mut sql);
    sql.push(" WHERE l.search_doc @@ q.query ORDER BY l.created_at DESC, l.id DESC LIMIT ")
        .bind(Bind::Int(page.req.limit * HITS_PER_ROW))
        .push(") h ON TRUE ORDER BY h.position DESC, h.id DESC");
    let rows = sql.query().fetch_all(db.pool()).await?;
    let (mut read, mut floor, mut passed, mut span) = (0, None, 0, (i64::MIN, i64::MAX));
    let mut hits = Vec::with_capacity(rows.len());
    for row in &rows {
        read = row.try_get("walked")?;
        floor = row.try_get("floor")?;
        passed = row.try_get("passed")?;
        let oldest: Option<i64> = row.try_get("oldest")?;
        let newest: Option<i64> = row.try_get("newest")?;
        span = (oldest.unwrap_or(i64::MIN), newest.unwrap_or(i64::MAX));
        // No match: the one row carries only the counts.
        let Some(id) = row.try_get::<Option<String>, _>("id")? else {
            continue;
        };
        hits.push(Hit {
            id,
            position: row.try_get("position")?,
            passes: row.try_get("passes")?,
            in_name: row.try_get("in_name")?,
        });
    }
    Ok(Walk {
        from: page.after.clone(),
        hits,
        read,
        floor,
        passed,
        span,
    })
}

/// The listings of `ids` (the walk's passing matches), newest first.
fn by_ids(page: &TierPage<'_>, ids: &[&str]) -> Sql {
    let mut sql = Sql::default();
    sql.push("SELECT ")
        .push(&qualified_columns("l"))
        .push(", l.created_at AS position FROM listings l WHERE l.id IN (");
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.bind(Bind::Text((*id).to_owned()));
    }
    // The filters again: a listing changed since the walk read it is not listed.
    sql.push(") AND l.status = ")
        .bind(Bind::Text(ListingStatus::Active.as_str().to_owned()));
    push_filters(&mut sql, "l", page.req.filters, |_| true, false);
    sql.push(" ORDER BY l.created_at DESC, l.id DESC");
    sql
}

/// How many of the tier's matches in the walk's span can be expected to pass the
/// filters: those that did, or, when more, its matches at the rate at which all
/// the listings it read passed (a handful of matches says little about their own
/// rate, and a page's tail comes from those that happened to miss); half a match
/// when it found none.
fn expected_passing(walk: &Walk, hits: usize, passing: usize) -> f64 {
    let rate = if walk.read > 0 {
        walk.passed as f64 / walk.read as f64
    } else {
        1.0
    };
    (passing as f64).max(hits as f64 * rate).max(0.5)
}

/// The first range's width in `created_at` units: the span the walk read (from
/// `top`, its start, down to `bottom`), scaled to hold a page at the rate of
/// `found` passing matches in it, with half again for luck.
fn first_width(page: &TierPage<'_>, (top, bottom): (i64, Option<i64>), found: f64) -> i64 {
    let span = bottom.map_or(1, |b| top.saturating_sub(b).max(1));
    let width = span as f64 * page.limit as f64 / found * 1.5;
    (width as i64).max(span)
}

/// The tier's page through its GIN index, one `created_at` range at a time.
async fn ranges(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    page: &TierPage<'_>,
    (floor, newest): (i64, i64),
    mut width: i64,
) -> Result<Vec<(Listing, i64)>, sqlx::Error> {
    let mut out: Vec<(Listing, i64)> = Vec::new();
    // The first range is below the cursor (or everything newer than its lower end).
    let mut upper: Option<i64> = None;
    let start = page
        .after
        .as_ref()
        .map_or(newest.saturating_add(1), |a| a.key);
    loop {
        let limit = page.limit - out.len() as i64;
        let top = match (upper, &page.after) {
            (Some(u), _) => u,
            (None, Some(after)) => after.key,
            (None, None) => newest.saturating_add(1),
        };
        let lower = Some(top.saturating_sub(width)).filter(|l| *l > floor);
        let mut sql = Sql::default();
        sql.push("SELECT ")
            .push(&qualified_columns("l"))
            .push(", l.created_at AS position FROM listings l");
        page.pg_search(&mut sql);
        match page.tier {
            Tier::Name => {
                sql.push(" WHERE to_tsvector('udam_search'::regconfig, l.service_name) @@ q.query");
                page.tier_test(&mut sql, false);
            }
            Tier::Elsewhere => {
                sql.push(" WHERE l.search_doc @@ q.query AND NOT ")
                    .push(NAME_DOC)
                    .push(" @@ q.query");
            }
        }
        sql.push(" AND l.status = ")
            .bind(Bind::Text(ListingStatus::Active.as_str().to_owned()));
        push_filters(&mut sql, "l", page.req.filters, |_| true, false);
        match (upper, &page.after) {
            (Some(u), _) => {
                sql.push(" AND l.created_at < ").bind(Bind::Int(u));
            }
            (None, Some(after)) => keyset(&mut sql, " AND", "l.created_at", '<', after, "l.id"),
            (None, None) => {}
        }
        if let Some(lower) = lower {
            sql.push(" AND l.created_at >= ").bind(Bind::Int(lower));
        }
        sql.push(" ORDER BY l.created_at DESC, l.id DESC LIMIT ")
            .bind(Bind::Int(limit));
        let rows = decode(sql.query().fetch_all(&mut **tx).await?)?;
        out.extend(rows);
        match lower {
            Some(lower) if (out.len() as i64) < page.limit => {
                upper = Some(lower);
                width = next_width(width, start.saturating_sub(lower), out.len(), page.limit);
            }
            _ => break,
        }
    }
    Ok(out)
}

/// The next range's width after `last`, when the ranges so far (`covered` wide
/// in all) found `found` of the page's `limit`: wide enough for the rest at the
/// rate they found them, with half again for luck, but at least `last` and at
/// most four times it (four times when nothing was found). A fixed four times
/// made a name tier that had found 11 of 21 build a 73,577-entry `created_at`
/// bitmap for the other 10, 17–27 ms, where a third of it holds them.
fn next_width(last: i64, covered: i64, found: usize, limit: i64) -> i64 {
    let grown = last.saturating_mul(4);
    if found == 0 {
        return grown;
    }
    let rest = (limit - found as i64).max(1);
    let wanted = covered as f64 * rest as f64 / found as f64 * 1.5;
    (wanted as i64).clamp(last, grown)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(read: i64, passed: i64) -> Walk {
        Walk {
            from: None,
            hits: Vec::new(),
            read,
            floor: None,
            passed,
            span: (0, 0),
        }
    }

    #[test]
    fn a_next_range_is_sized_from_what_the_ranges_found() {
        // 11 of 21 found in 100: the other 10 at that rate need about 91, with
        // half again 136.
        assert_eq!(next_width(100, 100, 11, 21), 136);
        // Nothing found yet: four times, as wide as a range may grow at once.
        assert_eq!(next_width(100, 100, 0, 21), 400);
        // Almost all found: never narrower than the last range.
        assert_eq!(next_width(100, 500, 20, 21), 100);
        // Few found over a wide span: at most four times the last.
        assert_eq!(next_width(100, 1_000, 1, 21), 400);
    }

    #[test]
    fn matches_are_expected_to_pass_at_the_walks_rate() {
        // 430 of 1,000 listings passed: six matches of which none passed by chance
        // still stand for about 2.6 passing ones.
        let w = walk(1_000, 430);
        assert!((expected_passing(&w, 6, 0) - 2.58).abs() < 1e-9);
        // More passed than the rate says: those are counted.
        assert_eq!(expected_passing(&w, 6, 5), 5.0);
        // None found: half a match, whatever the rate.
        assert_eq!(expected_passing(&w, 0, 0), 0.5);
        assert_eq!(expected_passing(&walk(0, 0), 0, 0), 0.5);
    }
}
