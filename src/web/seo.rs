//! Discovery by search engines: what a listing page tells a crawler (meta
//! description, canonical URL, Open Graph, schema.org JSON-LD), `/sitemap.xml` and
//! `/robots.txt`.
//!
//! Only active listings are offered to crawlers: archived ones are gone (404) and
//! paused ones say `noindex`. Absolute URLs use the configured public URL, the same
//! base checkout links use, so crawlers never see an internal address.

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::ApiError;
use crate::listings::{self, model::Listing};
use crate::state::AppState;
use crate::vocab::{ListingAvailability, ListingStatus};

/// Most URLs in one sitemap file (the sitemaps.org limit); past it, an index.
pub const SITEMAP_MAX_URLS: i64 = 50_000;
/// Longest meta description, in characters (what result pages show).
const META_DESCRIPTION_CHARS: usize = 160;

/// What a listing page tells crawlers and link previews.
pub struct ListingMeta {
    /// `<meta name="description">` and `og:description`.
    pub description: String,
    /// Absolute URL of the page.
    pub canonical: String,
    /// Whether crawlers may index it (only active listings).
    pub indexable: bool,
    /// schema.org Product/Offer as JSON, safe inside `<script>` (`<`, `>` and `&`
    /// escaped as `\u003c`, `\u003e`, `\u0026`, so no text can close the element).
    pub json_ld: String,
}

impl ListingMeta {
    /// The metadata of a listing served under `base` (the public URL).
    pub fn new(base: &str, listing: &Listing) -> Self {
        let canonical = format!("{}/listings/{}", base.trim_end_matches('/'), listing.id);
        let description = meta_description(listing);
        let availability = match listing.public_status() {
            ListingAvailability::Active => "https://schema.org/InStock",
            ListingAvailability::SoldOut => "https://schema.org/SoldOut",
            ListingAvailability::Paused | ListingAvailability::Archived => {
                "https://schema.org/Discontinued"
            }
        };
        let ld = json!({
            "@context": "https://schema.org",
            "@type": "Product",
            "@id": canonical,
            "name": listing.service_name,
            "description": description,
            "sku": listing.id,
            "url": canonical,
            "category": "Data service",
            "offers": {
                "@type": "Offer",
                "url": canonical,
                "price": decimal_price(listing.price_cents, &listing.currency),
                "priceCurrency": listing.currency.to_ascii_uppercase(),
                "availability": availability,
                "eligibleQuantity": {
                    "@type": "QuantitativeValue",
                    "value": 1,
                    "unitText": listing.unit_description,
                },
            },
        });
        let json_ld = ld
            .to_string()
            .replace('<', "\\u003c")
            .replace('>', "\\u003e")
            .replace('&', "\\u0026");
        Self {
            description,
            canonical,
            indexable: listing.status == ListingStatus::Active,
            json_ld,
        }
    }
}

/// The description cut at a word near 160 characters, or a sentence about the
/// listing when it has none.
fn meta_description(listing: &Listing) -> String {
    let text: String = listing
        .description
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if text.is_empty() {
        return format!(
            "{} — a data service sold {} on UDAM.",
            listing.service_name, listing.unit_description
        );
    }
    if text.chars().count() <= META_DESCRIPTION_CHARS {
        return text;
    }
    let cut: String = text.chars().take(META_DESCRIPTION_CHARS - 1).collect();
    let cut = cut.rsplit_once(' ').map_or(cut.as_str(), |(head, _)| head);
    format!("{cut}…")
}

/// A price in major units as schema.org wants it: `"2.50"`, `"300"`.
fn decimal_price(minor: i64, currency: &str) -> String {
    let exponent = crate::money::currency(currency).map_or(2, |c| c.exponent);
    if exponent == 0 {
        return minor.to_string();
    }
    let scale = 10i64.pow(u32::from(exponent));
    let width = usize::from(exponent);
    format!("{}.{:0width$}", minor / scale, minor % scale)
}

