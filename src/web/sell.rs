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
    /// `key` (default) or `gateway`.
    delivery: String,
    /// Gateway delivery: the seller's API base URL.
    upstream_base_url: String,
    /// Gateway delivery: requests one unit buys.
    requests_per_unit: String,
    /// Gateway delivery: `all` or `success`.
    meter: String,
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
    /// `gateway` when the seller chose the gateway.
    delivery: String,
    upstream_base_url: String,
    requests_per_unit: String,
    meter: String,
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
            delivery: form.delivery,
            upstream_base_url: form.upstream_base_url,
            requests_per_unit: if form.requests_per_unit.is_empty() {
                "1000".to_owned()
            } else {
                form.requests_per_unit
            },
            meter: form.meter,
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
    let (delivery, gateway) = gateway_request(form)?;
    Ok(CreateListing {
        service_name: form.service_name.clone(),
        description: super::dashboard::lf(&form.description),
        unit_description: Some(form.unit_description.clone()),
        price_cents: parse_price(&form.price, currency)?,
        currency: Some(currency.code.to_owned()),
        available_units: parse_units(&form.units, "units")?,
        api_key: form.api_key.clone(),
        delivery: Some(delivery),
        gateway,
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

/// The delivery the seller chose, with its gateway settings.
fn gateway_request(
    form: &SellForm,
) -> Result<
    (
        crate::vocab::Delivery,
        Option<crate::listings::delivery::GatewayInput>,
    ),
    ApiError,
> {
    use crate::vocab::Delivery;
    if form.delivery.trim() != Delivery::Gateway.as_str() {
        return Ok((Delivery::Key, None));
    }
    let requests_per_unit =
        form.requests_per_unit.trim().parse().map_err(|_| {
            ApiError::validation("gateway.requests_per_unit", "must be a whole number")
        })?;
    let meter = form
        .meter
        .trim()
        .parse()
        .map_err(|_| ApiError::validation("gateway.meter", "choose all or success"))?;
    Ok((
        Delivery::Gateway,
        Some(crate::listings::delivery::GatewayInput {
            upstream_base_url: form.upstream_base_url.trim().to_owned(),
            inject_header: None,
            inject_template: None,
            inject_query: None,
            requests_per_unit,
            meter: Some(meter),
            rate_limit_per_minute: None,
            route_costs: None,
        }),
    ))
}
