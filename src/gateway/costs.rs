//! Costs per route prefix: a seller may make a heavy endpoint take more than one
//! request from a buyer's allowance (`route_costs` on a gateway listing).
//!
//! The longest matching prefix wins; a path no prefix matches costs 1. Prefixes are
//! string prefixes of the path below the listing (`/v1/search` also matches
//! `/v1/searches`; end a prefix with `/` to match only a folder). Stored as a JSON
//! array in `listings.route_costs`, checked here before it is stored.
//!
//! Both sides are compared in their [`matching_form`], not as typed: the path goes
//! upstream as the buyer wrote it, and an upstream routes `/v1/%72eports`,
//! `/v1//reports`, `/v1/reports;x` or (case-insensitive servers) `/V1/Reports` to its
//! `/v1/reports`. Matching the raw text would let a buyer reach a priced route at the
//! price of 1 by writing its path differently.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiError;

/// Most prefixes one listing may price.
pub const MAX_ROUTE_COSTS: usize = 32;
/// Highest cost of one request, in requests.
pub const MAX_COST: i64 = 10_000;
/// Longest prefix, in bytes.
pub const MAX_PREFIX_BYTES: usize = 256;

/// The cost of the requests whose path starts with `prefix`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteCost {
    /// Path prefix below the listing, starting with `/` (e.g. `/v1/reports/`):
    /// visible ASCII, at most 256 bytes, no `..`, `?` or `#`.
    #[schema(example = "/v1/reports/", max_length = 256)]
    pub prefix: String,
    /// Requests one such call takes from the allowance, 1 to 10000.
    #[schema(example = 10, minimum = 1, maximum = 10000)]
    #[serde(deserialize_with = "crate::extract::json_int::int")]
    pub cost: i64,
}

/// Checks a seller's route costs: bounded count, well-formed prefixes, each once,
/// costs 1 to [`MAX_COST`]. An empty list means every request costs 1.
pub fn check(costs: Vec<RouteCost>) -> Result<Vec<RouteCost>, ApiError> {
    const FIELD: &str = "gateway.route_costs";
    if costs.len() > MAX_ROUTE_COSTS {
        return Err(ApiError::validation(
            FIELD,
            format!("at most {MAX_ROUTE_COSTS} prefixes"),
        ));
    }
    for (i, rc) in costs.iter().enumerate() {
        let shaped = rc.prefix.starts_with('/')
            && rc.prefix.len() <= MAX_PREFIX_BYTES
            && rc.prefix.bytes().all(|b| (0x21..=0x7e).contains(&b))
            && !rc.prefix.contains("..")
            && !rc.prefix.contains(['?', '#', '\\']);
        if !shaped {
            return Err(ApiError::validation(
                FIELD,
                format!(
                    "prefix {i} must start with `/`, be at most {MAX_PREFIX_BYTES} visible \
                     ASCII bytes, without `..`, `?`, `#` or `\\`"
                ),
            ));
        }
        if !(1..=MAX_COST).contains(&rc.cost) {
            return Err(ApiError::validation(
                FIELD,
                format!("cost {i} must be 1 to {MAX_COST}"),
            ));
        }
        let same = |other: &RouteCost| matching_form(&other.prefix) == matching_form(&rc.prefix);
        if costs[..i].iter().any(same) {
            return Err(ApiError::validation(
                FIELD,
                format!("prefix `{}` appears twice", rc.prefix),
            ));
        }
    }
    Ok(costs)
}

/// The stored form: `None` for no costs.
pub fn to_column(costs: &[RouteCost]) -> Option<String> {
    (!costs.is_empty())
        .then(|| serde_json::to_string(costs).ok())
        .flatten()
}

/// Reads the stored form; a column that does not parse (never written by this code)
/// counts as no costs rather than failing every request.
pub fn from_column(raw: Option<&str>) -> Vec<RouteCost> {
    raw.and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_default()
}

/// The cost of a request to `path` (below the listing, with its leading `/`): the
/// longest matching prefix's, else 1. Both are compared in [`matching_form`].
pub fn cost_of(costs: &[RouteCost], path: &str) -> i64 {
    if costs.is_empty() {
        return 1;
    }
    let path = matching_form(path);
    costs
        .iter()
        .map(|rc| (matching_form(&rc.prefix), rc.cost))
        .filter(|(prefix, _)| path.starts_with(prefix.as_str()))
        .max_by_key(|(prefix, _)| prefix.len())
        .map_or(1, |(_, cost)| cost)
}

