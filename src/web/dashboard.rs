//! The seller's dashboard: what they earned (cards per currency, revenue per day,
//! units sold per listing, top buyers, payout history: see [`insights`]), their
//! listings (edit, pause or resume, archive; gateway usage per listing), their sales,
//! and revoking the token a sale issued.
//!
//! [`insights`]: super::insights

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use sqlx::Row;

use super::auth::NoFields;
use super::chart::BarChart;
use super::csrf::Protected;
use super::error::{WebError, form_message};
use super::insights::{self, SellerInsights, range_days};
use super::layout::{IdPath, Layout, Notice, WebQuery, listing_status_label, money, render};
use super::money_input::{parse_price, parse_units, price_text};
use super::orders::OrderRow;
use super::session::SignedIn;
use crate::db::Db;
use crate::error::ApiError;
use crate::gateway::store::UsageScope;
use crate::listings::model::{Listing, UpdateListing};
use crate::orders::store::{Party, list as list_orders};
use crate::pagination::{Page, PageQuery};
use crate::state::AppState;

/// A page of a seller's own listings, every status, newest first.
pub async fn seller_listings(
    db: &Db,
    seller_id: &str,
    page: &Page,
) -> Result<Vec<Listing>, sqlx::Error> {
    const SQL: &str = concat!(
        "SELECT ",
        crate::listing_columns!(),
        " FROM listings WHERE seller_id = $1 \
         AND (created_at < $2 OR (created_at = $2 AND id < $3)) \
         ORDER BY created_at DESC, id DESC LIMIT $4"
    );
    let rows = sqlx::query(SQL)
        .bind(seller_id)
        .bind(page.before.0)
        .bind(&page.before.1)
        .bind(page.limit + 1)
        .fetch_all(db.pool())
        .await?;
    rows.iter().map(Listing::from_row).collect()
}

/// The grant (token) an order issued, if any: `(grant id, status)`.
pub async fn grant_of_order(
    db: &Db,
    order_id: &str,
) -> Result<Option<(String, String)>, sqlx::Error> {
    let row = sqlx::query("SELECT id, status FROM grants WHERE order_id = $1")
        .bind(order_id)
        .fetch_optional(db.pool())
        .await?;
    row.map(|r| Ok((r.try_get("id")?, r.try_get("status")?)))
        .transpose()
}

/// `?lcursor=&scursor=&range=`: the listings and sales pages shown, and the revenue
/// window (`30` or `90` days).
#[derive(Default, Deserialize)]
pub struct DashQuery {
    lcursor: Option<String>,
    scursor: Option<String>,
    range: Option<String>,
}

/// One of the seller's listings.
struct ListingRow {
    id: String,
    service_name: String,
    description: String,
    unit_description: String,
    price: String,
    /// The price as the edit form shows it (`2.50`).
    price_text: String,
    currency_upper: String,
    units_left: i64,
    status: String,
    status_label: &'static str,
    /// Gateway listings: requests per day over every buyer key.
    usage: Option<BarChart>,
    /// Gateway listings: `used of allowed` requests.
    usage_totals: Option<String>,
}

impl ListingRow {
    fn new(listing: &Listing) -> Self {
        let view = listing.view();
        let price_text = crate::money::currency(&listing.currency)
            .map(|c| price_text(listing.price_cents, c))
            .unwrap_or_else(|| listing.price_cents.to_string());
        Self {
            id: view.id,
            service_name: view.service_name,
            description: view.description,
            unit_description: view.unit_description,
            price: money(view.price_cents, &view.currency),
            price_text,
            currency_upper: view.currency.to_ascii_uppercase(),
            units_left: view.available_units,
            status_label: listing_status_label(view.status),
            status: listing.status.as_str().to_owned(),
            usage: None,
            usage_totals: None,
        }
    }
}

/// One sale, and the token it issued.
struct SaleRow {
    order: OrderRow,
    grant_id: Option<String>,
    grant_active: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    layout: Layout,
    error: Option<String>,
    listings: Vec<ListingRow>,
    listings_next: Option<String>,
    sales: Vec<SaleRow>,
    sales_next: Option<String>,
    /// On an older page: the first page, in the same revenue window.
    newest: Option<String>,
    insights: SellerInsights,
}

