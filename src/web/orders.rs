//! The buyer's orders: their spending per month (a chart per currency), the list,
//! cancelling a pending one, going to checkout, and the pages a payment provider
//! sends the buyer back to.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use super::auth::NoFields;
use super::chart::BarChart;
use super::csrf::Protected;
use super::error::WebError;
use super::layout::{IdPath, Layout, Notice, WebQuery, money, order_status_label, render, when};
use super::session::SignedIn;
use crate::orders::model::Order;
use crate::orders::store::{Party, list as list_orders};
use crate::pagination::PageQuery;
use crate::state::AppState;
use crate::vocab::{OrderStatus, PaymentStatus};

/// An order as a row of a table.
pub struct OrderRow {
    /// Order id.
    pub id: String,
    /// The listing bought.
    pub listing_id: String,
    /// The listing's name when ordered.
    pub service_name: String,
    /// Units bought.
    pub units: i64,
    /// The total, formatted in its currency.
    pub total: String,
    /// Stored status (the template styles by it).
    pub status: &'static str,
    /// Status as people read it.
    pub status_label: &'static str,
    /// Where to pay, while payment is pending.
    pub checkout_url: Option<String>,
    /// When the reservation lapses, while payment is pending.
    pub expires: Option<String>,
    /// When it was placed.
    pub created: String,
    /// How it is (or will be) paid.
    pub payment_label: &'static str,
}

impl OrderRow {
    /// The row of an order, worded for its buyer (`seller_view` false) or seller.
    pub fn new(order: &Order, seller_view: bool) -> Self {
        let pending = order.status == OrderStatus::PendingPayment;
        Self {
            id: order.id.clone(),
            listing_id: order.listing_id.clone(),
            service_name: order.service_name.clone(),
            units: order.units,
            total: money(order.total_cents, &order.currency),
            status: order.status.as_str(),
            status_label: order_status_label(order.status),
            // The seller never gets the buyer's checkout link.
            checkout_url: order
                .checkout_url
                .clone()
                .filter(|_| pending && !seller_view),
            expires: order.expires_at.filter(|_| pending).map(when),
            created: when(order.created_at),
            payment_label: match order.payment_status {
                // Nothing is owed, so no settlement ever claims it (payments::settlement).
                PaymentStatus::Deferred if order.total_cents == 0 => "Free",
                PaymentStatus::Deferred if seller_view => "Billed to the buyer's balance",
                PaymentStatus::Deferred => "On your balance",
                PaymentStatus::Unpaid => "Unpaid",
                PaymentStatus::Paid => "Paid",
                PaymentStatus::Refunded => "Refunded",
            },
        }
    }

    /// True while the order waits for payment.
    pub fn pending(&self) -> bool {
        self.status == OrderStatus::PendingPayment.as_str()
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "orders.html")]
struct OrdersPage {
    layout: Layout,
    rows: Vec<OrderRow>,
    next_href: Option<String>,
    paged: bool,
    /// Spending per month, one chart per currency.
    spending: Vec<BarChart>,
}

/// `GET /orders`: the buyer's orders, newest first.
pub async fn list(
    State(state): State<AppState>,
    me: SignedIn,
    notice: Notice,
    WebQuery(query): WebQuery<PageQuery>,
) -> Result<Response, WebError> {
    let page = query.parse()?;
    let rows = list_orders(&state.db, Party::Buyer, &me.user.id, &page).await?;
    let (rows, next) =
        crate::pagination::finish(rows, page.limit, |o| (o.created_at, o.id.clone()));
    let page = OrdersPage {
        layout: Layout::new(Some(&me), "orders").with_notice(notice),
        rows: rows.iter().map(|o| OrderRow::new(o, false)).collect(),
        next_href: next.map(|c| format!("/orders?cursor={c}")),
        paged: query.cursor.is_some_and(|c| !c.is_empty()),
        spending: super::insights::spending(&state.db, &me.user.id).await?,
    };
    Ok(render(StatusCode::OK, &page))
}

