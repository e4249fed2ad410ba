//! HTTP handlers of the listings API.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::cache::CachedBody;
use super::model::{CreateListing, ListingView, UpdateListing};
use super::{BrowseInput, BrowseParams, ListingPage};
use crate::accounts::AuthUser;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery};
use crate::gateway::report::{UsageQuery, UsageReport};
use crate::ids::{Id, Listing};
use crate::state::AppState;

/// Largest listing body: a 10,000-character description may take 12 bytes per
/// character as JSON escapes, so listings get more room than the 64 KiB default.
pub const LISTING_BODY_LIMIT: usize = 192 * 1024;

/// The listings routes, relative to `/api/v1`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_listing, browse_listings))
        .routes(routes!(get_listing, update_listing, archive_listing))
        .routes(routes!(listing_usage))
        .layer(axum::extract::DefaultBodyLimit::max(LISTING_BODY_LIMIT))
}

/// Query parameters of `GET /listings`. Filters combine with each other, with `q`
/// and with every sort order.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BrowseQuery {
    /// Search text, matched against name (weighted higher) and description, accents
    /// and case ignored. Words must all match; `"quoted phrase"`, `-word` to exclude,
    /// `or` between alternatives. Results then carry `highlight`.
    #[param(max_length = 200, pattern = r"^[^\u0000]*$")]
    pub q: Option<String>,
    /// `relevance` (default with `q`; needs `q`), `newest` (default without `q`),
    /// `price_asc` or `price_desc`.
    #[param(pattern = "^(relevance|newest|price_asc|price_desc)$")]
    pub sort: Option<String>,
    /// Only this seller's listings.
    pub seller_id: Option<String>,
    /// Only listings priced in this currency (ISO 4217, any case).
    pub currency: Option<String>,
    /// Lowest price per unit, inclusive, in minor units.
    #[param(minimum = 0)]
    pub min_price_cents: Option<i64>,
    /// Highest price per unit, inclusive, in minor units.
    #[param(minimum = 0)]
    pub max_price_cents: Option<i64>,
    /// `true`: only listings with units left.
    pub in_stock: Option<bool>,
    /// `key` or `gateway`: only listings delivered this way (buyers receive the
    /// seller's key, or their own key for the metered gateway).
    #[param(pattern = "^(key|gateway)$")]
    pub delivery: Option<String>,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page (opaque).
    #[param(pattern = "^[A-Za-z0-9_-]*$", max_length = 400)]
    pub cursor: Option<String>,
}

/// Lists a data service for sale.
#[utoipa::path(post, path = "/listings", tag = "listings",
    security(("bearer" = [])),
    request_body = CreateListing,
    responses((status = 201, description = "Listed", body = ListingView)))]
async fn create_listing(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(req): ApiJson<CreateListing>,
) -> ApiResult<(StatusCode, Json<ListingView>)> {
    let listing = super::create(&state, &auth.user, req).await?;
    Ok((
        StatusCode::CREATED,
        Json(full_view(&state, &listing).await?),
    ))
}

/// Browses active listings (served from cache, with ETag).
#[utoipa::path(get, path = "/listings", tag = "listings",
    params(BrowseQuery),
    responses(
        (status = 200, description = "A page of listings", body = ListingPage),
        (status = 304, description = "Not modified since the given ETag"),
    ))]
async fn browse_listings(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<BrowseQuery>,
) -> ApiResult<Response> {
    let params = BrowseParams::parse(BrowseInput {
        q: query.q.as_deref(),
        sort: query.sort.as_deref(),
        seller_id: query.seller_id.as_deref(),
        currency: query.currency.as_deref(),
        min_price_cents: query.min_price_cents,
        max_price_cents: query.max_price_cents,
        in_stock: query.in_stock,
        delivery: query.delivery.as_deref(),
        limit: query.limit,
        cursor: query.cursor.as_deref(),
    })?;
    let key = params.cache_key();
    let cached = match state.cache.page(&key).await {
        Some(hit) => hit,
        None => {
            let page = super::browse(&state, &params).await?;
            let body = Arc::new(CachedBody::new(
                serde_json::to_vec(&page).map_err(ApiError::internal)?,
            ));
            state.cache.put_page(key, body.clone()).await;
            body
        }
    };
    Ok(respond_cached(&headers, &cached))
}

