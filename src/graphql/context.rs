//! What a GraphQL request carries into its resolvers: the application state, the
//! signed-in viewer (from the same bearer token the REST extractor reads) and the
//! client's rate-limit bucket.

use async_graphql::Context;

use super::error::gql;
use crate::accounts::{AuthUser, User};
use crate::error::ApiError;
use crate::state::AppState;

/// Who is asking.
#[derive(Clone, Debug)]
pub enum Viewer {
    /// No `Authorization` header: public fields only.
    Anonymous,
    /// A bearer token that names no live session: every field that needs a viewer
    /// answers `unauthorized`, as REST would; public fields still answer.
    Invalid,
    /// A valid session.
    SignedIn(Box<AuthUser>),
}

/// The client's rate-limit bucket (`ip:CLIENT`), for requests that cost more than
/// one REST call.
#[derive(Clone, Debug)]
pub struct ClientBucket(pub String);

/// The application state of a resolver's request.
pub fn state<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a AppState> {
    ctx.data::<AppState>()
}

/// The signed-in user, or `unauthorized` (the REST 401's code).
pub fn user<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a User> {
    match ctx.data::<Viewer>()? {
        Viewer::SignedIn(auth) => Ok(&auth.user),
        Viewer::Anonymous | Viewer::Invalid => Err(gql(ApiError::unauthorized())),
    }
}
