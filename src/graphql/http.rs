//! GraphQL over HTTP: `POST /graphql` (queries and mutations, JSON body),
//! `GET /graphql` (queries only, so that public ones can be cached), and the schema
//! as SDL at `/api/schema.graphql`.
//!
//! A request that is not a GraphQL request at all (not JSON, too large, a mutation
//! over GET) is refused with the REST error envelope and a 4xx status. A document
//! that does not parse, does not validate or is over a limit answers 200 with
//! GraphQL `errors`, each carrying `extensions.code` from the REST vocabulary.

use async_graphql::ErrorExtensionValues;
use async_graphql::parser::types::{DocumentOperations, OperationType};
use axum::Extension;
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::context::{ClientBucket, Viewer};
use super::cost::RootFields;
use super::loaders::ListingLoader;
use super::query::TokensOpened;
use super::{MAX_DOCUMENT_BYTES, UdamSchema};
use crate::accounts::AuthUser;
use crate::accounts::extract::bearer_in;
use crate::error::{ApiError, ErrorCode};
use crate::extract::ApiJson;
use crate::ratelimit::client_bucket_id;
use crate::state::AppState;

/// `POST /graphql`.
pub async fn post(
    State(state): State<AppState>,
    Extension(schema): Extension<UdamSchema>,
    request: Request,
) -> Result<Response, ApiError> {
    let (client, token) = caller(&state, &request);
    let viewer = viewer(&state, token).await?;
    let ApiJson(gql_request) =
        ApiJson::<async_graphql::Request>::from_request(request, &state).await?;
    execute(state, schema, gql_request, viewer, client, Method::Post).await
}

/// `GET /graphql?query=…&variables=…&operationName=…`: queries only.
pub async fn get(
    State(state): State<AppState>,
    Extension(schema): Extension<UdamSchema>,
    request: Request,
) -> Result<Response, ApiError> {
    let (client, token) = caller(&state, &request);
    let viewer = viewer(&state, token).await?;
    let raw = request.uri().query().unwrap_or_default();
    let gql_request = async_graphql::http::parse_query_string(raw)
        .map_err(|e| ApiError::validation("query", format!("not a GraphQL request: {e}")))?;
    execute(state, schema, gql_request, viewer, client, Method::Get).await
}

/// `GET /api/schema.graphql`: the schema in SDL.
pub async fn sdl(Extension(schema): Extension<UdamSchema>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        )],
        schema.sdl(),
    )
        .into_response()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Method {
    Get,
    Post,
}

/// The client's bucket and who is calling, from the same bearer token REST reads.
/// Only owned values cross the session lookup's await (a request is not `Sync`).
fn caller(state: &AppState, request: &Request) -> (ClientBucket, Option<String>) {
    let client = client_bucket_id(request, &state.config.edge.trusted_proxies);
    let token = bearer_in(request.headers()).map(str::to_owned);
    (ClientBucket(format!("ip:{client}")), token)
}

async fn viewer(state: &AppState, token: Option<String>) -> Result<Viewer, ApiError> {
    Ok(match token {
        None => Viewer::Anonymous,
        Some(token) => match AuthUser::from_token(state, &token).await {
            Ok(auth) => Viewer::SignedIn(Box::new(auth)),
            Err(err) if err.code() == ErrorCode::Unauthorized => Viewer::Invalid,
            Err(err) => return Err(err),
        },
    })
}

async fn execute(
    state: AppState,
    schema: UdamSchema,
    mut request: async_graphql::Request,
    viewer: Viewer,
    client: ClientBucket,
    method: Method,
) -> Result<Response, ApiError> {
    if request.query.len() > MAX_DOCUMENT_BYTES {
        return Ok(errors_only(
            ErrorCode::PayloadTooLarge,
            format!("the document is larger than {MAX_DOCUMENT_BYTES} bytes"),
        ));
    }
    let name = request.operation_name.clone();
    let operation = match request.parsed_query() {
        Ok(document) => selected(&document.operations, name.as_deref()),
        Err(err) => return Ok(errors_only(ErrorCode::BadRequest, err.message)),
    };
    if let Some((ty, _)) = operation
        && ty != OperationType::Query
        && method == Method::Get
    {
        return Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::MethodNotAllowed,
            "GET /graphql runs queries only; send mutations with POST",
        ));
    }
    let public = matches!(viewer, Viewer::Anonymous);
    let roots = operation.map_or(1, |(_, n)| n);
    let loader =
        async_graphql::dataloader::DataLoader::new(ListingLoader(state.clone()), tokio::spawn);
    let request = request
        .data(state)
        .data(viewer)
        .data(client)
        .data(RootFields(roots))
        .data(TokensOpened::default())
        .data(loader);
    let mut response = schema.execute(request).await;
    for error in &mut response.errors {
        // Parse, validation and limit errors come from the library without a code.
        let ext = error
            .extensions
            .get_or_insert_with(ErrorExtensionValues::default);
        if ext.get("code").is_none() {
            ext.set("code", ErrorCode::BadRequest.as_str());
        }
    }
    let body = serde_json::to_vec(&response).map_err(ApiError::internal)?;
    let cache = if method == Method::Get && public && response.errors.is_empty() {
        "public, max-age=0, must-revalidate"
    } else {
        "private, no-store"
    };
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
            (header::VARY, HeaderValue::from_static("authorization")),
        ],
        body,
    )
        .into_response())
}

/// The kind and root-field count of the operation a request runs, when it can be
/// told (the executor reports a missing or ambiguous one itself).
fn selected(operations: &DocumentOperations, name: Option<&str>) -> Option<(OperationType, usize)> {
    let op = match (operations, name) {
        (DocumentOperations::Single(op), _) => op,
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name)?,
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next()?,
        (DocumentOperations::Multiple(_), None) => return None,
    };
    Some((op.node.ty, op.node.selection_set.node.items.len()))
}

/// A GraphQL answer with one error and no data (200, as GraphQL over HTTP answers
/// a document it could not run).
fn errors_only(code: ErrorCode, message: String) -> Response {
    let body = serde_json::json!({
        "data": null,
        "errors": [{"message": message, "extensions": {"code": code.as_str()}}],
    });
    (
        [(
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-store"),
        )],
        axum::Json(body),
    )
        .into_response()
}
