//! Batched loading: every `Order.listing` of a request resolved through one
//! [`ListingLoader`] costs one SQL statement per batch, not one per order.

use std::collections::HashMap;

use async_graphql::dataloader::Loader;

use crate::listings::model::ListingView;
use crate::state::AppState;

/// Loads listings by id, archived ones included (an order's listing stays readable
/// to its buyer and seller after the seller archives it).
pub struct ListingLoader(pub AppState);

impl Loader<String> for ListingLoader {
    type Value = ListingView;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[String]) -> Result<HashMap<String, ListingView>, Self::Error> {
        let ids: Vec<&str> = keys.iter().map(String::as_str).collect();
        let rows = crate::listings::store::get_many(&self.0.db, &ids)
            .await
            .map_err(|e| super::error::gql(e.into()))?;
        Ok(rows.into_iter().map(|l| (l.id.clone(), l.view())).collect())
    }
}
