//! The CORS origin list: exact origins, checked while the flags are parsed so a
//! value that could never match a browser's `Origin` header is refused at start.

use std::fmt;
use std::str::FromStr;

use axum::http::{HeaderValue, Uri};

/// Exact origins allowed by CORS, as they appear in an `Origin` header.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct CorsOrigins(Vec<HeaderValue>);

impl CorsOrigins {
    /// The allowed origins; empty when CORS is off.
    pub fn origins(&self) -> &[HeaderValue] {
        &self.0
    }

    /// Whether CORS is off.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromStr for CorsOrigins {
    type Err = String;

    /// Parses `https://a.example,http://localhost:3000`. Each entry must be a bare
    /// origin (scheme, host, optional port): a browser sends exactly that, so a path,
    /// a trailing slash or a wildcard could never match and is refused here instead.
    fn from_str(list: &str) -> Result<Self, Self::Err> {
        list.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(parse_origin)
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }
}

fn parse_origin(entry: &str) -> Result<HeaderValue, String> {
    let bad = |why: &str| format!("invalid CORS origin {entry:?}: {why}");
    let uri: Uri = entry
        .parse()
        .map_err(|_| bad("expected e.g. https://shop.example.com"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err(bad("the scheme must be http or https")),
    }
    if uri.authority().is_none_or(|a| a.host().is_empty()) {
        return Err(bad("a host is required"));
    }
    // `Uri` reports "/" for both "https://a" and "https://a/", so look at the text.
    let after_scheme = entry.split_once("://").map_or("", |(_, rest)| rest);
    if after_scheme.contains(['/', '?', '#', '*']) {
        return Err(bad(
            "only scheme://host[:port], without path, slash or wildcard",
        ));
    }
    HeaderValue::from_str(&entry.to_ascii_lowercase()).map_err(|_| bad("not a valid header value"))
}

impl fmt::Debug for CorsOrigins {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|v| v.to_str().unwrap_or("?")))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cors_origins_accept_bare_origins_only() {
        let list: CorsOrigins = " https://Shop.example.com , http://localhost:3000,"
            .parse()
            .unwrap();
        assert_eq!(
            format!("{list:?}"),
            r#"["https://shop.example.com", "http://localhost:3000"]"#
        );
        assert!("".parse::<CorsOrigins>().unwrap().is_empty());
        for bad in [
            "*",
            "shop.example.com",
            "ftp://x.example",
            "https://x.example/",
            "https://x.example/app",
            "https://*.example.com",
            "https://",
        ] {
            let err = bad.parse::<CorsOrigins>().expect_err(bad);
            assert!(err.contains("invalid CORS origin"), "{bad}: {err}");
        }
    }
}
