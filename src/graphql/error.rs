//! REST errors as GraphQL errors: `extensions.code` is the REST `error.code`, and a
//! validation error names the offending GraphQL field or argument (`extensions.field`),
//! spelled the GraphQL way (`first`, not the REST `limit`).

use async_graphql::ErrorExtensions;

use crate::error::{ApiError, ErrorCode};

/// Turns a service error into a GraphQL field error. Internal causes are logged here,
/// once, and never sent.
pub fn gql(err: ApiError) -> async_graphql::Error {
    err.log_cause();
    let field = err.field().map(graphql_name);
    let code = err.code();
    let retry_after = err.retry_after_secs();
    let message = match &field {
        // The REST message starts with the REST name of the field; say the GraphQL one.
        Some(name) => match err.message().split_once(": ") {
            Some((_, rest)) => format!("{name}: {rest}"),
            None => err.message().to_owned(),
        },
        None => err.message().to_owned(),
    };
    coded(code, message).extend_with(|_, ext| {
        if let Some(field) = &field {
            ext.set("field", field.as_str());
        }
        if let Some(secs) = retry_after {
            ext.set("retryAfter", secs);
        }
    })
}

/// A GraphQL error carrying one of the API's error codes.
pub fn coded(code: ErrorCode, message: impl Into<String>) -> async_graphql::Error {
    async_graphql::Error::new(message).extend_with(|_, ext| ext.set("code", code.as_str()))
}

/// The GraphQL spelling of a REST field name: paging parameters take their Relay
/// names, everything else goes from snake_case to camelCase.
pub fn graphql_name(rest: &str) -> String {
    match rest {
        "limit" => return "first".to_owned(),
        "cursor" => return "after".to_owned(),
        "Idempotency-Key" => return "idempotencyKey".to_owned(),
        _ => {}
    }
    let mut out = String::with_capacity(rest.len());
    let mut upper = false;
    for c in rest.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::graphql_name;

    #[test]
    fn rest_names_become_graphql_names() {
        assert_eq!(graphql_name("limit"), "first");
        assert_eq!(graphql_name("cursor"), "after");
        assert_eq!(graphql_name("price_cents"), "priceCents");
        assert_eq!(
            graphql_name("gateway.upstream_base_url"),
            "gateway.upstreamBaseUrl"
        );
        assert_eq!(graphql_name("q"), "q");
    }
}
