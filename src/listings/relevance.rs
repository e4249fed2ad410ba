//! The relevance order, built so that an index can produce it in order (issue 19).
//!
//! "Most relevant first" means two tiers: listings whose **name** matches the whole
//! search (every required word or phrase, no excluded one anywhere), then listings
//! that match only with their **description**'s help; within a tier, the newest
//! first. An engine rank (`ts_rank`, bm25) over every match is not used: for a
//! common word that means reading every matching row before the first page is
//! known (754 ms p99 at 1,000,000 listings), and bm25's weights move as listings
//! are added, which would shift ranks under a cursor.
//!
//! How each engine finds a tier's page without reading all its matches:
//!
//! * SQLite: FTS5 returns matches in rowid order, newest last, and reads them
//!   backwards on request (`ORDER BY rowid DESC`); a column filter
//!   (`{service_name} : …`) selects the name tier. A page stops after `limit`
//!   matches that pass the filters. Within a tier the order is the rowid (the order
//!   of insertion, which is the order of `created_at`).
//! * PostgreSQL: a GIN index returns matches in no useful order. A common word's
//!   page is found by walking the newest listings (the `created_at` index) and
//!   testing each one; a rare word's by the GIN indexes (a name-only and a
//!   description-only one beside the whole document's) and sorting the few matches.
//!   Which one is cheaper depends on how common the match is, which estimates get
//!   wrong for correlated words ("sao paulo"), so the walk is tried first over a
//!   bounded number of listings ([`WALK_ROWS`]); if it finds fewer than a page, the
//!   match is rare among them and the indexes answer instead, exactly. A first
//!   page walks once for both tiers (`first_walk`); a later page walks its
//!   cursor's tier. With
//!   filters, a page needs many more matches (eleven times as many when one
//!   listing in eleven passes), and neither of those bounds holds; that case has
//!   its own plan in `relevance::filtered`: one walk bounded by rows read, then the GIN
//!   indexes over `created_at` ranges sized from what the walk saw.
//!
//! The sort key a cursor carries is `tier × TIER_SPAN + position`, position being
//! `created_at` (PostgreSQL) or the rowid (SQLite): an integer, so pages never
//! repeat or skip, and a listing added later never moves one already listed.

use sqlx::Row;

use super::model::Listing;
use super::query::SearchText;
use super::search::{
    Bind, Filters, Request, Sql, keyset, push_active_and_filters, push_filters, qualified_columns,
};
use super::store::After;
use crate::db::{Backend, Db};
use crate::vocab::ListingStatus;

mod filtered;

/// The key distance between tiers, above any position (`created_at` in ms or rowid).
pub const TIER_SPAN: i64 = 1 << 50;

/// Listings the PostgreSQL walk tests before it hands over to the indexes: with
/// fewer than a page of matches among them, the match is rarer than a page in
/// this many, and the indexes then read at most about `listings × page / WALK_ROWS`
/// rows. This balances the two costs at 1,000,000 listings (see docs/BENCHMARKS.md).
pub const WALK_ROWS: i64 = 8_000;

/// A relevance tier, best first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tier {
    /// The name matches the whole search.
    Name,
    /// The listing matches, but not by its name alone.
    Elsewhere,
}

impl Tier {
    const ALL: [Tier; 2] = [Tier::Name, Tier::Elsewhere];

    /// The tier's part of the sort key (higher first).
    fn level(self) -> i64 {
        match self {
            Tier::Name => 1,
            Tier::Elsewhere => 0,
        }
    }
}

/// One tier's page request.
struct TierPage<'a> {
    tier: Tier,
    raw: &'a str,
    parsed: &'a SearchText,
    req: &'a Request<'a>,
    /// The position within the tier to continue after.
    after: Option<After>,
    limit: i64,
}

