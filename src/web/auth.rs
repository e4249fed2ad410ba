//! Sign up, sign in, sign out.
//!
//! Signing in issues an ordinary API session (`accounts::sessions`) and hands its
//! token to the browser as the `udam_session` cookie; signing out revokes that
//! session in the database, so the cookie stops working on every server process.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::csrf::{AnonForm, Protected, new_anon_token};
use super::error::{WebError, form_message};
use super::form_limits::{Attempt, Client, attempt};
use super::layout::{Layout, Notice, WebQuery, render};
use super::session::{UiCookie, Viewer, clear_cookie, safe_next, set_cookie};
use crate::accounts::validate::{check_password, normalize_display_name, normalize_email};
use crate::accounts::{authenticate, create_user, sessions};
use crate::error::ApiError;
use crate::state::AppState;

/// How long the double-submit cookie of the signed-out forms lives.
const ANON_COOKIE_SECS: i64 = 12 * 3600;

/// `?next=…` on the sign-in and sign-up pages.
#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// A form with nothing but its CSRF token.
#[derive(Deserialize)]
pub struct NoFields {}

/// The sign-in form. No `Debug`: it holds a password.
#[derive(Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
}

/// The sign-up form. No `Debug`: it holds a password.
#[derive(Deserialize)]
pub struct SignUpForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    display_name: Option<String>,
    next: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "signin.html")]
struct SignInPage {
    layout: Layout,
    form_csrf: String,
    email: String,
    next: String,
    error: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "signup.html")]
struct SignUpPage {
    layout: Layout,
    form_csrf: String,
    email: String,
    display_name: String,
    next: String,
    error: Option<String>,
}

/// The double-submit token of this browser, and the cookie to set when it is new.
fn anon_token(state: &AppState, headers: &HeaderMap) -> (String, Option<String>) {
    match UiCookie::Csrf.read(state, headers) {
        Some(existing) if existing.len() == 64 => (existing.to_owned(), None),
        _ => {
            let token = new_anon_token();
            let set = set_cookie(state, UiCookie::Csrf, &token, ANON_COOKIE_SECS);
            (token, Some(set))
        }
    }
}

/// Attaches a `Set-Cookie` header when there is one.
fn with_cookie(set: Option<String>, response: Response) -> Response {
    match set {
        Some(value) => ([(header::SET_COOKIE, value)], response).into_response(),
        None => response,
    }
}

/// Where a signed-in browser goes instead of a sign-in form.
fn already_signed_in(next: Option<&str>) -> Response {
    Redirect::to(&safe_next(next)).into_response()
}

/// `GET /signin`.
pub async fn signin_page(
    State(state): State<AppState>,
    Viewer(viewer): Viewer,
    notice: Notice,
    headers: HeaderMap,
    WebQuery(query): WebQuery<NextQuery>,
) -> Response {
    if viewer.is_some() {
        return already_signed_in(query.next.as_deref());
    }
    let (form_csrf, set) = anon_token(&state, &headers);
    let page = SignInPage {
        layout: Layout::new(None, "signin").with_notice(notice),
        form_csrf,
        email: String::new(),
        next: safe_next(query.next.as_deref()),
        error: None,
    };
    with_cookie(set, render(StatusCode::OK, &page))
}

/// `GET /signup`.
pub async fn signup_page(
    State(state): State<AppState>,
    Viewer(viewer): Viewer,
    headers: HeaderMap,
    WebQuery(query): WebQuery<NextQuery>,
) -> Response {
    if viewer.is_some() {
        return already_signed_in(query.next.as_deref());
    }
    let (form_csrf, set) = anon_token(&state, &headers);
    let page = SignUpPage {
        layout: Layout::new(None, "signup"),
        form_csrf,
        email: String::new(),
        display_name: String::new(),
        next: safe_next(query.next.as_deref()),
        error: None,
    };
    with_cookie(set, render(StatusCode::OK, &page))
}

/// Sets the session cookie and goes on to `next`.
fn signed_in(state: &AppState, token: &str, to: &str) -> Response {
    let max_age = i64::try_from(state.config.session_ttl.0.as_secs()).unwrap_or(i64::MAX);
    let cookie = set_cookie(state, UiCookie::Session, token, max_age);
    ([(header::SET_COOKIE, cookie)], Redirect::to(to)).into_response()
}

/// `POST /signin`.
pub async fn signin(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    AnonForm(form): AnonForm<SignInForm>,
) -> Result<Response, WebError> {
    attempt(&state, &client, Attempt::SignIn, &form.email).await?;
    let next = safe_next(form.next.as_deref());
    match authenticate(&state, &form.email, form.password).await {
        Ok((_, session)) => {
            // A session the browser already held (another account's, or one an
            // attacker planted) ends here rather than living on beside the new one.
            if let Some(old) = UiCookie::Session.read(&state, &headers) {
                sessions::revoke(&state.db, &sessions::hash_token(old)).await?;
            }
            Ok(signed_in(&state, &session.token, &next))
        }
        Err(err) if err.status().is_client_error() => {
            let (form_csrf, set) = anon_token(&state, &headers);
            let page = SignInPage {
                layout: Layout::new(None, "signin"),
                form_csrf,
                email: form.email.trim().to_owned(),
                next,
                error: Some(form_message(&err)),
            };
            Ok(with_cookie(set, render(err.status(), &page)))
        }
        Err(err) => Err(err.into()),
    }
}

/// Validates a sign-up and creates the account.
async fn register(
    state: &AppState,
    form: &mut SignUpForm,
) -> Result<crate::accounts::User, ApiError> {
    let email = normalize_email(&form.email)?;
    check_password(&form.password)?;
    let display_name = normalize_display_name(form.display_name.as_deref())?;
    create_user(
        state,
        &email,
        std::mem::take(&mut form.password),
        display_name,
    )
    .await
}

/// `POST /signup`: creates the account and signs it in.
pub async fn signup(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    AnonForm(mut form): AnonForm<SignUpForm>,
) -> Result<Response, WebError> {
    attempt(&state, &client, Attempt::SignUp, &form.email).await?;
    let next = safe_next(form.next.as_deref());
    match register(&state, &mut form).await {
        Ok(user) => {
            let ttl_ms = i64::try_from(state.config.session_ttl.0.as_millis()).unwrap_or(i64::MAX);
            let session = sessions::create(&state.db, &user.id, ttl_ms).await?;
            let to = if next == "/" {
                "/?notice=welcome".to_owned()
            } else {
                next
            };
            Ok(signed_in(&state, &session.token, &to))
        }
        Err(err) if err.status().is_client_error() => {
            let (form_csrf, set) = anon_token(&state, &headers);
            let page = SignUpPage {
                layout: Layout::new(None, "signup"),
                form_csrf,
                email: form.email.trim().to_owned(),
                display_name: form.display_name.unwrap_or_default(),
                next,
                error: Some(form_message(&err)),
            };
            Ok(with_cookie(set, render(err.status(), &page)))
        }
        Err(err) => Err(err.into()),
    }
}

/// `POST /signout`: ends this session everywhere and forgets the cookie.
pub async fn signout(
    State(state): State<AppState>,
    Protected { me, .. }: Protected<NoFields>,
) -> Result<Response, WebError> {
    sessions::revoke(&state.db, &me.token_hash).await?;
    Ok((
        [(header::SET_COOKIE, clear_cookie(&state, UiCookie::Session))],
        Redirect::to("/?notice=signed_out"),
    )
        .into_response())
}