/// `GET /robots.txt`: everything behind a sign-in, the API and the forms stay out.
pub async fn robots(State(state): State<AppState>) -> Response {
    let base = state.public_url().trim_end_matches('/');
    let body = format!(
        "User-agent: *\n\
         Disallow: /api/\n\
         Disallow: /dashboard\n\
         Disallow: /orders\n\
         Disallow: /tokens\n\
         Disallow: /balance\n\
         Disallow: /sell\n\
         Disallow: /signin\n\
         Disallow: /signup\n\
         Disallow: /signout\n\
         Disallow: /listings/*/buy\n\
         Allow: /\n\
         \n\
         Sitemap: {base}/sitemap.xml\n"
    );
    text(StatusCode::OK, "text/plain; charset=utf-8", body)
}

/// `GET /sitemap.xml`: every active listing with its last change, or past 50,000
/// of them an index of sitemap files: `/sitemaps/0.xml` from the first listing by
/// id, then `/sitemaps/{id}.xml` from each 50,000th. A file named by where it starts
/// is read from there, so no file costs more than its own 50,000 rows.
pub async fn sitemap(State(state): State<AppState>) -> Result<Response, ApiError> {
    let starts = listings::store::sitemap_boundaries(&state.db, SITEMAP_MAX_URLS).await?;
    if starts.is_empty() {
        return sitemap_file(&state, FIRST_FILE).await;
    }
    let base = xml_escape(state.public_url().trim_end_matches('/'));
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <sitemapindex xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n",
    );
    for start in std::iter::once(FIRST_FILE).chain(starts.iter().map(String::as_str)) {
        xml.push_str(&format!(
            "<sitemap><loc>{base}/sitemaps/{}.xml</loc></sitemap>\n",
            xml_escape(start)
        ));
    }
    xml.push_str("</sitemapindex>\n");
    Ok(text(StatusCode::OK, "application/xml; charset=utf-8", xml))
}

/// The name of the sitemap file that starts at the first listing (and lists the
/// home page too).
const FIRST_FILE: &str = "0";

/// `GET /sitemaps/{start}.xml`: 50,000 active listings by id, from `start` (a
/// listing id, or `0` for the first).
pub async fn sitemap_part(
    State(state): State<AppState>,
    Path(file): Path<String>,
) -> Result<Response, ApiError> {
    let start = file
        .strip_suffix(".xml")
        .filter(|s| *s == FIRST_FILE || crate::ids::is_well_formed(s))
        .ok_or_else(|| ApiError::not_found("sitemap"))?;
    sitemap_file(&state, start).await
}

async fn sitemap_file(state: &AppState, start: &str) -> Result<Response, ApiError> {
    let first = start == FIRST_FILE;
    let from = if first { "" } else { start };
    let rows = listings::store::active_ids_from(&state.db, from, SITEMAP_MAX_URLS).await?;
    if rows.is_empty() && !first {
        return Err(ApiError::not_found("sitemap"));
    }
    let base = xml_escape(state.public_url().trim_end_matches('/'));
    let mut xml = String::with_capacity(rows.len() * 120 + 200);
    xml.push_str(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n",
    );
    if first {
        xml.push_str(&format!("<url><loc>{base}/</loc></url>\n"));
    }
    for (id, updated_at) in rows {
        xml.push_str(&format!(
            "<url><loc>{base}/listings/{}</loc><lastmod>{}</lastmod></url>\n",
            xml_escape(&id),
            crate::clock::rfc3339(updated_at)
        ));
    }
    xml.push_str("</urlset>\n");
    Ok(text(StatusCode::OK, "application/xml; charset=utf-8", xml))
}

fn text(status: StatusCode, content_type: &'static str, body: String) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

#[cfg(test)]
mod tests {
    use super::decimal_price;

    #[test]
    fn prices_are_decimal_major_units() {
        assert_eq!(decimal_price(250, "usd"), "2.50");
        assert_eq!(decimal_price(5, "usd"), "0.05");
        assert_eq!(decimal_price(300, "jpy"), "300");
        assert_eq!(decimal_price(1234, "bhd"), "1.234");
    }
}