/// A page in relevance order, with each listing's sort key.
pub async fn page(
    db: &Db,
    req: &Request<'_>,
    raw: &str,
    parsed: &SearchText,
) -> Result<Vec<(Listing, i64)>, sqlx::Error> {
    let (start, position) = match &req.after {
        None => (Tier::Name.level(), None),
        Some(after) => (
            after.key.div_euclid(TIER_SPAN),
            Some(After {
                key: after.key.rem_euclid(TIER_SPAN),
                id: after.id.clone(),
            }),
        ),
    };
    if db.backend() == Backend::Postgres && *req.filters != Filters::default() {
        return filtered::page(db, req, raw, parsed, start, position).await;
    }
    // A first page on PostgreSQL walks the newest listings once for both tiers.
    let mut walked = match (db.backend(), &position) {
        (Backend::Postgres, None) => Some(first_walk(db, req, raw).await?),
        _ => None,
    };
    let mut out = Vec::new();
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
            // Only the cursor's own tier starts part-way; a lower tier starts at its top.
            after: position.clone().filter(|_| tier.level() == start),
            limit,
        };
        let rows = match (db.backend(), &mut walked) {
            (Backend::Postgres, Some(walk)) => {
                let found = walk.take(tier, limit);
                if found.len() as i64 >= limit {
                    found
                } else {
                    indexed(db, &page).await?
                }
            }
            (Backend::Postgres, None) => postgres(db, &page).await?,
            (Backend::Sqlite, _) => decode(page.sqlite().query().fetch_all(db.pool()).await?)?,
        };
        let level = tier.level() * TIER_SPAN;
        out.extend(rows.into_iter().map(|(l, position)| (l, level + position)));
    }
    Ok(out)
}

/// The walk first; the indexes when it finds less than a page.
async fn postgres(db: &Db, page: &TierPage<'_>) -> Result<Vec<(Listing, i64)>, sqlx::Error> {
    let walked = decode(page.pg_walk().query().fetch_all(db.pool()).await?)?;
    if walked.len() as i64 >= page.limit {
        return Ok(walked);
    }
    indexed(db, page).await
}

/// What the walk of a first page found among the newest [`WALK_ROWS`] listings:
/// its matches of each tier, newest first, at most a page of each.
struct FirstWalk {
    name: Vec<(Listing, i64)>,
    elsewhere: Vec<(Listing, i64)>,
}

impl FirstWalk {
    /// The tier's matches the walk found. Fewer than `limit` means that the walk
    /// read all its listings with fewer matches of the tier among them than a
    /// page (it stops only once the name tier has a page), so the tier is rare
    /// there and its indexes answer instead, as after a tier's own walk.
    fn take(&mut self, tier: Tier, limit: i64) -> Vec<(Listing, i64)> {
        let mut found = std::mem::take(match tier {
            Tier::Name => &mut self.name,
            Tier::Elsewhere => &mut self.elsewhere,
        });
        found.truncate(usize::try_from(limit).unwrap_or(0));
        found
    }
}

