//! Input rules for accounts.

use crate::error::ApiError;

/// Shortest and longest accepted password, in characters.
pub const PASSWORD_CHARS: std::ops::RangeInclusive<usize> = 8..=1024;

/// Trims and lowercases an email address and checks that it is plausible:
/// one `@`, a non-empty local part of at most 64 bytes, a dotted domain of
/// letters, digits and hyphens, no spaces, at most 254 bytes in all.
pub fn normalize_email(raw: &str) -> Result<String, ApiError> {
    let email = raw.trim().to_lowercase();
    let invalid = || ApiError::validation("email", "must be a valid email address");
    if email.is_empty() || email.len() > 254 {
        return Err(invalid());
    }
    let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
    if local.is_empty()
        || local.len() > 64
        || local.starts_with('.')
        || local.ends_with('.')
        || local.contains("..")
        || local
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "@,;:<>()[]\\\"".contains(c))
    {
        return Err(invalid());
    }
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if labels.len() < 2 || !labels.iter().all(label_ok) {
        return Err(invalid());
    }
    Ok(email)
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

/// Trims a display name; empty means none. At most 100 characters, no control characters.
pub fn normalize_display_name(raw: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(name) = raw.map(str::trim).filter(|n| !n.is_empty()) else {
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
