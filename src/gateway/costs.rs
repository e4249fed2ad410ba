//! Costs per route prefix: a seller may make a heavy endpoint take more than one
//! request from a buyer's allowance (`route_costs` on a gateway listing).
//!
//! The longest matching prefix wins; a path no prefix matches costs 1. Prefixes are
//! plain string prefixes of the path below the listing (`/v1/search` also matches
//! `/v1/searches`; end a prefix with `/` to match only a folder). Stored as a JSON
//! array in `listings.route_costs`, checked here before it is stored.

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
        if costs[..i].iter().any(|other| other.prefix == rc.prefix) {
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
/// longest matching prefix's, else 1.
pub fn cost_of(costs: &[RouteCost], path: &str) -> i64 {
    costs
        .iter()
        .filter(|rc| path.starts_with(rc.prefix.as_str()))
        .max_by_key(|rc| rc.prefix.len())
        .map_or(1, |rc| rc.cost)
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
    fn bad_costs_are_refused() {
        assert!(check(vec![rc("/ok", 1)]).is_ok());
        assert!(check(vec![rc("no-slash", 1)]).is_err());
        assert!(check(vec![rc("/a/../b", 1)]).is_err());
        assert!(check(vec![rc("/a", 0)]).is_err());
        assert!(check(vec![rc("/a", MAX_COST + 1)]).is_err());
        assert!(check(vec![rc("/a", 1), rc("/a", 2)]).is_err());
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
