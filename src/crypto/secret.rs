//! A string that holds a secret: redacted when printed, wiped when dropped.

use std::fmt;

use zeroize::Zeroizing;

/// A secret string, such as a seller's API key after it has been opened.
///
/// `Debug` and `Display` print `[redacted]`, so the value cannot reach a log
/// line by accident; [`SecretString::expose`] is the one explicit way to read
/// it. The heap buffer is overwritten with zeros when the value is dropped.
#[derive(Clone, Default)]
pub struct SecretString(Zeroizing<String>);

impl SecretString {
    /// Wraps `value`, taking ownership of its buffer (no copy is left behind).
    pub fn new(value: String) -> Self {
        SecretString(Zeroizing::new(value))
    }

    /// The secret itself. Call this only where the value must leave the process,
    /// e.g. when building the request to the seller's upstream API.
    pub fn expose(&self) -> &str {
        self.0.as_str()
    }
}

impl From<String> for SecretString {
    fn from(value: String) -> Self {
        SecretString::new(value)
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printing_never_shows_the_secret() {
        let secret = SecretString::new("sk_live_abc123".to_owned());
        assert_eq!(format!("{secret:?}"), "[redacted]");
        assert_eq!(format!("{secret}"), "[redacted]");
        assert_eq!(format!("{:?}", Some(&secret)), "Some([redacted])");
    }

    #[test]
    fn expose_returns_the_value() {
        let secret = SecretString::from("sk_live_abc123".to_owned());
        assert_eq!(secret.expose(), "sk_live_abc123");
        assert_eq!(secret.clone().expose(), "sk_live_abc123");
    }
}