/// One walk of the newest [`WALK_ROWS`] listings for both tiers of a first page.
/// Walking each tier on its own read the same listings twice when the name tier
/// has less than a page among them, which every search with few or no matches
/// does (a search with no match spent both its walks there). The window counts
/// the name tier's matches before each match and stops the walk at the first
/// match after a page of them (PostgreSQL's run condition), so a name tier that
/// fills the page costs what its own walk did; the other tier's matches met on
/// the way are kept, a page of them at most.
async fn first_walk(db: &Db, req: &Request<'_>, raw: &str) -> Result<FirstWalk, sqlx::Error> {
    let mut sql = Sql::default();
    sql.push("SELECT x.* FROM (SELECT ")
        .push(&qualified_columns("l"))
        .push(
            ", l.created_at AS position, n.in_name, \
             count(*) FILTER (WHERE n.in_name) OVER earlier AS names_before, \
             count(*) FILTER (WHERE NOT n.in_name) OVER earlier AS others_before \
             FROM (SELECT ",
        )
        .push(&qualified_columns("w"))
        .push(", w.search_doc FROM listings w WHERE 1 = 1");
    push_active_and_filters(&mut sql, "w", req.filters);
    sql.push(" ORDER BY w.created_at DESC, w.id DESC LIMIT ")
        .bind(Bind::Int(WALK_ROWS))
        // The search is parsed in scalar subqueries, each run once, not joined as
        // a function: a prepared statement's generic plan put such a join
        // outside the walk, lost its order, and sorted all of its listings.
        // `OFFSET 0` keeps the name test a subquery of its own, computed once per
        // match; inlined, the planner computed it once for each of its three uses.
        .push(") l CROSS JOIN LATERAL (SELECT ")
        .push(NAME_DOC)
        .push(" @@ (SELECT websearch_to_tsquery('udam_search', ")
        .bind(Bind::Text(raw.to_owned()))
        .push(
            ")) AS in_name OFFSET 0) n \
             WHERE l.search_doc @@ (SELECT websearch_to_tsquery('udam_search', ",
        )
        .bind(Bind::Text(raw.to_owned()))
        .push(
            ")) WINDOW earlier AS (ORDER BY l.created_at DESC, l.id DESC \
               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)) x \
             WHERE x.names_before < ",
        )
        .bind(Bind::Int(req.limit))
        .push(" AND (x.in_name OR x.others_before < ")
        .bind(Bind::Int(req.limit))
        .push(") ORDER BY x.position DESC, x.id DESC");
    let rows = sql.query().fetch_all(db.pool()).await?;
    let mut walk = FirstWalk {
        name: Vec::new(),
        elsewhere: Vec::new(),
    };
    for row in &rows {
        let found = (Listing::from_row(row)?, row.try_get("position")?);
        if row.try_get("in_name")? {
            walk.name.push(found);
        } else {
            walk.elsewhere.push(found);
        }
    }
    Ok(walk)
}

/// The tier through its GIN indexes, in a transaction held to them.
async fn indexed(db: &Db, page: &TierPage<'_>) -> Result<Vec<(Listing, i64)>, sqlx::Error> {
    let mut tx = forced_index_tx(db).await?;
    let rows = page.pg_indexed().query().fetch_all(&mut *tx).await?;
    tx.commit().await?;
    decode(rows)
}

/// A transaction whose statements read through bitmap index scans only. The
/// planner would pick by its estimates, which is what goes wrong for words that
/// come together; where this is used it is known that the GIN path is the cheap
/// one. The settings last until the end of the transaction only, and are sent
/// with its `BEGIN` (one round trip).
///
/// `random_page_cost` is lowered to what a heap page read from memory costs
/// against an index entry: at the default (4, a disk seek) the planner ANDed a
/// 90,000-entry bitmap of the price index into a name search of 1,257 matches to
/// save heap reads, 25 ms where reading the 1,257 rows takes 3 ms.
async fn forced_index_tx(db: &Db) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
    db.pool()
        .begin_with(
            "BEGIN; SET LOCAL enable_indexscan = off; SET LOCAL enable_seqscan = off; \
             SET LOCAL random_page_cost = 1.1; SET LOCAL plan_cache_mode = force_custom_plan",
        )
        .await
}

fn decode(rows: Vec<sqlx::any::AnyRow>) -> Result<Vec<(Listing, i64)>, sqlx::Error> {
    rows.iter()
        .map(|row| Ok((Listing::from_row(row)?, row.try_get("position")?)))
        .collect()
}

/// `l.search_doc` restricted to the name (weight A, see migration 0002).
const NAME_DOC: &str = "ts_filter(l.search_doc, '{a}')";

