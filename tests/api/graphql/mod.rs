//! GraphQL over the same services as REST: every query and mutation, the REST
//! authorization matrix's cases, idempotent orders and the overselling race through
//! GraphQL, its limits and errors, batched loading, and the SDL snapshot.

mod authz;
mod errors;
mod fuzz;
mod loading;
mod orders;
mod schema;

use serde_json::{Value, json};

use crate::common::{Client, Resp};

/// POSTs a GraphQL request; answers the decoded response.
pub async fn gql(client: &Client, token: Option<&str>, query: &str, variables: Value) -> Resp {
    client
        .post(
            "/graphql",
            &json!({"query": query, "variables": variables}),
            token,
        )
        .await
}

/// The `extensions.code` of a response's first error ("" when it has none).
pub fn first_code(r: &Resp) -> &str {
    r.body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_default()
}

/// Fails unless the response is a 200 without errors; answers its `data`.
pub fn data(r: &Resp) -> &Value {
    assert_eq!(r.status, reqwest::StatusCode::OK, "{:?}", r.body);
    assert!(r.body["errors"].is_null(), "unexpected errors: {}", r.body);
    &r.body["data"]
}
