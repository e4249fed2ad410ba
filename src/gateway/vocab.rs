//! The gateway's vocabularies.

crate::vocabulary! {
    /// Which upstream answers take a request from the buyer's allowance.
    pub enum Meter {
        /// Every answer the upstream gives counts.
        All = "all",
        /// Only 2xx and 3xx answers count; 4xx and 5xx are not charged.
        Success = "success",
    }
}

crate::vocabulary! {
    /// What became of one gateway request (the `outcome` label of the metrics).
    pub enum GatewayOutcome {
        /// The upstream answered and the request was counted.
        Served = "served",
        /// The upstream answered with a status the listing does not charge for.
        NotCharged = "not_charged",
        /// No key, a malformed key, an unknown or revoked one.
        Unauthorized = "unauthorized",
        /// The allowance is used up.
        Exhausted = "exhausted",
        /// Over the key's rate limit; nothing was taken.
        RateLimited = "rate_limited",
        /// From an address that sent too many unknown keys; the database was not read.
        UnknownKeyLimited = "unknown_key_limited",
        /// The upstream could not be reached or was refused; not counted.
        UpstreamError = "upstream_error",
        /// The upstream did not answer in time; not counted.
        UpstreamTimeout = "upstream_timeout",
    }
}

crate::vocabulary! {
    /// The bucket size of a usage report.
    pub enum UsageGranularity {
        /// One bucket per hour, for the last 48 hours.
        Hour = "hour",
        /// One bucket per day, for the last 30 days.
        Day = "day",
    }
}

impl UsageGranularity {
    /// Bucket length and how far back the report reaches, in ms.
    pub fn span_ms(self) -> (i64, i64) {
        const HOUR: i64 = 3_600_000;
        match self {
            Self::Hour => (HOUR, 48 * HOUR),
            Self::Day => (24 * HOUR, 30 * 24 * HOUR),
        }
    }
}