impl TierPage<'_> {
    /// `AND` the match of this tier, tested row by row on `l`. With `doc_index`
    /// false, the test of the whole document is written so that no index can serve
    /// it (`IS TRUE`): the name tier's index finds far fewer rows than the whole
    /// document's, and ANDing the two would read the big one for nothing.
    fn tier_test(&self, sql: &mut Sql, doc_index: bool) {
        sql.push(if doc_index {
            " AND l.search_doc @@ q.query AND "
        } else {
            " AND (l.search_doc @@ q.query) IS TRUE AND "
        });
        if self.tier == Tier::Elsewhere {
            sql.push("NOT ");
        }
        sql.push(NAME_DOC).push(" @@ q.query");
    }

    /// `, websearch_to_tsquery(…) AS q(query)`: the search, parsed once.
    fn pg_search(&self, sql: &mut Sql) {
        sql.push(", websearch_to_tsquery('udam_search', ")
            .bind(Bind::Text(self.raw.to_owned()))
            .push(") AS q(query)");
    }

    /// The newest [`WALK_ROWS`] listings that pass the filters, each tested.
    fn pg_walk(&self) -> Sql {
        let mut sql = Sql::default();
        sql.push("SELECT ")
            .push(&qualified_columns("l"))
            .push(", l.created_at AS position FROM (SELECT ")
            .push(&qualified_columns("w"))
            .push(", w.search_doc FROM listings w WHERE 1 = 1");
        push_active_and_filters(&mut sql, "w", self.req.filters);
        if let Some(after) = &self.after {
            keyset(&mut sql, " AND", "w.created_at", '<', after, "w.id");
        }
        sql.push(" ORDER BY w.created_at DESC, w.id DESC LIMIT ")
            .bind(Bind::Int(WALK_ROWS))
            .push(") l");
        self.pg_search(&mut sql);
        sql.push(" WHERE 1 = 1");
        self.tier_test(&mut sql, true);
        sql.push(" ORDER BY l.created_at DESC, l.id DESC LIMIT ")
            .bind(Bind::Int(self.limit));
        sql
    }

    /// The tier through its GIN indexes: the name's for the name tier; the whole
    /// document's with the description's for the other (a listing that matches but
    /// not by its name has one of the searched words in its description, which
    /// keeps a word found only in names from reading every one of them).
    fn pg_indexed(&self) -> Sql {
        let mut sql = Sql::default();
        sql.push("SELECT ")
            .push(&qualified_columns("l"))
            .push(", l.created_at AS position FROM listings l");
        self.pg_search(&mut sql);
        match self.tier {
            Tier::Name => {
                sql.push(" WHERE to_tsvector('udam_search'::regconfig, l.service_name) @@ q.query");
            }
            Tier::Elsewhere => {
                sql.push(", websearch_to_tsquery('udam_search', ")
                    .bind(Bind::Text(self.parsed.websearch_any()))
                    .push(
                        ") AS d(query) \
                         WHERE to_tsvector('udam_search'::regconfig, l.description) @@ d.query",
                    );
            }
        }
        self.tier_test(&mut sql, self.tier == Tier::Elsewhere);
        sql.push(" AND l.status = ")
            .bind(Bind::Text(ListingStatus::Active.as_str().to_owned()));
        // The tier's matches are few here (that is why this path runs): test the
        // filters on them rather than AND a filter's index over the whole table.
        push_filters(&mut sql, "l", self.req.filters, |_| true, true);
        if let Some(after) = &self.after {
            keyset(&mut sql, " AND", "l.created_at", '<', after, "l.id");
        }
        sql.push(" ORDER BY l.created_at DESC, l.id DESC LIMIT ")
            .bind(Bind::Int(self.limit));
        sql
    }

    /// The tier's matches from the FTS5 index, newest (highest rowid) first.
    fn sqlite(&self) -> Sql {
        let expression = match self.tier {
            Tier::Name => self.parsed.fts5_in_name(),
            Tier::Elsewhere => self.parsed.fts5_not_in_name(),
        };
        let mut sql = Sql::default();
        sql.push("SELECT ")
            .push(&qualified_columns("l"))
            .push(
                ", listings_fts.rowid AS position FROM listings_fts \
                 JOIN listings l ON l.rowid = listings_fts.rowid \
                 WHERE listings_fts MATCH ",
            )
            .bind(Bind::Text(expression));
        if let Some(after) = &self.after {
            sql.push(" AND listings_fts.rowid < ")
                .bind(Bind::Int(after.key));
        }
        push_active_and_filters(&mut sql, "l", self.req.filters);
        sql.push(" ORDER BY listings_fts.rowid DESC LIMIT ")
            .bind(Bind::Int(self.limit));
        sql
    }
}
