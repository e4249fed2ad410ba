//! Listings: data services offered per unit, with the seller's API key sealed at rest.
//!
//! The service functions here are shared by the JSON API (`handlers`) and the web
//! pages; handlers only parse, authorize through these, and shape responses.

pub mod browse;
pub mod cache;
pub mod delivery;
pub mod handlers;
pub mod highlight;
pub mod model;
pub mod query;
pub mod relevance;
pub mod rotate;
pub mod search;
pub mod store;

use crate::accounts::User;
use crate::crypto::Purpose;
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;
use crate::vocab::ListingStatus;
pub use browse::{BrowseInput, BrowseParams, ListingItem, ListingPage, browse};
use model::{
    CreateListing, Listing, UpdateListing, api_key_hint, check_api_key, check_currency,
    check_description, check_price, check_service_name, check_unit_description, check_units,
};

/// Creates a listing owned by `seller`, sealing its key.
pub async fn create(
    state: &AppState,
    seller: &User,
    req: CreateListing,
) -> Result<Listing, ApiError> {
    let service_name = check_service_name(&req.service_name)?;
    let description = check_description(&req.description)?;
    let unit_description =
        check_unit_description(req.unit_description.as_deref().unwrap_or("per unit"))?;
    let price_cents = check_price(req.price_cents)?;
    let currency = check_currency(req.currency.as_deref().unwrap_or("usd"))?;
    let available_units = check_units(req.available_units)?;
    check_api_key(&req.api_key)?;
    let policy = crate::gateway::policy(state);
    let (delivery, gateway) = delivery::check(req.delivery, req.gateway, policy).await?;
    let id = crate::ids::new_id("lst");
    let sealed = state
        .keyring
        .seal(Purpose::ListingApiKey, &id, req.api_key.as_bytes())
        .map_err(|e| ApiError::internal(anyhow::anyhow!("sealing a listing key: {e}")))?;
    let listing = store::insert(
        &state.db,
        &store::NewListing {
            id: &id,
            seller_id: &seller.id,
            service_name: &service_name,
            description: &description,
            unit_description: &unit_description,
            price_cents,
            currency: &currency,
            available_units,
            sealed_key: &sealed,
            api_key_hint: &api_key_hint(&req.api_key),
            delivery,
            gateway: gateway.as_ref(),
        },
    )
    .await?;
    state.cache.invalidate([id.as_str()]).await;
    Ok(listing)
}

/// A listing by id, or 404.
pub async fn get(state: &AppState, id: &str) -> Result<Listing, ApiError> {
    store::get(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::not_found("listing"))
}

/// A listing as buyers may see it: an archived listing is gone (404) for them (its
/// issued tokens still work).
pub async fn get_visible(state: &AppState, id: &str) -> Result<Listing, ApiError> {
    let listing = get(state, id).await?;
    if listing.status == ListingStatus::Archived {
        return Err(ApiError::not_found("listing"));
    }
    Ok(listing)
}

/// Loads a listing the caller may change (its seller or an administrator).
async fn get_owned(state: &AppState, user: &User, id: &str) -> Result<Listing, ApiError> {
    let listing = get(state, id).await?;
    if listing.seller_id != user.id && !user.is_admin {
        return Err(ApiError::forbidden(
            "only the listing's seller may change it",
        ));
    }
    Ok(listing)
}

