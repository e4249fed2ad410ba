//! Relay-style connections over the REST keyset cursors: `first` is REST's `limit`
//! (1 to 100, default 20), `after` is REST's `cursor`, and `pageInfo.endCursor` is
//! REST's `next_cursor`, so a cursor from either API continues the other's list.

use async_graphql::{Context, ID, InputObject, SimpleObject};

use super::context::state;
use super::cost::COMPLEXITY_PER_CALL;
use super::error::gql;
use super::types::{Listing, Order, Token};
use crate::listings::{BrowseInput, BrowseParams};

/// Where a page ends.
#[derive(SimpleObject)]
pub struct PageInfo {
    /// Whether another page follows.
    pub has_next_page: bool,
    /// Pass as `after` for the next page; null on the last page.
    pub end_cursor: Option<String>,
}

impl PageInfo {
    /// The page info of a REST `next_cursor`.
    pub fn of(next_cursor: Option<String>) -> Self {
        Self {
            has_next_page: next_cursor.is_some(),
            end_cursor: next_cursor,
        }
    }
}

/// A page of listings.
#[derive(SimpleObject)]
pub struct ListingConnection {
    /// The listings of this page.
    pub nodes: Vec<Listing>,
    /// Where the page ends.
    pub page_info: PageInfo,
}

/// A page of orders, newest first.
#[derive(SimpleObject)]
pub struct OrderConnection {
    /// The orders of this page.
    pub nodes: Vec<Order>,
    /// Where the page ends.
    pub page_info: PageInfo,
}

/// A page of tokens, newest first.
#[derive(SimpleObject)]
pub struct TokenConnection {
    /// The tokens of this page.
    pub nodes: Vec<Token>,
    /// Where the page ends.
    pub page_info: PageInfo,
}

/// Search text, sort order and filters of a listings page (REST's query parameters).
#[derive(Default, InputObject)]
pub struct ListingFilter {
    /// Search text, matched against name (weighted higher) and description.
    pub q: Option<String>,
    /// `relevance` (default with `q`; needs `q`), `newest` (default without `q`),
    /// `price_asc` or `price_desc`.
    pub sort: Option<String>,
    /// Only this seller's listings.
    pub seller_id: Option<ID>,
    /// Only listings priced in this currency (ISO 4217, any case).
    pub currency: Option<String>,
    /// Lowest price per unit, inclusive, in minor units.
    pub min_price_cents: Option<i64>,
    /// Highest price per unit, inclusive, in minor units.
    pub max_price_cents: Option<i64>,
    /// `true`: only listings with units left.
    pub in_stock: Option<bool>,
    /// `key` or `gateway`: only listings delivered this way.
    pub delivery: Option<String>,
}

/// The complexity of a page: each node costs what its selection costs. `first` is
/// taken as asked (an out-of-range value is refused later, by the service).
pub fn page_cost(first: Option<i32>, child_complexity: usize) -> usize {
    let first = first.map_or(20, |n| usize::try_from(n).unwrap_or(1).max(1));
    first.saturating_mul(child_complexity).saturating_add(1)
}

/// The complexity of a page a nested field fetches with a query of its own, once per
/// parent (`Seller.listings`): its page plus a whole REST call's worth
/// ([`COMPLEXITY_PER_CALL`]), so that a page of 20 listings each asking for its
/// seller's listings is charged as the 21 searches it runs, not as one page.
pub fn nested_page_cost(first: Option<i32>, child_complexity: usize) -> usize {
    page_cost(first, child_complexity).saturating_add(COMPLEXITY_PER_CALL)
}

/// A page of active listings, through the same validation and query as
/// `GET /api/v1/listings`.
pub async fn browse(
    ctx: &Context<'_>,
    filter: ListingFilter,
    first: Option<i32>,
    after: Option<String>,
) -> async_graphql::Result<ListingConnection> {
    let state = state(ctx)?;
    let params = BrowseParams::parse(BrowseInput {
        q: filter.q.as_deref(),
        sort: filter.sort.as_deref(),
        seller_id: filter.seller_id.as_ref().map(|id| id.0.as_str()),
        currency: filter.currency.as_deref(),
        min_price_cents: filter.min_price_cents,
        max_price_cents: filter.max_price_cents,
        in_stock: filter.in_stock,
        delivery: filter.delivery.as_deref(),
        limit: first.map(i64::from),
        cursor: after.as_deref(),
    })
    .map_err(gql)?;
    let page = crate::listings::browse(state, &params).await.map_err(gql)?;
    Ok(ListingConnection {
        nodes: page
            .items
            .into_iter()
            .map(|item| Listing {
                view: item.listing,
                highlight: item.highlight,
            })
            .collect(),
        page_info: PageInfo::of(page.next_cursor),
    })
}

/// REST's page parameters from a connection's arguments.
pub fn page_query(first: Option<i32>, after: Option<String>) -> crate::pagination::PageQuery {
    crate::pagination::PageQuery {
        limit: first.map(i64::from),
        cursor: after,
    }
}
