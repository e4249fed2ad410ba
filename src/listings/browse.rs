//! Browsing and searching listings: validated parameters, opaque cursors, pages.
//!
//! Shared by the JSON API and the web pages. The cursor names its sort order and
//! carries the last row's sort key (relevance, time or price, all integers) and id,
//! so pages never repeat or skip rows, whatever the order.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use utoipa::ToSchema;

use super::highlight::Highlight;
use super::model::{ListingView, check_currency};
use super::query::SearchText;
use super::search::{self, Filters};
use super::store::{After, Sort};
use crate::error::ApiError;
use crate::state::AppState;
use crate::vocab::Delivery;

/// A page of listings.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListingPage {
    /// The listings of this page.
    pub items: Vec<ListingItem>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// A listing in a page, with its highlights when the page answers a search.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListingItem {
    /// The listing.
    #[serde(flatten)]
    pub listing: ListingView,
    /// Matched words (present only when `q` was given).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub highlight: Option<Highlight>,
}

/// Raw browse parameters, as received.
#[derive(Clone, Copy, Debug, Default)]
pub struct BrowseInput<'a> {
    /// Search text.
    pub q: Option<&'a str>,
    /// `relevance`, `newest`, `price_asc` or `price_desc`.
    pub sort: Option<&'a str>,
    /// Seller filter.
    pub seller_id: Option<&'a str>,
    /// Currency filter.
    pub currency: Option<&'a str>,
    /// Lowest price.
    pub min_price_cents: Option<i64>,
    /// Highest price.
    pub max_price_cents: Option<i64>,
    /// Only listings with units left.
    pub in_stock: Option<bool>,
    /// `key` or `gateway`: only listings delivered this way.
    pub delivery: Option<&'a str>,
    /// Page size.
    pub limit: Option<i64>,
    /// Cursor from the previous page.
    pub cursor: Option<&'a str>,
}

/// Validated browse parameters.
#[derive(Clone, Debug)]
pub struct BrowseParams {
    /// Search text, trimmed (may be empty).
    pub q: String,
    /// The search text, parsed.
    pub search: SearchText,
    /// Sort order.
    pub sort: Sort,
    /// Filters.
    pub filters: Filters,
    /// Page size.
    pub limit: i64,
    /// Keyset position.
    pub after: Option<After>,
}

impl BrowseParams {
    /// Validates raw query parameters. With search text the default order is
    /// relevance, otherwise newest first.
    pub fn parse(input: BrowseInput<'_>) -> Result<Self, ApiError> {
        let q = input.q.unwrap_or_default();
        if q.chars().count() > 200 || q.contains('\0') {
            return Err(ApiError::validation(
                "q",
                "must be at most 200 characters, without NUL",
            ));
        }
        let q = q.trim().to_owned();
        let default_sort = if q.is_empty() { "newest" } else { "relevance" };
        let sort = match input.sort.unwrap_or(default_sort) {
            "relevance" if !q.is_empty() => Sort::Relevance,
            "relevance" => {
                return Err(ApiError::validation(
                    "sort",
                    "relevance needs search text (q)",
                ));
            }
            "newest" => Sort::Newest,
            "price_asc" => Sort::PriceAsc,
            "price_desc" => Sort::PriceDesc,
            _ => {
                return Err(ApiError::validation(
                    "sort",
                    "must be relevance, newest, price_asc or price_desc",
                ));
            }
        };
        let limit = input.limit.unwrap_or(20);
        if !(1..=100).contains(&limit) {
            return Err(ApiError::validation("limit", "must be 1 to 100"));
        }
        let after = input
            .cursor
            .filter(|c| !c.is_empty())
            .map(|c| decode_cursor(c, sort))
            .transpose()?;
        Ok(Self {
            search: SearchText::parse(&q),
            q,
            sort,
            filters: parse_filters(&input)?,
            limit,
            after,
        })
    }

    /// A canonical cache key for these parameters.
    pub fn cache_key(&self) -> String {
        format!(
            "{:?}|{}|{:?}|{}|{:?}",
            self.sort, self.limit, self.filters, self.q, self.after
        )
    }
}

fn parse_filters(input: &BrowseInput<'_>) -> Result<Filters, ApiError> {
    let price = |field: &'static str, value: Option<i64>| match value {
        Some(p) if p < 0 => Err(ApiError::validation(field, "must be 0 or more")),
        _ => Ok(value),
    };
    let min_price_cents = price("min_price_cents", input.min_price_cents)?;
    let max_price_cents = price("max_price_cents", input.max_price_cents)?;
    if let (Some(min), Some(max)) = (min_price_cents, max_price_cents)
        && min > max
    {
        return Err(ApiError::validation(
            "max_price_cents",
            "must not be below min_price_cents",
        ));
    }
    Ok(Filters {
        currency: nonempty(input.currency).map(check_currency).transpose()?,
        min_price_cents,
        max_price_cents,
        in_stock: input.in_stock.unwrap_or(false),
        seller_id: nonempty(input.seller_id).map(str::to_owned),
        // Strict, as `sort` is: an empty value is not "any".
        delivery: input
            .delivery
            .map(|d| {
                d.parse::<Delivery>()
                    .map_err(|_| ApiError::validation("delivery", "must be key or gateway"))
            })
            .transpose()?,
    })
}

/// A trimmed parameter, `None` when absent or blank.
fn nonempty(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

fn sort_tag(sort: Sort) -> &'static str {
    match sort {
        Sort::Relevance => "r",
        Sort::Newest => "n",
        Sort::PriceAsc => "a",
        Sort::PriceDesc => "d",
    }
}

fn encode_cursor(sort: Sort, after: &After) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{}:{}", sort_tag(sort), after.key, after.id))
}

fn decode_cursor(cursor: &str, sort: Sort) -> Result<After, ApiError> {
    let bad = || ApiError::validation("cursor", "is not a cursor from this listing's sort order");
    let raw = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    let mut parts = text.splitn(3, ':');
    let (tag, key, id) = (parts.next(), parts.next(), parts.next());
    match (tag, key.and_then(|k| k.parse::<i64>().ok()), id) {
        // Only an id's shape may reach the query (PostgreSQL refuses a NUL byte).
        (Some(tag), Some(key), Some(id))
            if tag == sort_tag(sort) && crate::ids::is_well_formed(id) =>
        {
            Ok(After {
                key,
                id: id.to_owned(),
            })
        }
        _ => Err(bad()),
    }
}

/// One page of active listings.
pub async fn browse(state: &AppState, params: &BrowseParams) -> Result<ListingPage, ApiError> {
    let searching = !params.q.is_empty();
    let mut rows = search::page(
        &state.db,
        &search::Request {
            search: searching.then_some((params.q.as_str(), &params.search)),
            filters: &params.filters,
            sort: params.sort,
            after: params.after.clone(),
            limit: params.limit + 1,
        },
    )
    .await?;
    let has_more = rows.len() as i64 > params.limit;
    rows.truncate(params.limit as usize);
    let next_cursor = has_more.then(|| rows.last()).flatten().map(|(last, key)| {
        encode_cursor(
            params.sort,
            &After {
                key: *key,
                id: last.id.clone(),
            },
        )
    });
    let words = params.search.highlight_words();
    let items = rows
        .iter()
        .map(|(listing, _)| ListingItem {
            listing: listing.view(),
            highlight: searching
                .then(|| Highlight::new(&listing.service_name, &listing.description, &words)),
        })
        .collect();
    Ok(ListingPage { items, next_cursor })
}
