//! The buyer's tokens: masked by default, revealed on request (a `<details>`, so it
//! works without JavaScript), with a copy button added by the page script. Gateway
//! tokens show the buyer's own key once (with the copy button), the gateway URL, a
//! curl example and the key's requests per day over the last 30 days as a chart.
//! A key no longer shown (lost, or shown in a tab the buyer never saw) is rolled
//! with a button: a new key, shown once on the page that answers the form.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::auth::NoFields;
use super::chart::BarChart;
use super::csrf::Protected;
use super::error::WebError;
use super::layout::{IdPath, Layout, Notice, WebQuery, render};
use super::session::SignedIn;
use crate::gateway::store::UsageScope;
use crate::pagination::PageQuery;
use crate::state::AppState;
use crate::tokens::TokenView;
use crate::tokens::gateway::RolledKey;

/// `?cursor=&order=` of the tokens page (`order` highlights a just-bought token).
#[derive(Deserialize)]
pub struct TokensQuery {
    cursor: Option<String>,
    order: Option<String>,
}

/// A token as a row of the page.
struct TokenRow {
    id: String,
    order_id: String,
    listing_id: String,
    service_name: String,
    units: i64,
    active: bool,
    /// The key itself (active tokens only); shown only when revealed.
    secret: Option<String>,
    /// What shows before revealing: dots and the last 4 characters.
    masked: String,
    created: String,
    highlight: bool,
    /// Gateway listings: the buyer's own key and how to call with it.
    gateway: Option<GatewayRow>,
}

/// The gateway part of a token row.
struct GatewayRow {
    /// The key in full: only on the page that issued it.
    key: Option<String>,
    /// Its prefix and last four characters.
    hint: String,
    /// Where to call.
    url: String,
    /// A ready-to-run call (with the key when it is shown, a placeholder otherwise).
    curl: String,
    used: i64,
    allowed: i64,
    /// Requests per day of the key; on the newest token of each listing only (one
    /// key serves every order of a listing, so later rows would repeat it).
    usage: Option<BarChart>,
}

impl GatewayRow {
    /// Shows `key` (just issued) in full, in the row and its curl example.
    fn show(&mut self, key: &RolledKey) {
        let full = &key.gateway_key;
        self.curl = format!("curl -H \"Authorization: Bearer {full}\" {}", self.url);
        self.hint.clone_from(&key.gateway_key_hint);
        self.key = Some(full.clone());
    }

    fn new(view: &TokenView) -> Option<Self> {
        if view.delivery != crate::vocab::Delivery::Gateway {
            return None;
        }
        let url = view.gateway_url.clone().unwrap_or_default();
        let key = view.gateway_key.clone();
        let shown = key.as_deref().unwrap_or("YOUR_UDAM_KEY");
        Some(Self {
            curl: format!("curl -H \"Authorization: Bearer {shown}\" {url}"),
            key,
            hint: view.gateway_key_hint.clone().unwrap_or_default(),
            url,
            used: view.requests_used.unwrap_or(0),
            allowed: view.requests_allowed.unwrap_or(0),
            usage: None,
        })
    }
}

/// Dots and, for keys long enough that it gives little away, the last 4 characters
/// (the same hint the listing shows everyone).
fn mask(secret: &str) -> String {
    let hint = crate::listings::model::api_key_hint(secret);
    if hint == "****" {
        "••••••••".to_owned()
    } else {
        format!("••••••••{hint}")
    }
}

