//! The buyer's balance: what instantly fulfilled orders added up to, per currency,
//! each with a form that settles it through `payments::settlement::settle`.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use sqlx::Row;

use super::csrf::Protected;
use super::error::{WebError, form_message};
use super::layout::{IdPath, Layout, Notice, WebQuery, money, render};
use super::orders::Handoff;
use super::session::SignedIn;
use crate::db::Db;
use crate::payments::settlement::{MAX_SETTLEMENT_ORDERS, next_charge};
use crate::state::AppState;

/// One currency owed.
struct Owed {
    /// Lowercase ISO code, as the settle form sends it.
    code: String,
    /// Uppercase code, as people read it.
    code_upper: String,
    name: &'static str,
    amount: String,
    /// What its Settle button charges: less than `amount` while a settlement is
    /// open or more orders are owed than one settlement pays.
    settle_amount: String,
    /// `settle_amount` is not all of `amount`.
    partial: bool,
    /// Most that may be owed in this currency before orders go to checkout.
    cap: String,
}

/// What became of a settlement the buyer just came back from.
struct Settled {
    /// `paid`, `pending`, or anything else (lapsed).
    status: String,
    amount: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "balance.html")]
struct BalancePage {
    layout: Layout,
    owed: Vec<Owed>,
    settled: Option<Settled>,
    error: Option<String>,
    /// The instant limit and the cap, shown in US dollars as an example.
    instant_limit_usd: String,
    unpaid_cap_usd: String,
    /// How many orders one settlement pays at most, written out ("1,000").
    max_settlement_orders: String,
}

/// A settlement of `user_id`: `(status, amount, currency, checkout url)`.
pub async fn settlement_of(
    db: &Db,
    user_id: &str,
    id: &str,
) -> Result<Option<(String, i64, String, Option<String>)>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT status, amount_cents, currency, checkout_url FROM settlements \
         WHERE id = $1 AND user_id = $2",
    )
    .bind(id)
    .bind(user_id)
    .fetch_optional(db.pool())
    .await?;
    row.map(|r| {
        Ok((
            r.try_get("status")?,
            r.try_get("amount_cents")?,
            r.try_get("currency")?,
            r.try_get("checkout_url")?,
        ))
    })
    .transpose()
}

/// `?settled=stl_…`: the provider's return after a settlement checkout.
#[derive(Deserialize)]
pub struct BalanceQuery {
    settled: Option<String>,
}

async fn balance_page(
    state: &AppState,
    me: &SignedIn,
    notice: Notice,
    settled: Option<&str>,
    failed: Option<(StatusCode, String)>,
) -> Result<Response, WebError> {
    let balances = crate::orders::balances(state, &me.user.id).await?;
    let mut owed = Vec::with_capacity(balances.len());
    for (code, cents) in balances {
        // Nothing claimable (a settlement lapsing this moment): settling will say so.
        let charge = Some(next_charge(state, &me.user.id, &code).await?)
            .filter(|c| *c > 0)
            .unwrap_or(cents);
        owed.push(Owed {
            amount: money(cents, &code),
            settle_amount: money(charge, &code),
            partial: charge != cents,
            cap: money(state.config.unpaid_cap_cents, &code),
            name: crate::money::currency(&code).map_or("", |c| c.name),
            code_upper: code.to_ascii_uppercase(),
            code,
        });
    }
    let settled =
        match settled {
            Some(id) => settlement_of(&state.db, &me.user.id, id).await?.map(
                |(status, cents, currency, _)| Settled {
                    status,
                    amount: money(cents, &currency),
                },
            ),
            None => None,
        };
    let (status, error) = match failed {
        Some((status, message)) => (status, Some(message)),
        None => (StatusCode::OK, None),
    };
    let page = BalancePage {
        layout: Layout::new(Some(me), "balance").with_notice(notice),
        owed,
        settled,
        error,
        instant_limit_usd: money(state.config.instant_limit_cents, "usd"),
        unpaid_cap_usd: money(state.config.unpaid_cap_cents, "usd"),
        max_settlement_orders: crate::money::count(MAX_SETTLEMENT_ORDERS),
    };
    Ok(render(status, &page))
}

/// `GET /balance`.
pub async fn page(
    State(state): State<AppState>,
    me: SignedIn,
    notice: Notice,
    WebQuery(query): WebQuery<BalanceQuery>,
) -> Result<Response, WebError> {
    balance_page(&state, &me, notice, query.settled.as_deref(), None).await
}

/// The settle form.
#[derive(Deserialize)]
pub struct SettleForm {
    #[serde(default)]
    currency: String,
}

/// `POST /balance/settle`: opens (or reopens) the checkout for what is owed in one
/// currency (the oldest owed orders, at most 1,000), then hands the buyer on to it.
pub async fn settle(
    State(state): State<AppState>,
    Protected { me, form }: Protected<SettleForm>,
) -> Result<Response, WebError> {
    match crate::payments::settlement::settle(&state, &me.user, &form.currency).await {
        Ok(view) => {
            Ok(Redirect::to(&format!("/balance/settlements/{}/pay", view.id)).into_response())
        }
        Err(err) if err.status().is_client_error() => {
            let failed = Some((err.status(), form_message(&err)));
            balance_page(&state, &me, Notice::default(), None, failed).await
        }
        Err(err) => Err(err.into()),
    }
}

/// `GET /balance/settlements/{id}/pay`: the hand-off to a settlement's checkout.
pub async fn pay(
    State(state): State<AppState>,
    me: SignedIn,
    IdPath(id): IdPath,
) -> Result<Response, WebError> {
    let (status, cents, currency, url) = settlement_of(&state.db, &me.user.id, &id)
        .await?
        .ok_or_else(|| crate::error::ApiError::not_found("settlement"))?;
    let Some(checkout_url) =
        url.filter(|_| status == crate::vocab::SettlementStatus::Pending.as_str())
    else {
        return Ok(Redirect::to(&format!("/balance?settled={id}")).into_response());
    };
    let page = Handoff {
        layout: Layout::new(Some(&me), "balance"),
        summary: format!(
            "Pay {} for the orders you owe in {}.",
            money(cents, &currency),
            currency.to_ascii_uppercase()
        ),
        checkout_url,
        back_href: "/balance",
        back_label: "Back to my balance",
    };
    Ok(render(StatusCode::OK, &page))
}