/// A path as the most lenient upstream would route it: percent-encoded unreserved
/// characters (RFC 3986 §2.3: letters, digits, `-._~`) decoded, `;parameters` dropped
/// from each segment, runs of `/` merged, ASCII lowercased. Other escapes (`%2F`
/// among them) stay escapes.
pub fn matching_form(path: &str) -> String {
    let mut decoded = String::with_capacity(path.len());
    for (i, segment) in path.split('/').enumerate() {
        if i > 0 {
            decoded.push('/');
        }
        push_decoded_unreserved(&mut decoded, segment.split(';').next().unwrap_or_default());
    }
    let mut out = String::with_capacity(decoded.len());
    for c in decoded.chars() {
        if !(c == '/' && out.ends_with('/')) {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// Appends `segment` with its escapes of unreserved characters decoded.
fn push_decoded_unreserved(out: &mut String, segment: &str) {
    let mut rest = segment;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let escape = rest
            .get(at + 1..at + 3)
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escape {
            Some(byte) if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) => {
                out.push(char::from(byte));
                rest = &rest[at + 3..];
            }
            Some(_) => {
                out.push_str(&rest[at..at + 3]);
                rest = &rest[at + 3..];
            }
            None => {
                out.push('%');
                rest = &rest[at + 1..];
            }
        }
    }
    out.push_str(rest);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rc(prefix: &str, cost: i64) -> RouteCost {
        RouteCost {
            prefix: prefix.to_owned(),
            cost,
        }
    }

    #[test]
    fn the_longest_prefix_wins_and_unmatched_paths_cost_one() {
        let costs = vec![
            rc("/v1/", 2),
            rc("/v1/reports/", 10),
            rc("/v1/reports/x", 50),
        ];
        assert_eq!(cost_of(&costs, "/v1/reports/x1"), 50);
        assert_eq!(cost_of(&costs, "/v1/reports/y"), 10);
        assert_eq!(cost_of(&costs, "/v1/now"), 2);
        assert_eq!(cost_of(&costs, "/v2/now"), 1);
        assert_eq!(cost_of(&[], "/anything"), 1);
    }

    #[test]
    fn a_priced_route_written_differently_costs_the_same() {
        let costs = vec![rc("/v2/reports/", 10)];
        for path in [
            "/v2/reports/a",
            "/v2/%72eports/a",
            "/v2/%72%65ports/a",
            "/v2//reports/a",
            "//v2/reports/a",
            "/v2/reports;x/a",
            "/V2/Reports/a",
        ] {
            assert_eq!(cost_of(&costs, path), 10, "{path}");
        }
        assert_eq!(cost_of(&costs, "/v2/report/a"), 1);
        assert_eq!(cost_of(&costs, "/v2/reports%2Fa"), 1);
    }

    #[test]
    fn the_matching_form_decodes_only_unreserved_escapes() {
        assert_eq!(matching_form("/A%7e%2d%2F%zz%4"), "/a~-%2f%zz%4");
        assert_eq!(matching_form("/a;b=c/d;e"), "/a/d");
        assert_eq!(matching_form("/a///b/"), "/a/b/");
        assert_eq!(matching_form("/"), "/");
        assert_eq!(matching_form(""), "");
    }

    #[test]
    fn bad_costs_are_refused() {
        assert!(check(vec![rc("/ok", 1)]).is_ok());
        assert!(check(vec![rc("no-slash", 1)]).is_err());
        assert!(check(vec![rc("/a/../b", 1)]).is_err());
        assert!(check(vec![rc("/a", 0)]).is_err());
        assert!(check(vec![rc("/a", MAX_COST + 1)]).is_err());
        assert!(check(vec![rc("/a", 1), rc("/a", 2)]).is_err());
        assert!(check(vec![rc("/a/", 1), rc("/A//", 2)]).is_err());
        assert!(
            check(
                (0..=MAX_ROUTE_COSTS)
                    .map(|i| rc(&format!("/{i}"), 1))
                    .collect()
            )
            .is_err()
        );
    }

    #[test]
    fn the_column_round_trips() {
        let costs = vec![rc("/v1/", 3)];
        assert_eq!(from_column(to_column(&costs).as_deref()), costs);
        assert_eq!(to_column(&[]), None);
        assert!(from_column(Some("not json")).is_empty());
    }
}