impl TokenRow {
    fn new(view: TokenView, highlight: Option<&str>) -> Self {
        let active = view.status == crate::vocab::GrantStatus::Active;
        let gateway = GatewayRow::new(&view);
        Self {
            gateway,
            masked: view.access_token.as_deref().map(mask).unwrap_or_default(),
            highlight: highlight == Some(view.order_id.as_str()),
            id: view.id,
            order_id: view.order_id,
            listing_id: view.listing_id,
            service_name: view.service_name,
            units: view.units,
            active,
            secret: view.access_token.filter(|_| active),
            created: super::layout::when_rfc3339(&view.created_at),
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "tokens.html")]
struct TokensPage {
    layout: Layout,
    rows: Vec<TokenRow>,
    next_href: Option<String>,
    paged: bool,
}

/// `GET /tokens`. Opening the keys is audited by `tokens::list_for_buyer`.
pub async fn list(
    State(state): State<AppState>,
    me: SignedIn,
    notice: Notice,
    WebQuery(query): WebQuery<TokensQuery>,
) -> Result<Response, WebError> {
    let layout = Layout::new(Some(&me), "tokens").with_notice(notice);
    tokens_page(&state, &me, layout, &query, None).await
}

/// `POST /tokens/{id}/roll`: a new gateway key for the token's listing (the old one
/// stops at once), shown this once on the first page of tokens.
pub async fn roll(
    State(state): State<AppState>,
    IdPath(id): IdPath,
    Protected { me, .. }: Protected<NoFields>,
) -> Result<Response, WebError> {
    let rolled = crate::tokens::gateway::roll(&state, &me.user, &id, None).await?;
    let query = TokensQuery {
        cursor: None,
        order: None,
    };
    let layout = Layout::new(Some(&me), "tokens");
    tokens_page(&state, &me, layout, &query, Some(rolled)).await
}

/// A page of the buyer's tokens; `rolled` is a key just issued for a listing, shown
/// on that listing's rows.
async fn tokens_page(
    state: &AppState,
    me: &SignedIn,
    layout: Layout,
    query: &TokensQuery,
    rolled: Option<RolledKey>,
) -> Result<Response, WebError> {
    let page = PageQuery {
        limit: None,
        cursor: query.cursor.clone(),
    }
    .parse()?;
    let (items, next) = crate::tokens::list_for_buyer(state, &me.user, &page).await?;
    let mut rows: Vec<TokenRow> = items
        .into_iter()
        .map(|t| TokenRow::new(t, query.order.as_deref()))
        .collect();
    if let Some(key) = rolled {
        for row in rows
            .iter_mut()
            .filter(|r| r.active && r.listing_id == key.listing_id)
        {
            if let Some(gateway) = row.gateway.as_mut() {
                gateway.show(&key);
            }
        }
    }
    add_usage(state, &me.user.id, &mut rows).await?;
    let page = TokensPage {
        layout,
        rows,
        next_href: next.map(|c| format!("/tokens?cursor={c}")),
        paged: query.cursor.as_deref().is_some_and(|c| !c.is_empty()),
    };
    Ok(render(StatusCode::OK, &page))
}

/// Draws each gateway key's usage on the first (newest) active row of its listing.
async fn add_usage(state: &AppState, buyer: &str, rows: &mut [TokenRow]) -> Result<(), WebError> {
    let mut seen: Vec<String> = Vec::new();
    for row in rows.iter_mut().filter(|r| r.active) {
        let Some(gateway) = row.gateway.as_mut() else {
            continue;
        };
        if seen.contains(&row.listing_id) {
            continue;
        }
        seen.push(row.listing_id.clone());
        let Some(key) = crate::gateway::store::key_of(&state.db, buyer, &row.listing_id).await?
        else {
            continue;
        };
        gateway.usage = Some(
            super::insights::usage_chart(
                &state.db,
                UsageScope::Key(&key.id),
                format!("usage-{}", row.id),
                format!(
                    "Requests per day with your key for {}, last {} days",
                    row.service_name,
                    super::insights::USAGE_DAYS
                ),
            )
            .await?,
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::mask;

    #[test]
    fn masks_show_at_most_the_public_hint() {
        assert_eq!(mask("sk_weather_secret_0123456789"), "••••••••6789");
        assert_eq!(mask("short"), "••••••••");
    }
}