/// Builds and renders the dashboard (with an error from a failed action, if any).
async fn dashboard(
    state: &AppState,
    me: &SignedIn,
    query: &DashQuery,
    notice: Notice,
    failed: Option<(StatusCode, String)>,
) -> Result<Response, WebError> {
    let page_of = |cursor: &Option<String>| {
        PageQuery {
            limit: None,
            cursor: cursor.clone(),
        }
        .parse()
    };
    let lpage = page_of(&query.lcursor)?;
    let spage = page_of(&query.scursor)?;
    let listings = seller_listings(&state.db, &me.user.id, &lpage).await?;
    let (listings, lnext) =
        crate::pagination::finish(listings, lpage.limit, |l| (l.created_at, l.id.clone()));
    let orders = list_orders(&state.db, Party::Seller, &me.user.id, &spage).await?;
    let (orders, snext) =
        crate::pagination::finish(orders, spage.limit, |o| (o.created_at, o.id.clone()));
    let mut sales = Vec::with_capacity(orders.len());
    for order in &orders {
        let grant = grant_of_order(&state.db, &order.id).await?;
        sales.push(SaleRow {
            order: OrderRow::new(order, true),
            grant_active: grant
                .as_ref()
                .is_some_and(|(_, s)| s == crate::vocab::GrantStatus::Active.as_str()),
            grant_id: grant.map(|(id, _)| id),
        });
    }
    let range = range_days(query.range.as_deref());
    let link = |key: &str, cursor: Option<String>| {
        cursor.map(|c| format!("/dashboard?range={range}&{key}={c}"))
    };
    let mut rows = Vec::with_capacity(listings.len());
    for listing in &listings {
        rows.push(with_usage(state, ListingRow::new(listing), listing).await?);
    }
    let (status, error) = match failed {
        Some((status, message)) => (status, Some(message)),
        None => (StatusCode::OK, None),
    };
    let page = DashboardPage {
        layout: Layout::new(Some(me), "dashboard").with_notice(notice),
        error,
        listings: rows,
        listings_next: link("lcursor", lnext),
        sales,
        sales_next: link("scursor", snext),
        newest: (query.lcursor.is_some() || query.scursor.is_some())
            .then(|| format!("/dashboard?range={range}")),
        insights: insights::seller(state, &me.user.id, range).await?,
    };
    Ok(render(status, &page))
}

/// Adds a gateway listing's usage (chart and totals) to its row.
async fn with_usage(
    state: &AppState,
    mut row: ListingRow,
    listing: &Listing,
) -> Result<ListingRow, WebError> {
    if listing.delivery != crate::vocab::Delivery::Gateway {
        return Ok(row);
    }
    let chart = insights::usage_chart(
        &state.db,
        UsageScope::Listing(&listing.id),
        format!("usage-{}", listing.id),
        format!("Gateway requests per day, {}", listing.service_name),
    )
    .await?;
    let (used, allowed) = crate::gateway::store::listing_totals(&state.db, &listing.id).await?;
    row.usage = Some(chart);
    row.usage_totals = Some(format!("{used} of {allowed} requests used"));
    Ok(row)
}

/// `GET /dashboard`.
pub async fn page(
    State(state): State<AppState>,
    me: SignedIn,
    notice: Notice,
    WebQuery(query): WebQuery<DashQuery>,
) -> Result<Response, WebError> {
    dashboard(&state, &me, &query, notice, None).await
}

/// After an action: back to the dashboard with a notice, or the dashboard again
/// with the reason it was refused.
async fn after(
    state: &AppState,
    me: &SignedIn,
    done: Result<(), ApiError>,
    notice: &str,
) -> Result<Response, WebError> {
    match done {
        Ok(()) => Ok(Redirect::to(&format!("/dashboard?notice={notice}")).into_response()),
        Err(err) if err.status().is_client_error() && err.status() != StatusCode::NOT_FOUND => {
            let failed = Some((err.status(), form_message(&err)));
            dashboard(state, me, &DashQuery::default(), Notice::default(), failed).await
        }
        Err(err) => Err(err.into()),
    }
}

/// The edit form. The `orig_*` fields are the values the form was loaded with:
/// only fields the seller actually changed are sent, so an edit of the price
/// cannot also put back units that buyers took meanwhile.
#[derive(Default, Deserialize)]
#[serde(default)]
pub struct EditForm {
    price: String,
    units: String,
    description: String,
    orig_price: String,
    orig_units: String,
    orig_description: String,
}