/// One listing (served from cache, with ETag); archived listings are gone (404).
#[utoipa::path(get, path = "/listings/{id}", tag = "listings",
    params(("id" = String, Path, description = "Listing id")),
    responses(
        (status = 200, description = "The listing", body = ListingView),
        (status = 304, description = "Not modified since the given ETag"),
    ))]
async fn get_listing(
    State(state): State<AppState>,
    headers: HeaderMap,
    id: Id<Listing>,
) -> ApiResult<Response> {
    let cached = match state.cache.listing(&id).await {
        Some(hit) => hit,
        None => {
            let listing = super::get_visible(&state, &id).await?;
            let body = Arc::new(CachedBody::new(
                serde_json::to_vec(&full_view(&state, &listing).await?)
                    .map_err(ApiError::internal)?,
            ));
            state
                .cache
                .put_listing(id.into_string(), body.clone())
                .await;
            body
        }
    };
    Ok(respond_cached(&headers, &cached))
}

/// Changes a listing (its seller or an administrator).
#[utoipa::path(patch, path = "/listings/{id}", tag = "listings",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Listing id")),
    request_body = UpdateListing,
    responses(
        (status = 200, description = "Changed", body = ListingView),
        (status = 403, description = "Not the seller", body = crate::error::ErrorBody),
        (status = 409, description = "`listing_archived`", body = crate::error::ErrorBody),
    ))]
async fn update_listing(
    State(state): State<AppState>,
    auth: AuthUser,
    id: Id<Listing>,
    ApiJson(req): ApiJson<UpdateListing>,
) -> ApiResult<Json<ListingView>> {
    let listing = super::update(&state, &auth.user, &id, req).await?;
    Ok(Json(full_view(&state, &listing).await?))
}

/// Archives a listing (its seller or an administrator).
#[utoipa::path(delete, path = "/listings/{id}", tag = "listings",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Listing id")),
    responses(
        (status = 204, description = "Archived"),
        (status = 403, description = "Not the seller", body = crate::error::ErrorBody),
    ))]
async fn archive_listing(
    State(state): State<AppState>,
    auth: AuthUser,
    id: Id<Listing>,
) -> ApiResult<StatusCode> {
    super::archive(&state, &auth.user, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Requests served through the gateway for this listing, per hour or day (its seller
/// or an administrator).
#[utoipa::path(get, path = "/listings/{id}/usage", tag = "listings",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Listing id"), UsageQuery),
    responses(
        (status = 200, description = "Usage", body = UsageReport),
        (status = 403, description = "Not the seller", body = crate::error::ErrorBody),
        (status = 409, description = "`not_gateway_delivery`", body = crate::error::ErrorBody),
    ))]
async fn listing_usage(
    State(state): State<AppState>,
    auth: AuthUser,
    id: Id<Listing>,
    ApiQuery(query): ApiQuery<UsageQuery>,
) -> ApiResult<Json<UsageReport>> {
    let report = super::usage(&state, &auth.user, &id, query.granularity).await?;
    Ok(Json(report))
}

/// The view of one listing, with its gateway limits and route costs.
async fn full_view(state: &AppState, listing: &super::model::Listing) -> ApiResult<ListingView> {
    let view = listing.view();
    if view.delivery != crate::vocab::Delivery::Gateway {
        return Ok(view);
    }
    let extras = super::store::gateway_extras(&state.db, &listing.id).await?;
    Ok(view.with_extras(&extras))
}

/// 304 when the client's `If-None-Match` matches, else the cached body with its ETag.
fn respond_cached(headers: &HeaderMap, cached: &CachedBody) -> Response {
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim() == cached.etag || t.trim() == "*")
        });
    let etag = HeaderValue::from_str(&cached.etag).unwrap_or(HeaderValue::from_static("\"\""));
    let cache_control = HeaderValue::from_static("public, max-age=0, must-revalidate");
    if matches {
        return (
            StatusCode::NOT_MODIFIED,
            [(header::ETAG, etag), (header::CACHE_CONTROL, cache_control)],
        )
            .into_response();
    }
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::ETAG, etag),
            (header::CACHE_CONTROL, cache_control),
        ],
        cached.body.clone(),
    )
        .into_response()
}