/// `POST /orders/{id}/cancel`: releases a pending order's units.
pub async fn cancel(
    State(state): State<AppState>,
    IdPath(id): IdPath,
    Protected { me, .. }: Protected<NoFields>,
) -> Result<Response, WebError> {
    crate::orders::cancel(&state, &me.user, &id).await?;
    Ok(Redirect::to("/orders?notice=order_cancelled").into_response())
}

/// The page that hands a buyer on to a provider's checkout (an immediate refresh,
/// plus a link). A page on this site does the hand-off because the CSP's
/// `form-action 'self'` forbids a form POST from redirecting to another origin,
/// such as Stripe's checkout.
#[derive(Template, WebTemplate)]
#[template(path = "handoff.html")]
pub struct Handoff {
    /// The base layout.
    pub layout: Layout,
    /// What is being paid, in a sentence.
    pub summary: String,
    /// The provider's checkout.
    pub checkout_url: String,
    /// Where to go instead.
    pub back_href: &'static str,
    /// The label of that link.
    pub back_label: &'static str,
}

/// `GET /orders/{id}/pay`: sends the buyer on to the provider's checkout.
pub async fn pay(
    State(state): State<AppState>,
    me: SignedIn,
    IdPath(id): IdPath,
) -> Result<Response, WebError> {
    let order = buyers_order(&state, &me, &id).await?;
    let row = OrderRow::new(&order, false);
    let Some(checkout_url) = row.checkout_url.clone() else {
        return Ok(Redirect::to(&format!("/orders/{id}/success")).into_response());
    };
    let plural = if row.units == 1 { "" } else { "s" };
    let until = row
        .expires
        .as_deref()
        .map(|e| format!(" until {e}"))
        .unwrap_or_default();
    let page = Handoff {
        layout: Layout::new(Some(&me), "orders"),
        summary: format!(
            "Your {} unit{plural} of {} are reserved{until}. Pay {} to receive your token.",
            row.units, row.service_name, row.total
        ),
        checkout_url,
        back_href: "/orders",
        back_label: "Back to my orders",
    };
    Ok(render(StatusCode::OK, &page))
}

/// An order of the signed-in buyer (404 for anyone else's, so ids cannot be probed).
async fn buyers_order(state: &AppState, me: &SignedIn, id: &str) -> Result<Order, WebError> {
    let order = crate::orders::visible_order(state, &me.user, id).await?;
    if order.buyer_id != me.user.id {
        return Err(crate::error::ApiError::not_found("order").into());
    }
    Ok(order)
}

#[derive(Template, WebTemplate)]
#[template(path = "order_return.html")]
struct ReturnPage {
    layout: Layout,
    row: OrderRow,
    /// True on the success return, false on the cancel return.
    success: bool,
}

/// `GET /orders/{id}/success`: where checkout returns after paying. The payment may
/// not be confirmed yet (a webhook confirms it); while pending, the page refreshes.
pub async fn success(
    State(state): State<AppState>,
    me: SignedIn,
    IdPath(id): IdPath,
) -> Result<Response, WebError> {
    returned(&state, &me, &id, true).await
}

/// `GET /orders/{id}/cancelled`: where checkout returns when the buyer gave up.
pub async fn cancelled(
    State(state): State<AppState>,
    me: SignedIn,
    IdPath(id): IdPath,
) -> Result<Response, WebError> {
    returned(&state, &me, &id, false).await
}

async fn returned(
    state: &AppState,
    me: &SignedIn,
    id: &str,
    success: bool,
) -> Result<Response, WebError> {
    let order = buyers_order(state, me, id).await?;
    let page = ReturnPage {
        layout: Layout::new(Some(me), "orders"),
        row: OrderRow::new(&order, false),
        success,
    };
    Ok(render(StatusCode::OK, &page))
}
