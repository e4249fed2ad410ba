//! The marketplace: browse and search listings, one listing, and buying it.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::csrf::Protected;
use super::error::{WebError, form_message};
use super::layout::{IdPath, Layout, Notice, WebQuery, listing_status_label, money, render};
use super::money_input::parse_units;
use super::seo::ListingMeta;
use super::session::{SignedIn, Viewer, signin_link};
use crate::error::ApiError;
use crate::listings::highlight::{self, Segment};
use crate::listings::model::Listing;
use crate::listings::model::ListingView;
use crate::listings::{BrowseInput, BrowseParams};
use crate::state::AppState;
use crate::vocab::{Delivery, ListingAvailability, ListingStatus};

/// Listings per page on the home page.
const PAGE_SIZE: i64 = 12;

/// `?q=&sort=&in_stock=1&delivery=&cursor=` of the home page.
#[derive(Deserialize)]
pub struct BrowseQuery {
    q: Option<String>,
    sort: Option<String>,
    in_stock: Option<String>,
    /// `key`, `gateway`, or empty for both.
    delivery: Option<String>,
    cursor: Option<String>,
}

/// A listing as a card on the home page.
struct Card {
    id: String,
    service_name: String,
    description: String,
    price: String,
    unit_description: String,
    units_left: i64,
    status: String,
    status_label: &'static str,
    /// The name and description as runs of text, search matches marked; the
    /// template escapes every run and adds the `<mark>` itself.
    name_marks: Vec<Segment>,
    desc_marks: Vec<Segment>,
}

impl Card {
    fn new(view: &ListingView) -> Self {
        let whole = |text: &str| {
            vec![Segment {
                text: text.to_owned(),
                mark: false,
            }]
        };
        Self {
            name_marks: whole(&view.service_name),
            desc_marks: whole(&view.description),
            id: view.id.clone(),
            service_name: view.service_name.clone(),
            description: view.description.clone(),
            price: money(view.price_cents, &view.currency),
            unit_description: view.unit_description.clone(),
            units_left: view.available_units,
            status: view.status.as_str().to_owned(),
            status_label: listing_status_label(view.status),
        }
    }

    /// A card with the searched words marked, showing the part of the description
    /// around the first match.
    fn searched(view: &ListingView, words: &[String]) -> Self {
        Self {
            name_marks: highlight::mark(&view.service_name, words),
            desc_marks: highlight::snippet(&view.description, words),
            ..Self::new(view)
        }
    }
}

/// An option of a menu of the search form.
struct MenuOption {
    value: &'static str,
    label: &'static str,
    selected: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "home.html")]
struct HomePage {
    layout: Layout,
    q: String,
    /// Absolute URL of the unfiltered first page (search results are not indexed).
    canonical: String,
    sorts: Vec<MenuOption>,
    deliveries: Vec<MenuOption>,
    cards: Vec<Card>,
    in_stock: bool,
    next_href: Option<String>,
    paged: bool,
}

/// `GET /`: active listings, newest first or by price, with search and keyset pages.
pub async fn home(
    State(state): State<AppState>,
    Viewer(viewer): Viewer,
    notice: Notice,
    WebQuery(query): WebQuery<BrowseQuery>,
) -> Result<Response, WebError> {
    let q = query.q.as_deref().unwrap_or_default().trim();
    // "Best match" needs words; without them the menu's choice falls back to newest.
    let sort = match query.sort.as_deref().filter(|s| !s.is_empty()) {
        Some("relevance") | None if q.is_empty() => "newest",
        None => "relevance",
        Some(sort) => sort,
    };
    let in_stock = query.in_stock.as_deref() == Some("1");
    // The menu's "any" is an empty value; the API refuses an empty word.
    let delivery = query.delivery.as_deref().filter(|d| !d.is_empty());
    let params = BrowseParams::parse(BrowseInput {
        q: Some(q),
        sort: Some(sort),
        in_stock: Some(in_stock),
        delivery,
        limit: Some(PAGE_SIZE),
        cursor: query.cursor.as_deref(),
        ..BrowseInput::default()
    })?;
    let page = crate::listings::browse(&state, &params).await?;
    let words = params.search.highlight_words();
    let next_href = page.next_cursor.as_deref().map(|cursor| {
        let mut pairs = vec![("sort", sort), ("cursor", cursor)];
        if !params.q.is_empty() {
            pairs.insert(0, ("q", params.q.as_str()));
        }
        if in_stock {
            pairs.push(("in_stock", "1"));
        }
        if let Some(delivery) = delivery {
            pairs.push(("delivery", delivery));
        }
        format!(
            "/?{}",
            serde_urlencoded::to_string(pairs).unwrap_or_default()
        )
    });
    let sorts = [
        ("relevance", "Best match"),
        ("newest", "Newest first"),
        ("price_asc", "Price: low to high"),
        ("price_desc", "Price: high to low"),
    ]
    .into_iter()
    .filter(|(value, _)| *value != "relevance" || !params.q.is_empty())
    .map(|(value, label)| MenuOption {
        value,
        label,
        selected: value == sort,
    })
    .collect();
    let deliveries = [
        ("", "Any delivery"),
        (Delivery::Key.as_str(), "API key"),
        (Delivery::Gateway.as_str(), "Metered gateway"),
    ]
    .into_iter()
    .map(|(value, label)| MenuOption {
        value,
        label,
        selected: Some(value).filter(|v| !v.is_empty()) == delivery,
    })
    .collect();
    let page = HomePage {
        layout: Layout::new(viewer.as_ref(), "browse").with_notice(notice),
        q: params.q.clone(),
        canonical: format!("{}/", state.public_url().trim_end_matches('/')),
        sorts,
        deliveries,
        cards: page
            .items
            .iter()
            .map(|item| match params.q.is_empty() {
                true => Card::new(&item.listing),
                false => Card::searched(&item.listing, &words),
            })
            .collect(),
        in_stock,
        next_href,
        paged: query.cursor.as_deref().is_some_and(|c| !c.is_empty()),
    };
    Ok(render(StatusCode::OK, &page))
}

