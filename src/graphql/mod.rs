//! GraphQL: a second API over the same services as REST, never a second
//! implementation of the rules. Resolvers call the service functions the REST
//! handlers call (validation, authorization, idempotency and error codes included),
//! authenticate with the same bearer token, and spend from the same rate-limit
//! buckets (`cost`).
//!
//! Safety: depth, complexity and document-size limits; the parser's recursion limit;
//! batched loading of an order's listing (`loaders`); no 5xx for a malformed
//! document. There is no in-browser explorer: the library's GraphiQL page loads its
//! JavaScript from a CDN, which our CSP blocks and which is blank offline; the SDL
//! at `/api/schema.graphql` and introspection serve tools instead.

mod connection;
mod context;
pub mod cost;
mod error;
mod http;
mod loaders;
mod mutation;
mod query;
mod types;

use async_graphql::{EmptySubscription, Schema};
use axum::Router;
use axum::routing::get;

use crate::state::AppState;
pub use mutation::MutationRoot;
pub use query::QueryRoot;

/// The schema type.
pub type UdamSchema = Schema<QueryRoot, MutationRoot, EmptySubscription>;

/// Deepest selection nesting accepted: room for the standard introspection query
/// (its type references nest about 13 levels), which clients and schemathesis send.
pub const MAX_DEPTH: usize = 15;
/// Largest complexity accepted (each field costs 1; a page multiplies its node's
/// selection by `first`): a page of 100 orders with 10 fields each and their
/// listing's 8 fields fits.
pub const MAX_COMPLEXITY: usize = 2_500;
/// Largest document (query text) accepted, in bytes.
pub const MAX_DOCUMENT_BYTES: usize = 16 * 1024;

/// Builds the schema with its limits. Introspection stays on.
pub fn schema() -> UdamSchema {
    Schema::build(QueryRoot, MutationRoot, EmptySubscription)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
        .limit_recursive_depth(32)
        .limit_directives(8)
        .extension(cost::Cost)
        .finish()
}

/// The GraphQL routes: `/graphql` (GET and POST) and `/api/schema.graphql`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/graphql", get(http::get).post(http::post))
        .route("/api/schema.graphql", get(http::sdl))
        .layer(axum::Extension(schema()))
}
