//! Listings: data services offered per unit, with the seller's API key sealed at rest.
//!
//! The service functions here are shared by the JSON API (`handlers`) and the web
//! pages; handlers only parse, authorize through these, and shape responses.

pub mod cache;
pub mod handlers;
pub mod model;
pub mod rotate;
pub mod store;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use utoipa::ToSchema;

use crate::accounts::User;
use crate::crypto::Purpose;
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;
use crate::vocab::ListingStatus;
use model::{
    CreateListing, Listing, ListingView, UpdateListing, api_key_hint, check_api_key,
    check_currency, check_description, check_price, check_service_name, check_unit_description,
    check_units,
};
use store::{After, Sort};

/// A page of listings.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListingPage {
    /// The listings of this page.
    pub items: Vec<ListingView>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

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

/// Archives a listing: gone from browse, no longer for sale; issued tokens keep working.
pub async fn archive(state: &AppState, user: &User, id: &str) -> Result<(), ApiError> {
    get_owned(state, user, id).await?;
    store::archive(&state.db, id).await?;
    state.cache.invalidate([id]).await;
    Ok(())
}

/// Validated browse parameters.
#[derive(Clone, Debug)]
pub struct BrowseParams {
    /// Search text, trimmed (may be empty).
    pub q: String,
    /// Sort order.
    pub sort: Sort,
    /// Seller filter (may be empty).
    pub seller_id: String,
    /// Page size.
    pub limit: i64,
    /// Keyset position.
    pub after: Option<After>,
}

impl BrowseParams {
    /// Validates raw query parameters.
    pub fn parse(
        q: Option<&str>,
        sort: Option<&str>,
        seller_id: Option<&str>,
        limit: Option<i64>,
        cursor: Option<&str>,
    ) -> Result<Self, ApiError> {
        let q = q.unwrap_or_default();
        if q.chars().count() > 200 || q.contains('\0') {
            return Err(ApiError::validation(
                "q",
                "must be at most 200 characters, without NUL",
            ));
        }
        let q = q.trim().to_owned();
        let sort = match sort.unwrap_or("newest") {
            "newest" => Sort::Newest,
            "price_asc" => Sort::PriceAsc,
            "price_desc" => Sort::PriceDesc,
            _ => {
                return Err(ApiError::validation(
                    "sort",
                    "must be newest, price_asc or price_desc",
                ));
            }
        };
        let limit = limit.unwrap_or(20);
        if !(1..=100).contains(&limit) {
            return Err(ApiError::validation("limit", "must be 1 to 100"));
        }
        let after = cursor
            .filter(|c| !c.is_empty())
            .map(|c| decode_cursor(c, sort))
            .transpose()?;
        Ok(Self {
            q,
            sort,
            seller_id: seller_id.unwrap_or_default().trim().to_owned(),
            limit,
            after,
        })
    }

    /// A canonical cache key for these parameters.
    pub fn cache_key(&self) -> String {
        format!(
            "{:?}|{}|{}|{}|{:?}",
            self.sort, self.limit, self.seller_id, self.q, self.after
        )
    }
}

fn sort_tag(sort: Sort) -> &'static str {
    match sort {
        Sort::Newest => "n",
        Sort::PriceAsc => "a",
        Sort::PriceDesc => "d",
    }
}

fn encode_cursor(sort: Sort, after: &After) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{}:{}", sort_tag(sort), after.key, after.id))
}

fn decode_cursor(cursor: &str, sort: Sort) -> Result<After, ApiError> {
    let bad = || ApiError::validation("cursor", "is not a cursor from this listing's sort order");
    let raw = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    let mut parts = text.splitn(3, ':');
    let (tag, key, id) = (parts.next(), parts.next(), parts.next());
    match (tag, key.and_then(|k| k.parse::<i64>().ok()), id) {
        // Only an id's shape may reach the query (PostgreSQL refuses a NUL byte).
        (Some(tag), Some(key), Some(id))
            if tag == sort_tag(sort) && crate::ids::is_well_formed(id) =>
        {
            Ok(After {
                key,
                id: id.to_owned(),
            })
        }
        _ => Err(bad()),
    }
}

/// One page of active listings.
pub async fn browse(state: &AppState, params: &BrowseParams) -> Result<ListingPage, ApiError> {
    let pattern = if params.q.is_empty() {
        String::new()
    } else {
        let escaped = params
            .q
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        format!("%{escaped}%")
    };
    let mut rows = store::browse(
        &state.db,
        &store::Browse {
            pattern: &pattern,
            seller_id: &params.seller_id,
            sort: params.sort,
            after: params.after.clone(),
            limit: params.limit + 1,
        },
    )
    .await?;
    let has_more = rows.len() as i64 > params.limit;
    rows.truncate(params.limit as usize);
    let next_cursor = has_more.then(|| rows.last()).flatten().map(|last| {
        let key = match params.sort {
            Sort::Newest => last.created_at,
            Sort::PriceAsc | Sort::PriceDesc => last.price_cents,
        };
        encode_cursor(
            params.sort,
            &After {
                key,
                id: last.id.clone(),
            },
        )
    });
    Ok(ListingPage {
        items: rows.iter().map(Listing::view).collect(),
        next_cursor,
    })
}