#[derive(Template, WebTemplate)]
#[template(path = "listing.html")]
struct ListingPage {
    layout: Layout,
    card: Card,
    meta: ListingMeta,
    created: String,
    /// Can this viewer buy now (signed in, not the seller, for sale)?
    can_buy: bool,
    is_seller: bool,
    signed_in: bool,
    signin_href: String,
    max_units: i64,
    units: String,
    instant_limit: String,
    error: Option<String>,
}

/// Renders a listing's page, with an error from a failed purchase when there is one.
async fn listing_page(
    state: &AppState,
    viewer: Option<&SignedIn>,
    listing: &Listing,
    notice: Notice,
    failed: Option<(StatusCode, String, String)>,
) -> Response {
    let view = listing.view();
    let is_seller = viewer.is_some_and(|v| v.user.id == listing.seller_id);
    let for_sale = view.status == ListingAvailability::Active;
    let (status, units, error) = match failed {
        Some((status, units, error)) => (status, units, Some(error)),
        None => (StatusCode::OK, "1".to_owned(), None),
    };
    let page = ListingPage {
        layout: Layout::new(viewer, "browse").with_notice(notice),
        card: Card::new(&view),
        meta: ListingMeta::new(state.public_url(), listing),
        created: super::layout::when(listing.created_at),
        can_buy: viewer.is_some() && !is_seller && for_sale,
        is_seller,
        signed_in: viewer.is_some(),
        signin_href: signin_link(&format!("/listings/{}", listing.id)),
        max_units: view
            .available_units
            .min(state.config.max_units_per_order)
            .max(1),
        units,
        instant_limit: money(state.config.instant_limit_cents, &view.currency),
        error,
    };
    render(status, &page)
}

/// `GET /listings/{id}`.
pub async fn detail(
    State(state): State<AppState>,
    Viewer(viewer): Viewer,
    notice: Notice,
    IdPath(id): IdPath,
) -> Result<Response, WebError> {
    let listing = crate::listings::get(&state, &id).await?;
    // As in the API, an archived listing is gone for buyers; its seller still sees it.
    let is_seller = viewer
        .as_ref()
        .is_some_and(|v| v.user.id == listing.seller_id);
    if listing.status == ListingStatus::Archived && !is_seller {
        return Err(ApiError::not_found("listing").into());
    }
    Ok(listing_page(&state, viewer.as_ref(), &listing, notice, None).await)
}

/// The buy form.
#[derive(Deserialize)]
pub struct BuyForm {
    #[serde(default)]
    units: String,
}

/// `POST /listings/{id}/buy`: places the order. Instant orders land on the tokens
/// page; others go to checkout through `/orders/{id}/pay`.
pub async fn buy(
    State(state): State<AppState>,
    IdPath(id): IdPath,
    Protected { me, form }: Protected<BuyForm>,
) -> Result<Response, WebError> {
    super::form_limits::order(&state, &me.user.id).await?;
    let placed = match parse_units(&form.units, "units") {
        Ok(units) => crate::orders::place(&state, &me.user, &id, units).await,
        Err(err) => Err(err),
    };
    match placed {
        Ok(bought) if bought.requires_payment => {
            Ok(Redirect::to(&format!("/orders/{}/pay", bought.order.id)).into_response())
        }
        Ok(bought) => Ok(Redirect::to(&format!(
            "/tokens?notice=order_fulfilled&order={}",
            bought.order.id
        ))
        .into_response()),
        // A refused order (sold out, paused, bad units) is explained on the listing.
        Err(err) if err.status().is_client_error() && err.status() != StatusCode::NOT_FOUND => {
            let listing = crate::listings::get(&state, &id).await?;
            let failed = (err.status(), form.units, form_message(&err));
            Ok(listing_page(&state, Some(&me), &listing, Notice::default(), Some(failed)).await)
        }
        Err(err) => Err(err.into()),
    }
}