/// Applies a seller's change.
pub async fn update(
    state: &AppState,
    user: &User,
    id: &str,
    req: UpdateListing,
) -> Result<Listing, ApiError> {
    let listing = get_owned(state, user, id).await?;
    if listing.status == ListingStatus::Archived {
        return Err(ApiError::conflict(
            ErrorCode::ListingArchived,
            "an archived listing cannot be changed",
        ));
    }
    let status = match req.status.as_deref().map(str::parse) {
        None => None,
        Some(Ok(s @ (ListingStatus::Active | ListingStatus::Paused))) => Some(s),
        Some(_) => {
            return Err(ApiError::validation(
                "status",
                "must be `active` or `paused` (archive with DELETE)",
            ));
        }
    };
    let key = match req.api_key.as_deref() {
        None => None,
        Some(key) => {
            check_api_key(key)?;
            let sealed = state
                .keyring
                .seal(Purpose::ListingApiKey, id, key.as_bytes())
                .map_err(|e| ApiError::internal(anyhow::anyhow!("sealing a listing key: {e}")))?;
            Some((sealed, api_key_hint(key)))
        }
    };
    let gateway = gateway_change(state, &listing, req.upstream_base_url, req.gateway).await?;
    let change = store::Change {
        price_cents: req.price_cents.map(check_price).transpose()?,
        description: req
            .description
            .as_deref()
            .map(check_description)
            .transpose()?,
        unit_description: req
            .unit_description
            .as_deref()
            .map(check_unit_description)
            .transpose()?,
        available_units: req.available_units.map(check_units).transpose()?,
        status,
        key,
        gateway,
    };
    if !store::update(&state.db, id, change).await? {
        return Err(ApiError::conflict(
            ErrorCode::ListingArchived,
            "an archived listing cannot be changed",
        ));
    }
    state.cache.invalidate([id]).await;
    get(state, id).await
}

/// The gateway settings a `PATCH` leaves, and whether `requests_per_unit` changes;
/// `None` when it changes none of them. The top-level `upstream_base_url` is the
/// same as `gateway.upstream_base_url` (kept for clients written before `gateway`).
async fn gateway_change(
    state: &AppState,
    listing: &Listing,
    upstream_base_url: Option<String>,
    patch: Option<delivery::GatewayPatch>,
) -> Result<Option<(delivery::GatewaySettings, bool)>, ApiError> {
    if upstream_base_url.is_none() && patch.is_none() {
        return Ok(None);
    }
    let extras = store::gateway_extras(&state.db, &listing.id).await?;
    let Some(current) = listing.gateway_settings(&extras) else {
        let field = if patch.is_some() {
            "gateway"
        } else {
            "upstream_base_url"
        };
        return Err(ApiError::validation(
            field,
            "only gateway listings have gateway settings (the delivery cannot change)",
        ));
    };
    let mut patch = patch.unwrap_or_default();
    match (&patch.upstream_base_url, upstream_base_url) {
        (_, None) => {}
        (None, Some(url)) => patch.upstream_base_url = Some(url),
        (Some(inner), Some(outer)) if *inner == outer => {}
        (Some(_), Some(_)) => {
            return Err(ApiError::validation(
                "upstream_base_url",
                "differs from gateway.upstream_base_url; give one",
            ));
        }
    }
    let before = current.requests_per_unit;
    let next = delivery::apply_patch(current, patch, crate::gateway::policy(state)).await?;
    let requests_per_unit_changed = next.requests_per_unit != before;
    Ok(Some((next, requests_per_unit_changed)))
}

/// Archives a listing: gone from browse, no longer for sale; issued tokens keep working.
pub async fn archive(state: &AppState, user: &User, id: &str) -> Result<(), ApiError> {
    get_owned(state, user, id).await?;
    store::archive(&state.db, id).await?;
    state.cache.invalidate([id]).await;
    Ok(())
}

/// The gateway usage of a listing (its seller or an administrator).
pub async fn usage(
    state: &AppState,
    user: &User,
    id: &str,
    granularity: Option<crate::gateway::vocab::UsageGranularity>,
) -> Result<crate::gateway::report::UsageReport, ApiError> {
    use crate::gateway::store::{UsageScope, listing_totals};
    let listing = get_owned(state, user, id).await?;
    if listing.delivery != crate::vocab::Delivery::Gateway {
        return Err(ApiError::conflict(
            ErrorCode::NotGatewayDelivery,
            "this listing hands out the seller's key; it has no gateway usage",
        ));
    }
    let granularity = granularity.unwrap_or(crate::gateway::vocab::UsageGranularity::Hour);
    let (requests_used, requests_allowed) = listing_totals(&state.db, id).await?;
    Ok(crate::gateway::report::UsageReport {
        granularity,
        items: crate::gateway::report::buckets(&state.db, UsageScope::Listing(id), granularity)
            .await?,
        requests_used,
        requests_allowed,
    })
}
