//! Keyset pagination for lists ordered newest first: `(created_at, id)` descending.
//!
//! The cursor is the position of the last item shown, so items added meanwhile never
//! shift a page boundary (no repeats, no skips).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::error::ApiError;

/// `limit` and `cursor` query parameters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page (opaque).
    #[param(pattern = "^[A-Za-z0-9_-]*$", max_length = 400)]
    pub cursor: Option<String>,
}

/// A validated page request.
#[derive(Clone, Debug)]
pub struct Page {
    /// Rows wanted.
    pub limit: i64,
    /// Show rows strictly older than this `(created_at, id)`.
    pub before: (i64, String),
}

impl PageQuery {
    /// Validates the parameters.
    pub fn parse(&self) -> Result<Page, ApiError> {
        let limit = self.limit.unwrap_or(20);
        if !(1..=100).contains(&limit) {
            return Err(ApiError::validation("limit", "must be 1 to 100"));
        }
        let before = match self.cursor.as_deref().filter(|c| !c.is_empty()) {
            None => (i64::MAX, String::new()),
            Some(cursor) => decode(cursor)?,
        };
        Ok(Page { limit, before })
    }
}

/// The cursor pointing after an item.
pub fn encode(created_at: i64, id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{created_at}:{id}"))
}

fn decode(cursor: &str) -> Result<(i64, String), ApiError> {
    let bad = || ApiError::validation("cursor", "is not a cursor returned by this list");
    let raw = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    let (at, id) = text.split_once(':').ok_or_else(bad)?;
    // The id goes into a query: only the shape this server issues may get there
    // (PostgreSQL, for one, refuses text holding a NUL byte).
    if !crate::ids::is_well_formed(id) {
        return Err(bad());
    }
    Ok((at.parse().map_err(|_| bad())?, id.to_owned()))
}

/// Trims a fetched `limit + 1` rows to `limit` and computes the next cursor.
pub fn finish<T>(
    mut rows: Vec<T>,
    limit: i64,
    key: impl Fn(&T) -> (i64, String),
) -> (Vec<T>, Option<String>) {
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next = more
        .then(|| {
            rows.last().map(|r| {
                let (at, id) = key(r);
                encode(at, &id)
            })
        })
        .flatten();
    (rows, next)
}

#[cfg(test)]
mod tests {
    use super::{PageQuery, encode};

    fn parse(cursor: &str) -> Result<super::Page, crate::error::ApiError> {
        PageQuery {
            limit: None,
            cursor: Some(cursor.to_owned()),
        }
        .parse()
    }

    #[test]
    fn cursors_round_trip_and_bad_ones_are_refused() {
        let page = parse(&encode(42, "ord_abc")).ok().map(|p| p.before);
        assert_eq!(page, Some((42, "ord_abc".to_owned())));
        for bad in ["MToA", "!!", "eA", &encode(1, "ord_a\u{0}"), &encode(1, "")] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
