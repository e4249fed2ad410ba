//! Usage reports: requests served per hour or day, for a buyer's key or a listing.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::store::{self, UsageScope};
use super::vocab::UsageGranularity;
use crate::clock::{now_ms, rfc3339};
use crate::db::Db;

/// Query of the usage routes.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsageQuery {
    /// `hour` (default; the last 48 hours) or `day` (the last 30 days).
    pub granularity: Option<UsageGranularity>,
}

/// Requests served in one bucket.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsageBucket {
    /// Start of the bucket, RFC 3339 UTC.
    pub start: String,
    /// Requests counted in it.
    pub requests: i64,
}

/// A usage report.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsageReport {
    /// Bucket size.
    pub granularity: UsageGranularity,
    /// Buckets with requests, oldest first (empty buckets are left out).
    pub items: Vec<UsageBucket>,
    /// Requests taken from the allowance so far (exact; the buckets may trail it by
    /// the flush interval).
    pub requests_used: i64,
    /// Requests bought: active grants' units × requests per unit.
    pub requests_allowed: i64,
}

/// Reads the buckets of `scope`.
pub async fn buckets(
    db: &Db,
    scope: UsageScope<'_>,
    granularity: UsageGranularity,
) -> Result<Vec<UsageBucket>, sqlx::Error> {
    let (bucket_ms, back_ms) = granularity.span_ms();
    let since = (now_ms() - back_ms) / bucket_ms * bucket_ms;
    Ok(store::usage(db, scope, bucket_ms, since)
        .await?
        .into_iter()
        .map(|(start, requests)| UsageBucket {
            start: rfc3339(start),
            requests,
        })
        .collect())
}
