//! The OpenAPI 3.1 document: generated from the handlers' annotations, then
//! completed here with what every operation shares (auth scheme, error responses).
//!
//! Adding the shared error responses in one place keeps every route's documented
//! statuses true to what the middleware can answer (429 from the rate limiter, 413
//! from the body limit, 503 from the timeout) without repeating them on each handler.

use utoipa::OpenApi;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};

use crate::error::{ErrorBody, ErrorCode, ErrorDetail};

/// The static part of the document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "UDAM API",
        description = "The Unified Data Marketplace: accounts, listings with sealed seller keys, \
                       oversell-proof orders, payments and buyer access tokens. Errors always use \
                       the envelope `{\"error\": {\"code\", \"message\"}}`. A client `X-Request-Id` is \
                       echoed and logged only if it is 1 to 64 characters of `[A-Za-z0-9._-]`; \
                       otherwise the server uses a fresh id. Money is an integer \
                       count of the currency's minor unit.",
        license(name = "Apache-2.0")
    ),
    components(schemas(ErrorBody, ErrorDetail, ErrorCode)),
    tags(
        (name = "accounts", description = "Registration, sessions, the current user"),
        (name = "listings", description = "Data services for sale; seller keys are sealed at rest"),
        (name = "orders", description = "Buying, payment, cancel, sales and the unpaid balance"),
        (name = "tokens", description = "Buyers' access tokens (the sellers' keys)"),
        (name = "payments", description = "Stripe webhooks"),
        (name = "operations", description = "Probes"),
        (name = "webhooks", description = "Signed outbound webhooks (Standard Webhooks) to the caller's endpoints"),
    )
)]
pub struct ApiDoc;

/// Adds the bearer scheme, the error responses every operation can produce, and the
/// facts derived from data rather than types (the list of currencies).
pub fn finish(doc: &mut utoipa::openapi::OpenApi) {
    let currencies: Vec<serde_json::Value> = crate::money::currencies()
        .iter()
        .flat_map(|c| [c.code.to_owned(), c.code.to_uppercase()])
        .map(serde_json::Value::from)
        .collect();
    patch(doc, |json| {
        for (schema, nullable) in [("CreateListing", true), ("SettleRequest", false)] {
            let property = &mut json["components"]["schemas"][schema]["properties"]["currency"];
            let mut allowed = currencies.clone();
            if nullable {
                allowed.push(serde_json::Value::Null);
            }
            property["enum"] = serde_json::Value::Array(allowed);
        }
    });
    let components = doc.components.get_or_insert_with(Default::default);
    components.security_schemes.insert(
        "bearer".to_owned(),
        RefOr::T(SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer))),
    );
    for (path, item) in doc.paths.paths.iter_mut() {
        let has_path_params = path.contains('{');
        for op in [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ]
        .into_iter()
        .flatten()
        {
            add_error_responses(op, has_path_params);
        }
    }
}

fn add_error_responses(op: &mut Operation, has_path_params: bool) {
    let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
    let has_body = op.request_body.is_some();
    let has_query = op.parameters.as_ref().is_some_and(|p| !p.is_empty());
    use ErrorCode as C;
    // The codes come from the enum, so a renamed code cannot leave stale docs.
    let mut wanted: Vec<(&str, String)> = vec![
        (
            "429",
            format!("Rate limited (`{}`); see `Retry-After`", C::RateLimited),
        ),
        (
            "500",
            format!(
                "Internal error (`{}`); details are only logged",
                C::InternalError
            ),
        ),
        (
            "503",
            format!("Unavailable or timed out (`{}`)", C::Unavailable),
        ),
    ];
    let validation = || {
        (
            "422",
            format!(
                "Validation failed (`{}`), naming the field",
                C::ValidationFailed
            ),
        )
    };
    if has_body {
        wanted.extend([
            ("400", format!("Malformed JSON (`{}`)", C::MalformedJson)),
            ("413", format!("Body too large (`{}`)", C::PayloadTooLarge)),
            ("415", format!("Not JSON (`{}`)", C::UnsupportedMediaType)),
            validation(),
        ]);
    }
    if has_query || has_path_params {
        wanted.push(("400", format!("Bad parameter (`{}`)", C::BadRequest)));
        wanted.push(validation());
    }
    if secured {
        wanted.push(("401", format!("No valid session (`{}`)", C::Unauthorized)));
    }
    if has_path_params {
        wanted.push(("404", format!("Not found (`{}`)", C::NotFound)));
    }
    for (status, description) in wanted {
        op.responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| error_response(&description));
    }
}

fn error_response(description: &str) -> RefOr<Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build(),
    )
}

/// Sets the most units one order may buy, as configured.
pub fn set_max_units_per_order(doc: &mut utoipa::openapi::OpenApi, max: i64) {
    patch(doc, |json| {
        json["components"]["schemas"]["CreateOrder"]["properties"]["units"]["maximum"] = max.into();
    });
}

/// Edits the document as JSON (simpler than walking utoipa's typed tree).
fn patch(doc: &mut utoipa::openapi::OpenApi, edit: impl FnOnce(&mut serde_json::Value)) {
    let Ok(mut json) = serde_json::to_value(&*doc) else {
        return;
    };
    edit(&mut json);
    if let Ok(patched) = serde_json::from_value(json) {
        *doc = patched;
    }
}
