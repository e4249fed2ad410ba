//! HTTP handlers of the accounts API.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::validate::{check_password, normalize_display_name, normalize_email};
use super::{AuthUser, UserView, sessions};
use crate::clock::rfc3339;
use crate::error::ApiResult;
use crate::extract::ApiJson;
use crate::state::AppState;

/// The accounts routes, relative to `/api/v1`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(logout_all))
        .routes(routes!(me))
}

/// Body of `POST /auth/register`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// Email; trimmed and lowercased.
    #[schema(
        example = "ann@example.com",
        max_length = 254,
        pattern = r"^[ \t\r\n]*[A-Za-z0-9_%+-]+(\.[A-Za-z0-9_%+-]+)*@[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)+[ \t\r\n]*$"
    )]
    pub email: String,
    /// 8 to 1024 characters.
    #[schema(example = "correct horse battery", min_length = 8, max_length = 1024)]
    pub password: String,
    /// Optional public name, at most 100 characters, no control characters.
    #[schema(max_length = 100, pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$")]
    pub display_name: Option<String>,
}

impl std::fmt::Debug for RegisterRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegisterRequest")
            .field("email", &self.email)
            .field("password", &"[redacted]")
            .finish()
    }
}

/// Body of `POST /auth/login`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Email used at registration.
    #[schema(example = "ann@example.com")]
    pub email: String,
    /// The password.
    #[schema(example = "correct horse battery")]
    pub password: String,
}

/// `{user}`.
#[derive(Serialize, ToSchema)]
pub struct UserEnvelope {
    /// The user.
    pub user: UserView,
}

/// A new session.
#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    /// Bearer token: send as `Authorization: Bearer TOKEN`.
    pub token: String,
    /// RFC 3339 UTC.
    pub expires_at: String,
    /// The signed-in user.
    pub user: UserView,
}

/// Creates an account.
#[utoipa::path(post, path = "/auth/register", tag = "accounts",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Account created", body = UserEnvelope),
        (status = 409, description = "`email_taken`", body = crate::error::ErrorBody),
        (status = 503, description = "Unavailable or timed out (`unavailable`), or the password hashing queue is full (with `Retry-After`)", body = crate::error::ErrorBody),
    ))]
async fn register(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<RegisterRequest>,
) -> ApiResult<(StatusCode, Json<UserEnvelope>)> {
    let email = normalize_email(&req.email)?;
    check_password(&req.password)?;
    let display_name = normalize_display_name(req.display_name.as_deref())?;
    let user = super::create_user(&state, &email, req.password, display_name).await?;
    Ok((
        StatusCode::CREATED,
        Json(UserEnvelope { user: user.view() }),
    ))
}

/// Signs in and returns a bearer token.
#[utoipa::path(post, path = "/auth/login", tag = "accounts",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = LoginResponse),
        (status = 401, description = "`invalid_credentials`", body = crate::error::ErrorBody),
        (status = 503, description = "Unavailable or timed out (`unavailable`), or the password hashing queue is full (with `Retry-After`)", body = crate::error::ErrorBody),
    ))]
async fn login(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<Json<LoginResponse>> {
    let (user, session) = super::authenticate(&state, &req.email, req.password).await?;
    Ok(Json(LoginResponse {
        token: session.token,
        expires_at: rfc3339(session.expires_at),
        user: user.view(),
    }))
}

/// Ends the presented session, on every server process at once.
#[utoipa::path(post, path = "/auth/logout", tag = "accounts",
    security(("bearer" = [])),
    responses((status = 204, description = "Signed out")))]
async fn logout(State(state): State<AppState>, auth: AuthUser) -> ApiResult<StatusCode> {
    sessions::revoke(&state.db, &auth.token_hash).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Ends every session of the caller.
#[utoipa::path(post, path = "/auth/logout-all", tag = "accounts",
    security(("bearer" = [])),
    responses((status = 204, description = "Every session ended")))]
async fn logout_all(State(state): State<AppState>, auth: AuthUser) -> ApiResult<StatusCode> {
    sessions::revoke_all(&state.db, &auth.user.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The signed-in user.
#[utoipa::path(get, path = "/me", tag = "accounts",
    security(("bearer" = [])),
    responses((status = 200, description = "The caller", body = UserView)))]
async fn me(auth: AuthUser) -> Json<UserView> {
    Json(auth.user.view())
}
