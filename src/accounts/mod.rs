//! Accounts: users, password hashing, revocable sessions and the auth extractor.

pub mod extract;
pub mod handlers;
pub mod password;
pub mod password_pool;
pub mod sessions;
pub mod validate;

use serde::Serialize;
use sqlx::FromRow;
use sqlx::any::AnyRow;
use utoipa::ToSchema;

use crate::clock::rfc3339;
use crate::db::Db;

pub use extract::AuthUser;

/// A user as stored (without the password hash).
#[derive(Clone, Debug)]
pub struct User {
    /// Opaque id, `usr_…`.
    pub id: String,
    /// Normalized (trimmed, lowercased) email.
    pub email: String,
    /// Optional public name.
    pub display_name: Option<String>,
    /// Administrators may change any listing and revoke any token.
    pub is_admin: bool,
    /// Unix milliseconds.
    pub created_at: i64,
}

/// A `users` row decoded by column name, on either driver. The flag is stored
/// as 0/1 because the `Any` driver cannot decode native booleans.
#[derive(Debug, sqlx::FromRow)]
pub struct UserRow {
    id: String,
    email: String,
    display_name: Option<String>,
    is_admin: i64,
    created_at: i64,
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> Self {
        Self {
            id: row.id,
            email: row.email,
            display_name: row.display_name,
            is_admin: row.is_admin != 0,
            created_at: row.created_at,
        }
    }
}

impl User {
    /// Reads a user from a row with the `users` columns, by name.
    pub fn from_row(row: &AnyRow) -> Result<Self, sqlx::Error> {
        UserRow::from_row(row).map(Self::from)
    }

    /// The public JSON shape.
    pub fn view(&self) -> UserView {
        UserView {
            id: self.id.clone(),
            email: self.email.clone(),
            display_name: self.display_name.clone(),
            is_admin: self.is_admin,
            created_at: rfc3339(self.created_at),
        }
    }
}

/// A user as the API shows it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct UserView {
    /// Opaque id.
    #[schema(example = "usr_h3Jx9VZ0cQm1y2Lr8kP5tA")]
    pub id: String,
    /// Normalized email.
    #[schema(example = "ann@example.com")]
    pub email: String,
    /// Optional public name.
    pub display_name: Option<String>,
    /// Whether the user is an administrator.
    pub is_admin: bool,
    /// RFC 3339 UTC.
    #[schema(example = "2026-11-28T18:22:19Z")]
    pub created_at: String,
}

/// Finds a user and their password hash by normalized email.
pub async fn find_by_email(db: &Db, email: &str) -> Result<Option<(User, String)>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT u.id, u.email, u.display_name, u.is_admin, u.created_at, u.password_hash \
         FROM users u WHERE u.email = $1",
    )
    .bind(email)
    .fetch_optional(db.pool())
    .await?;
    row.as_ref()
        .map(WithPassword::from_row)
        .transpose()
        .map(|found| found.map(|found| (User::from(found.user), found.password_hash)))
}

/// A user's row with its password hash, as the login reads it.
#[derive(sqlx::FromRow)]
struct WithPassword {
    #[sqlx(flatten)]
    user: UserRow,
    password_hash: String,
}

/// Makes an existing user an administrator; false when no such email exists.
pub async fn grant_admin(db: &Db, email: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("UPDATE users SET is_admin = 1 WHERE email = $1")
        .bind(email)
        .execute(db.writes())
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Registers a user whose email and password were already validated.
pub async fn create_user(
    state: &crate::state::AppState,
    email: &str,
    password: String,
    display_name: Option<String>,
) -> Result<User, crate::error::ApiError> {
    let password_hash = state.passwords.hash(password).await?;
    let user = User {
        id: crate::ids::new_id("usr"),
        email: email.to_owned(),
        display_name,
        is_admin: false,
        created_at: crate::clock::now_ms(),
    };
    sqlx::query(
        "INSERT INTO users (id, email, password_hash, display_name, is_admin, created_at) \
         VALUES ($1, $2, $3, $4, 0, $5)",
    )
    .bind(&user.id)
    .bind(&user.email)
    .bind(password_hash)
    .bind(&user.display_name)
    .bind(user.created_at)
    .execute(state.db.writes())
    .await
    .map_err(|err| {
        if crate::db::is_unique_violation(&err) {
            crate::error::ApiError::conflict(
                crate::error::ErrorCode::EmailTaken,
                "an account with this email already exists",
            )
        } else {
            err.into()
        }
    })?;
    Ok(user)
}

/// Checks credentials and opens a session. A wrong password and an unknown email
/// fail the same way, after the same amount of hashing work.
pub async fn authenticate(
    state: &crate::state::AppState,
    raw_email: &str,
    password: String,
) -> Result<(User, sessions::NewSession), crate::error::ApiError> {
    let invalid = || {
        crate::error::ApiError::new(
            axum::http::StatusCode::UNAUTHORIZED,
            crate::error::ErrorCode::InvalidCredentials,
            "the email or password is wrong",
        )
    };
    // An email that cannot be valid still costs one dummy verification, so that
    // input shape does not leak through timing either.
    let email = validate::normalize_email(raw_email).ok();
    let found = match &email {
        Some(email) => find_by_email(&state.db, email).await?,
        None => None,
    };
    let (user, hash) = match found {
        Some((user, hash)) => (Some(user), Some(hash)),
        None => (None, None),
    };
    let ok = state.passwords.verify(password, hash).await?;
    let user = user.filter(|_| ok).ok_or_else(invalid)?;
    let ttl_ms = i64::try_from(state.config.session_ttl.0.as_millis()).unwrap_or(i64::MAX);
    let session = sessions::create(&state.db, &user.id, ttl_ms).await?;
    Ok((user, session))
}
