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

use crate::error::{ErrorBody, ErrorDetail};

/// The static part of the document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "UDAM API",
        description = "The Unified Data Marketplace: accounts, listings with sealed seller keys, \
                       oversell-proof orders, payments and buyer access tokens. Errors always use \
                       the envelope `{\"error\": {\"code\", \"message\"}}`. Money is an integer \
                       count of the currency's minor unit.",
        license(name = "Apache-2.0")
    ),
    components(schemas(ErrorBody, ErrorDetail)),
    tags(
        (name = "accounts", description = "Registration, sessions, the current user"),
        (name = "listings", description = "Data services for sale; seller keys are sealed at rest"),
        (name = "orders", description = "Buying, payment, cancel, sales and the unpaid balance"),
        (name = "tokens", description = "Buyers' access tokens (the sellers' keys)"),
        (name = "payments", description = "Stripe webhooks"),
        (name = "operations", description = "Probes"),
    )
)]
pub struct ApiDoc;

/// Adds the bearer scheme and the error responses every operation can produce.
pub fn finish(doc: &mut utoipa::openapi::OpenApi) {
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
    let mut wanted: Vec<(&str, &str)> = vec![
        ("429", "Rate limited (`rate_limited`); see `Retry-After`"),
        (
            "500",
            "Internal error (`internal_error`); details are only logged",
        ),
        ("503", "Unavailable or timed out (`unavailable`)"),
    ];
    if has_body {
        wanted.extend([
            ("400", "Malformed JSON (`malformed_json`)"),
            ("413", "Body too large (`payload_too_large`)"),
            ("415", "Not JSON (`unsupported_media_type`)"),
            (
                "422",
                "Validation failed (`validation_failed`), naming the field",
            ),
        ]);
    }
    if has_query || has_path_params {
        wanted.push(("400", "Bad parameter (`bad_request`)"));
        wanted.push((
            "422",
            "Validation failed (`validation_failed`), naming the field",
        ));
    }
    if secured {
        wanted.push(("401", "No valid session (`unauthorized`)"));
    }
    if has_path_params {
        wanted.push(("404", "Not found (`not_found`)"));
    }
    for (status, description) in wanted {
        op.responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| error_response(description));
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
