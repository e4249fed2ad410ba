//! Failures of page handlers, answered with a friendly HTML page: what went wrong
//! and what to do next. Never a stack trace: a 500 says only that it was logged.

use askama::Template;
use askama_web::WebTemplate;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

pub use super::failure::WebError;
use super::layout::{Layout, render};
use super::session::signin_link;
use crate::error::ApiError;

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        match self {
            Self::SignIn { next } => Redirect::to(&signin_link(&next)).into_response(),
            Self::TooMany { headers } => {
                let mut page = error_page(
                    StatusCode::TOO_MANY_REQUESTS,
                    "there have been too many attempts from here or for this account",
                );
                page.headers_mut().extend(headers);
                page
            }
            Self::Page(err) => {
                if err.status().is_server_error() {
                    // The page shows nothing internal; the cause goes to the log, once,
                    // inside the request span that carries the request id.
                    tracing::error!(code = err.code().as_str(), error = ?err, "page failed");
                }
                error_page(err.status(), err.message())
            }
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "error.html")]
struct ErrorPage {
    layout: Layout,
    status: u16,
    title: &'static str,
    message: String,
    hint: &'static str,
}

/// What a person should read for a status: a title and what to do about it.
fn wording(status: StatusCode) -> (&'static str, &'static str) {
    match status.as_u16() {
        401 => ("Please sign in", "Sign in, then try again."),
        403 => (
            "Not allowed",
            "If you think you should be able to do this, check that you are signed in with the right account.",
        ),
        404 => (
            "Page not found",
            "Check the address, or go back to the marketplace and look from there.",
        ),
        409 => (
            "That cannot be done right now",
            "Reload the page to see the current state, then try again.",
        ),
        429 => (
            "Too many requests",
            "You are going a little fast. Wait a few seconds, then try again.",
        ),
        502..=504 => (
            "Temporarily unavailable",
            "A service we depend on did not answer. Nothing was charged. Try again in a minute.",
        ),
        500..=599 => (
            "Something went wrong on our side",
            "This is not your fault, and it has been logged. Try again in a moment.",
        ),
        _ => (
            "That did not work",
            "Go back, check the form and try again.",
        ),
    }
}

/// An error page with `status`, showing `message` (a sentence meant for people;
/// 5xx pages ignore it and say only that the failure was logged).
pub fn error_page(status: StatusCode, message: &str) -> Response {
    let (title, hint) = wording(status);
    let message = if status.is_server_error() {
        String::new()
    } else {
        sentence(message)
    };
    render(
        status,
        &ErrorPage {
            layout: Layout::minimal(),
            status: status.as_u16(),
            title,
            message,
            hint,
        },
    )
}

/// A service's message about a form, with the API's field name (`price_cents: …`)
/// replaced by the label people see on the form (`Price: …`).
pub fn form_message(err: &ApiError) -> String {
    const LABELS: &[(&str, &str)] = &[
        ("service_name", "Name"),
        ("description", "Description"),
        ("unit_description", "Unit"),
        ("price_cents", "Price"),
        ("price", "Price"),
        ("currency", "Currency"),
        ("available_units", "Units"),
        ("units", "Units"),
        ("api_key", "API key"),
        ("email", "Email"),
        ("password", "Password"),
        ("display_name", "Display name"),
    ];
    let message = err.message();
    let relabelled = message.split_once(": ").and_then(|(field, rest)| {
        LABELS
            .iter()
            .find(|(name, _)| *name == field)
            .map(|(_, label)| format!("{label}: {rest}"))
    });
    sentence(relabelled.as_deref().unwrap_or(message))
}

/// Capitalizes the first letter of a service message and ends it with a period.
pub fn sentence(message: &str) -> String {
    let message = message.trim();
    let mut chars = message.chars();
    let Some(first) = chars.next() else {
        return String::new();
    };
    let mut out: String = first.to_uppercase().chain(chars).collect();
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn messages_read_as_sentences() {
        assert_eq!(sentence("listing not found"), "Listing not found.");
        assert_eq!(sentence("Done."), "Done.");
        assert_eq!(sentence(""), "");
    }

    #[test]
    fn form_messages_use_form_labels() {
        let err = ApiError::validation("price_cents", "must be 0 or more");
        assert_eq!(form_message(&err), "Price: must be 0 or more.");
        let err = ApiError::conflict(ErrorCode::InsufficientUnits, "only 2 unit(s) left");
        assert_eq!(form_message(&err), "Only 2 unit(s) left.");
    }

    #[test]
    fn every_status_has_words() {
        for code in [400, 401, 403, 404, 409, 422, 429, 500, 502, 503] {
            let (title, hint) = wording(StatusCode::from_u16(code).unwrap());
            assert!(!title.is_empty() && !hint.is_empty());
        }
    }
}
