//! Input rules for accounts.

use crate::error::ApiError;

/// Shortest and longest accepted password, in characters.
pub const PASSWORD_CHARS: std::ops::RangeInclusive<usize> = 8..=1024;

/// The email rule, as the OpenAPI document states it (with at most 254 characters):
/// optional surrounding blanks, a dot-separated local part of letters, digits and
/// `_%+-`, and a dotted domain whose labels neither start nor end with `-`.
pub const EMAIL_PATTERN: &str = r"^[ \t\r\n]*[A-Za-z0-9_%+-]+(\.[A-Za-z0-9_%+-]+)*@[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)+[ \t\r\n]*$";

/// Longest accepted email input, in characters.
pub const EMAIL_MAX_CHARS: usize = 254;

/// Checks an email against [`EMAIL_PATTERN`], then trims and lowercases it.
pub fn normalize_email(raw: &str) -> Result<String, ApiError> {
    let invalid = || ApiError::validation("email", "must be a valid email address");
    if raw.chars().count() > EMAIL_MAX_CHARS {
        return Err(invalid());
    }
    let email = raw.trim_matches([' ', '\t', '\r', '\n']);
    let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
    let local_ok = local.split('.').all(|part| {
        !part.is_empty()
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_%+-".contains(c))
    });
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if !local_ok || labels.len() < 2 || !labels.iter().all(label_ok) {
        return Err(invalid());
    }
    Ok(email.to_ascii_lowercase())
}

/// Checks a new password's length (in characters, not bytes).
pub fn check_password(password: &str) -> Result<(), ApiError> {
    let chars = password.chars().count();
    if !PASSWORD_CHARS.contains(&chars) {
        return Err(ApiError::validation(
            "password",
            format!(
                "must be {} to {} characters long",
                PASSWORD_CHARS.start(),
                PASSWORD_CHARS.end()
            ),
        ));
    }
    Ok(())
}

/// Checks a display name: at most 100 characters, no control characters; an
/// empty name means none.
pub fn normalize_display_name(raw: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(name) = raw.filter(|n| !n.is_empty()) else {
        return Ok(None);
    };
    if name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ApiError::validation(
            "display_name",
            "must be at most 100 printable characters",
        ));
    }
    Ok(Some(name.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(
            normalize_email("  Ann@Example.COM ").unwrap(),
            "ann@example.com"
        );
        for bad in [
            "",
            "ann",
            "ann@",
            "@x.com",
            "ann@localhost",
            "a b@x.com",
            "ann@x..com",
            "ann@-x.com",
            "a@b@c.com",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn passwords() {
        assert!(check_password("1234567").is_err());
        assert!(check_password("12345678").is_ok());
        assert!(check_password("ééééééé").is_err());
        assert!(check_password(&"x".repeat(1025)).is_err());
    }
}
