//! The buyer's balance: what instantly fulfilled orders added up to, per currency,
//! each with a form to settle it (`POST /balance/settle`, handled by the
//! settlement service).

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::error::WebError;
use super::layout::{Layout, Notice, money, render};
use super::session::SignedIn;
use crate::state::AppState;

/// One currency owed.
struct Owed {
    /// Lowercase ISO code, as the settle form sends it.
    code: String,
    /// Uppercase code, as people read it.
    code_upper: String,
    name: &'static str,
    amount: String,
    /// Most that may be owed in this currency before orders go to checkout.
    cap: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "balance.html")]
struct BalancePage {
    layout: Layout,
    owed: Vec<Owed>,
    /// The instant limit and the cap, shown in US dollars as an example.
    instant_limit_usd: String,
    unpaid_cap_usd: String,
}

/// `GET /balance`.
pub async fn page(
    State(state): State<AppState>,
    me: SignedIn,
    notice: Notice,
) -> Result<Response, WebError> {
    let balances = crate::orders::balances(&state, &me.user.id).await?;
    let owed = balances
        .into_iter()
        .map(|(code, cents)| Owed {
            amount: money(cents, &code),
            cap: money(state.config.unpaid_cap_cents, &code),
            name: crate::money::currency(&code).map_or("", |c| c.name),
            code_upper: code.to_ascii_uppercase(),
            code,
        })
        .collect();
    let page = BalancePage {
        layout: Layout::new(Some(&me), "balance").with_notice(notice),
        owed,
        instant_limit_usd: money(state.config.instant_limit_cents, "usd"),
        unpaid_cap_usd: money(state.config.unpaid_cap_cents, "usd"),
    };
    Ok(render(StatusCode::OK, &page))
}
