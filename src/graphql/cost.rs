//! What a GraphQL request spends from the rate-limit buckets. The middleware has
//! already spent one request from the client's bucket (`ip:CLIENT`), as for any
//! route; a GraphQL request stands for as many REST calls as it has root fields, or
//! one per [`COMPLEXITY_PER_CALL`] of its complexity if that is more, and spends the
//! difference before anything resolves. A nested field that runs a query per parent
//! (`Seller.listings`) adds a call's worth of complexity per parent
//! (`connection::nested_page_cost`). `placeOrder` also spends from the order bucket
//! itself, once per order, like `POST /orders`.

use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextValidation};
use async_graphql::{ServerError, ValidationResult};

use super::context::ClientBucket;
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

/// Complexity one REST call stands for: a 20-item page of 5 fields.
pub const COMPLEXITY_PER_CALL: usize = 100;

/// The number of root fields of the request's operation (computed by the handler).
#[derive(Clone, Copy, Debug)]
pub struct RootFields(pub usize);

/// REST calls a request stands for.
pub fn calls(root_fields: usize, complexity: usize) -> usize {
    root_fields
        .max(complexity.div_ceil(COMPLEXITY_PER_CALL))
        .max(1)
}

/// The extension that spends a request's cost once it is validated.
pub struct Cost;

impl ExtensionFactory for Cost {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(CostExtension)
    }
}

struct CostExtension;

#[async_graphql::async_trait::async_trait]
impl Extension for CostExtension {
    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let result = next.run(ctx).await?;
        let (Some(state), Some(client)) =
            (ctx.data_opt::<AppState>(), ctx.data_opt::<ClientBucket>())
        else {
            return Ok(result);
        };
        let roots = ctx.data_opt::<RootFields>().map_or(1, |r| r.0);
        // The first call was spent by the middleware.
        let extra = calls(roots, result.complexity) - 1;
        let quota = state.config.edge.rate_limit_ip;
        for _ in 0..extra {
            let decision = state.limiter.check(&client.0, quota).await;
            if !decision.allowed {
                let secs = decision.retry_after.map_or(1, |d| d.as_secs().max(1));
                let err = ApiError::rate_limited(secs);
                let mut server_error = ServerError::new(err.message(), None);
                let mut ext = async_graphql::ErrorExtensionValues::default();
                ext.set("code", ErrorCode::RateLimited.as_str());
                ext.set("retryAfter", secs);
                server_error.extensions = Some(ext);
                return Err(vec![server_error]);
            }
        }
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::calls;

    #[test]
    fn a_request_costs_its_root_fields_or_its_complexity() {
        assert_eq!(calls(1, 5), 1);
        assert_eq!(calls(3, 12), 3);
        assert_eq!(calls(1, 450), 5);
        assert_eq!(calls(0, 0), 1);
    }
}
