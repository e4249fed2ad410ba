//! Selling: the form that creates a listing (its API key is sealed by
//! `listings::create` and never shown again).

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::csrf::Protected;
use super::error::{WebError, form_message};
use super::layout::{Layout, render};
use super::money_input::{parse_price, parse_units};
use super::session::SignedIn;
use crate::error::ApiError;
use crate::listings::model::CreateListing;
use crate::state::AppState;

/// The sell form. No `Debug`: it holds the seller's API key.
#[derive(Default, Deserialize)]
#[serde(default)]
pub struct SellForm {
    service_name: String,
    description: String,
    unit_description: String,
    price: String,
    currency: String,
    units: String,
    api_key: String,
}

/// A currency of the picker.
pub struct CurrencyOption {
    /// Lowercase ISO code.
    pub code: &'static str,
    /// `USD · US Dollar`.
    pub label: String,
    /// Chosen.
    pub selected: bool,
}

/// Every accepted currency, `selected` chosen.
pub fn currency_options(selected: &str) -> Vec<CurrencyOption> {
    crate::money::currencies()
        .iter()
        .map(|c| CurrencyOption {
            code: c.code,
            label: format!("{} · {}", c.code.to_ascii_uppercase(), c.name),
            selected: c.code.eq_ignore_ascii_case(selected),
        })
        .collect()
}

#[derive(Template, WebTemplate)]
#[template(path = "sell.html")]
struct SellPage {
    layout: Layout,
    service_name: String,
    description: String,
    unit_description: String,
    price: String,
    units: String,
    currencies: Vec<CurrencyOption>,
    error: Option<String>,
}

impl SellPage {
    /// The form, filled with what was typed (except the key, which is never echoed).
    fn new(me: &SignedIn, form: SellForm, error: Option<String>) -> Self {
        let currency = if form.currency.is_empty() {
            crate::money::DEFAULT_CURRENCY_CODE.to_owned()
        } else {
            form.currency
        };
        Self {
            layout: Layout::new(Some(me), "sell"),
            service_name: form.service_name,
            description: form.description,
            unit_description: form.unit_description,
            price: form.price,
            units: form.units,
            currencies: currency_options(&currency),
            error,
        }
    }
}

/// `GET /sell`.
pub async fn page(me: SignedIn) -> Response {
    let form = SellForm {
        unit_description: "per 1,000 requests".to_owned(),
        units: "100".to_owned(),
        ..SellForm::default()
    };
    render(StatusCode::OK, &SellPage::new(&me, form, None))
}

/// Turns the typed form into a listing request.
fn request(form: &SellForm) -> Result<CreateListing, ApiError> {
    let currency = crate::money::currency(form.currency.trim())
        .ok_or_else(|| ApiError::validation("currency", "choose a currency from the list"))?;
    Ok(CreateListing {
        service_name: form.service_name.clone(),
        description: super::dashboard::lf(&form.description),
        unit_description: Some(form.unit_description.clone()),
        price_cents: parse_price(&form.price, currency)?,
        currency: Some(currency.code.to_owned()),
        available_units: parse_units(&form.units, "units")?,
        api_key: form.api_key.clone(),
        delivery: None,
        gateway: None,
    })
}

/// `POST /sell`: creates the listing and shows it.
pub async fn create(
    State(state): State<AppState>,
    Protected { me, form }: Protected<SellForm>,
) -> Result<Response, WebError> {
    let created = match request(&form) {
        Ok(req) => crate::listings::create(&state, &me.user, req).await,
        Err(err) => Err(err),
    };
    match created {
        Ok(listing) => Ok(Redirect::to(&format!(
            "/listings/{}?notice=listing_created",
            listing.id
        ))
        .into_response()),
        Err(err) if err.status().is_client_error() => {
            let status = err.status();
            let message = form_message(&err);
            Ok(render(status, &SellPage::new(&me, form, Some(message))))
        }
        Err(err) => Err(err.into()),
    }
}
