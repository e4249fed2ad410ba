//! Browser sessions: the API's own session token, carried in the `udam_session`
//! cookie (`HttpOnly; SameSite=Lax; Path=/`; behind https `Secure` too, and named
//! `__Host-udam_session`, see [`UiCookie`]).
//!
//! `Viewer` is whoever is looking (maybe nobody); `SignedIn` is a page that needs a
//! user, and sends everyone else to `/signin?next=…`.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};

use super::failure::WebError;
use crate::accounts::{AuthUser, User};
use crate::state::AppState;

/// A cookie the web UI sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UiCookie {
    /// The session token of a signed-in browser.
    Session,
    /// The double-submit token of the signed-out forms (sign-in, sign-up).
    Csrf,
}

impl UiCookie {
    /// Its name. Behind https it carries the `__Host-` prefix: browsers then keep it
    /// only when it is `Secure`, for `Path=/` and without `Domain`, so a sibling
    /// subdomain can neither plant a session (fixation) nor a double-submit token of
    /// its choosing. Plain http (development) cannot use the prefix.
    pub fn name(self, state: &AppState) -> &'static str {
        match (self, is_https(state)) {
            (Self::Session, false) => "udam_session",
            (Self::Session, true) => "__Host-udam_session",
            (Self::Csrf, false) => "udam_csrf",
            (Self::Csrf, true) => "__Host-udam_csrf",
        }
    }

    /// Its value in a request, if it carries one.
    pub fn read<'a>(self, state: &AppState, headers: &'a HeaderMap) -> Option<&'a str> {
        cookie(headers, self.name(state))
    }
}

fn is_https(state: &AppState) -> bool {
    state.public_url().starts_with("https://")
}

/// A signed-in browser: the user, and what is needed to end or protect the session.
#[derive(Clone)]
pub struct SignedIn {
    /// Who is signed in.
    pub user: User,
    /// SHA-256 of the session token (to sign out exactly this session).
    pub token_hash: Vec<u8>,
    /// The CSRF token of this session, put in every form.
    pub csrf: String,
}

impl std::fmt::Debug for SignedIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedIn")
            .field("user", &self.user.id)
            .field("token_hash", &"[redacted]")
            .field("csrf", &"[redacted]")
            .finish()
    }
}

impl SignedIn {
    /// The name the navigation shows: the display name, else the email.
    pub fn label(&self) -> String {
        self.user
            .display_name
            .clone()
            .unwrap_or_else(|| self.user.email.clone())
    }
}

/// Whoever is looking at a page: `None` when signed out (or the cookie is stale).
#[derive(Clone, Debug)]
pub struct Viewer(pub Option<SignedIn>);

/// The value of cookie `name`, from every `Cookie` header of a request.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim())
        .filter(|value| !value.is_empty())
}

/// Resolves the session cookie of a request, if it names a live session.
async fn resolve(parts: &Parts, state: &AppState) -> Result<Option<SignedIn>, WebError> {
    let Some(token) = UiCookie::Session.read(state, &parts.headers) else {
        return Ok(None);
    };
    match AuthUser::from_token(state, token).await {
        Ok(auth) => Ok(Some(SignedIn {
            user: auth.user,
            token_hash: auth.token_hash,
            csrf: super::csrf_token::token_for_session(token),
        })),
        // Expired or revoked: the browser is simply signed out.
        Err(err) if err.status() == axum::http::StatusCode::UNAUTHORIZED => Ok(None),
        Err(err) => Err(err.into()),
    }
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, WebError> {
        if let Some(cached) = parts.extensions.get::<Viewer>() {
            return Ok(cached.clone());
        }
        let viewer = Viewer(resolve(parts, state).await?);
        parts.extensions.insert(viewer.clone());
        Ok(viewer)
    }
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, WebError> {
        let Viewer(viewer) = Viewer::from_request_parts(parts, state).await?;
        viewer.ok_or_else(|| {
            // A page comes back after sign-in; a form POST cannot be replayed, so its
            // user lands on the home page instead.
            let next = if parts.method == Method::GET {
                parts
                    .uri
                    .path_and_query()
                    .map_or("/", |pq| pq.as_str())
                    .to_owned()
            } else {
                "/".to_owned()
            };
            WebError::SignIn { next }
        })
    }
}

/// `next` if it is a path on this site, else `/`. Only relative targets are
/// followed after sign-in, so a crafted link cannot send people elsewhere.
pub fn safe_next(next: Option<&str>) -> String {
    let Some(next) = next.map(str::trim) else {
        return "/".to_owned();
    };
    let local = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(char::is_control)
        && next.len() <= 2000;
    if local {
        next.to_owned()
    } else {
        "/".to_owned()
    }
}

/// The `/signin` link that comes back to `next` afterwards.
pub fn signin_link(next: &str) -> String {
    let next = safe_next(Some(next));
    if next == "/" {
        "/signin".to_owned()
    } else {
        format!(
            "/signin?{}",
            serde_urlencoded::to_string([("next", next.as_str())]).unwrap_or_default()
        )
    }
}

/// Attributes shared by every cookie the UI sets.
fn cookie_attributes(state: &AppState) -> &'static str {
    if is_https(state) {
        "; HttpOnly; SameSite=Lax; Path=/; Secure"
    } else {
        "; HttpOnly; SameSite=Lax; Path=/"
    }
}

/// A `Set-Cookie` value that stores `value` in `which` for `max_age_secs`.
pub fn set_cookie(state: &AppState, which: UiCookie, value: &str, max_age_secs: i64) -> String {
    format!(
        "{}={value}; Max-Age={max_age_secs}{}",
        which.name(state),
        cookie_attributes(state)
    )
}

/// A `Set-Cookie` value that deletes `which`.
pub fn clear_cookie(state: &AppState, which: UiCookie) -> String {
    format!(
        "{}=; Max-Age=0{}",
        which.name(state),
        cookie_attributes(state)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn cookies_are_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; udam_session=xyz"),
        );
        headers.append(header::COOKIE, HeaderValue::from_static("b=2"));
        assert_eq!(cookie(&headers, "udam_session"), Some("xyz"));
        assert_eq!(cookie(&headers, "b"), Some("2"));
        assert_eq!(cookie(&headers, "udam"), None);
        headers.append(header::COOKIE, HeaderValue::from_static("empty="));
        assert_eq!(cookie(&headers, "empty"), None);
    }

    #[test]
    fn next_targets_stay_on_this_site() {
        assert_eq!(safe_next(Some("/orders?x=1")), "/orders?x=1");
        for bad in [
            "https://evil.example/",
            "//evil.example/",
            "/\\evil.example",
            "javascript:alert(1)",
            "orders",
            "/a\nb",
            "",
        ] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad:?} accepted");
        }
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn signin_links_encode_next() {
        assert_eq!(signin_link("/"), "/signin");
        assert_eq!(
            signin_link("/orders?cursor=a&b"),
            "/signin?next=%2Forders%3Fcursor%3Da%26b"
        );
        assert_eq!(signin_link("//evil"), "/signin");
    }
}
