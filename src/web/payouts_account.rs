//! `/dashboard/payouts`: where a seller's payouts go. With Stripe, the state of
//! their Connect account and a "Set up payouts" button; without, a plain statement
//! that payouts are simulated. Below, their recent payouts.
//!
//! The button POSTs here (with the session's CSRF token) and the answer is a
//! hand-off page to Stripe's onboarding form: the CSP's `form-action 'self'`
//! forbids a form POST from redirecting to another origin.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::csrf::Protected;
use super::error::{WebError, form_message};
use super::layout::{Layout, Notice, WebQuery, money, render, when_rfc3339};
use super::session::SignedIn;
use crate::pagination::PageQuery;
use crate::payouts::connect::{self, ConnectedAccount};
use crate::state::AppState;

/// One payout as the page lists it.
struct PayoutRow {
    when: String,
    amount: String,
    status: String,
    simulated: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "payouts_account.html")]
struct PayoutsPage {
    layout: Layout,
    /// True when Stripe is configured (otherwise payouts are simulated).
    stripe: bool,
    account: Option<ConnectedAccount>,
    /// `?onboarding=return|refresh`: the seller is back from Stripe, done (true) or
    /// with an expired link (false).
    back: Option<bool>,
    payouts: Vec<PayoutRow>,
    error: Option<String>,
    /// Set on the hand-off after the button: Stripe's onboarding form.
    onboarding_url: Option<String>,
}

/// `?onboarding=…`, set by Stripe's return and refresh URLs.
#[derive(Deserialize)]
pub struct PayoutsQuery {
    onboarding: Option<String>,
}

async fn payouts_page(
    state: &AppState,
    me: &SignedIn,
    notice: Notice,
    back: Option<bool>,
    error: Option<String>,
) -> Result<PayoutsPage, WebError> {
    let stripe = state.config.stripe_secret_key.is_some();
    let account = if stripe {
        connect::account_of(&state.db, &me.user.id).await?
    } else {
        None
    };
    let page = PageQuery::default().parse()?;
    let payouts = crate::payouts::store::list(&state.db, &me.user.id, &page)
        .await?
        .into_iter()
        .take(20)
        .map(|(_, p)| PayoutRow {
            when: when_rfc3339(&p.created_at),
            amount: money(p.amount_cents, &p.currency),
            status: p.status.as_str().to_owned(),
            simulated: p.simulated,
        })
        .collect();
    Ok(PayoutsPage {
        layout: Layout::new(Some(me), "dashboard").with_notice(notice),
        stripe,
        account,
        back,
        payouts,
        error,
        onboarding_url: None,
    })
}

/// `GET /dashboard/payouts`.
pub async fn page(
    State(state): State<AppState>,
    me: SignedIn,
    notice: Notice,
    WebQuery(query): WebQuery<PayoutsQuery>,
) -> Result<Response, WebError> {
    // Only known values reach the page, as fixed text.
    let back = match query.onboarding.as_deref() {
        Some("return") => Some(true),
        Some("refresh") => Some(false),
        _ => None,
    };
    let page = payouts_page(&state, &me, notice, back, None).await?;
    Ok(render(StatusCode::OK, &page))
}

/// The button's form: nothing but the CSRF token.
#[derive(Deserialize)]
pub struct OnboardForm {}

/// `POST /dashboard/payouts/onboard`: creates the seller's Stripe account if needed
/// and hands them on to Stripe's onboarding form.
pub async fn onboard(
    State(state): State<AppState>,
    Protected { me, form: _ }: Protected<OnboardForm>,
) -> Result<Response, WebError> {
    match connect::start_onboarding(&state, &me.user).await {
        Ok(onboarding) => {
            let mut page = payouts_page(&state, &me, Notice::default(), None, None).await?;
            page.onboarding_url = Some(onboarding.onboarding_url);
            Ok(render(StatusCode::OK, &page))
        }
        Err(err) if err.status() != StatusCode::INTERNAL_SERVER_ERROR => {
            let page = payouts_page(
                &state,
                &me,
                Notice::default(),
                None,
                Some(form_message(&err)),
            )
            .await?;
            Ok(render(err.status(), &page))
        }
        Err(err) => Err(err.into()),
    }
}