/// Line breaks as the browser sends them (CRLF) or as stored (LF) compare equal.
pub fn lf(text: &str) -> String {
    text.replace("\r\n", "\n")
}

fn changes(form: &EditForm, listing: &Listing) -> Result<UpdateListing, ApiError> {
    let currency = crate::money::currency(&listing.currency)
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("listing has an unknown currency")))?;
    let mut update = UpdateListing::default();
    if form.price.trim() != form.orig_price.trim() {
        update.price_cents = Some(parse_price(&form.price, currency)?);
    }
    if form.units.trim() != form.orig_units.trim() {
        update.available_units = Some(parse_units(&form.units, "units")?);
    }
    if lf(&form.description).trim() != lf(&form.orig_description).trim() {
        update.description = Some(lf(&form.description));
    }
    Ok(update)
}

/// `POST /dashboard/listings/{id}/edit`: price, units, description.
pub async fn edit(
    State(state): State<AppState>,
    IdPath(id): IdPath,
    Protected { me, form }: Protected<EditForm>,
) -> Result<Response, WebError> {
    let listing = crate::listings::get(&state, &id).await?;
    let done = match changes(&form, &listing) {
        Ok(update) => crate::listings::update(&state, &me.user, &id, update)
            .await
            .map(drop),
        Err(err) => Err(err),
    };
    after(&state, &me, done, "listing_updated").await
}

/// The pause / resume form.
#[derive(Deserialize)]
pub struct StatusForm {
    #[serde(default)]
    status: String,
}

/// `POST /dashboard/listings/{id}/status`: `active` or `paused`.
pub async fn set_status(
    State(state): State<AppState>,
    IdPath(id): IdPath,
    Protected { me, form }: Protected<StatusForm>,
) -> Result<Response, WebError> {
    let notice = if form.status == crate::vocab::ListingStatus::Paused.as_str() {
        "listing_paused"
    } else {
        "listing_resumed"
    };
    let update = UpdateListing {
        status: Some(form.status),
        ..UpdateListing::default()
    };
    let done = crate::listings::update(&state, &me.user, &id, update)
        .await
        .map(drop);
    after(&state, &me, done, notice).await
}

/// `POST /dashboard/listings/{id}/archive`.
pub async fn archive(
    State(state): State<AppState>,
    IdPath(id): IdPath,
    Protected { me, .. }: Protected<NoFields>,
) -> Result<Response, WebError> {
    let done = crate::listings::archive(&state, &me.user, &id).await;
    after(&state, &me, done, "listing_archived").await
}

/// `POST /dashboard/tokens/{id}/revoke`: the seller revokes a buyer's token.
pub async fn revoke_token(
    State(state): State<AppState>,
    IdPath(id): IdPath,
    Protected { me, .. }: Protected<NoFields>,
) -> Result<Response, WebError> {
    let done = crate::tokens::revoke(&state, &me.user, &id).await;
    after(&state, &me, done, "token_revoked").await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing() -> Listing {
        Listing {
            id: "lst_1".into(),
            seller_id: "usr_1".into(),
            service_name: "x".into(),
            description: "a\nb".into(),
            unit_description: "per unit".into(),
            price_cents: 250,
            currency: "usd".into(),
            available_units: 10,
            status: crate::vocab::ListingStatus::Active,
            api_key_hint: "****".into(),
            created_at: 0,
            updated_at: 0,
            delivery: crate::vocab::Delivery::Key,
            upstream_base_url: None,
            inject_header: None,
            inject_template: None,
            inject_query: None,
            requests_per_unit: None,
            meter: crate::gateway::vocab::Meter::All,
        }
    }

    #[test]
    fn only_changed_fields_are_sent() {
        let form = EditForm {
            price: "3.00".into(),
            units: "10".into(),
            description: "a\r\nb".into(),
            orig_price: "2.50".into(),
            orig_units: "10".into(),
            orig_description: "a\nb".into(),
        };
        let update = changes(&form, &listing()).unwrap();
        assert_eq!(update.price_cents, Some(300));
        assert_eq!(update.available_units, None, "units left alone");
        assert_eq!(update.description, None, "line endings are not a change");
    }

    #[test]
    fn bad_prices_are_refused() {
        let form = EditForm {
            price: "two".into(),
            orig_price: "2.50".into(),
            ..EditForm::default()
        };
        assert!(changes(&form, &listing()).is_err());
    }
}
