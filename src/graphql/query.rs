//! The query root. Every resolver calls the service function its REST twin calls.

use std::sync::atomic::{AtomicBool, Ordering};

use async_graphql::{Context, ID, Object};

use super::connection::{
    self, ListingConnection, ListingFilter, OrderConnection, PageInfo, TokenConnection, page_cost,
};
use super::context::{state, user};
use super::error::{coded, gql};
use super::types::{CurrencyEarnings, Listing, Me, Order, Owed, Seller, Token};
use crate::error::{ApiError, ErrorCode};
use crate::orders::store::Party;

/// Set once a request has opened its viewer's token keys: `myTokens` writes one
/// audit record per request, as one `GET /tokens` does.
#[derive(Default)]
pub struct TokensOpened(AtomicBool);

/// Reads.
pub struct QueryRoot;

#[Object]
impl QueryRoot {
    /// Active listings: search, sort and filters as `GET /api/v1/listings`.
    #[graphql(complexity = "page_cost(first, child_complexity)")]
    async fn listings(
        &self,
        ctx: &Context<'_>,
        filter: Option<ListingFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<ListingConnection> {
        connection::browse(ctx, filter.unwrap_or_default(), first, after).await
    }

    /// One listing; archived listings are gone (`not_found`).
    async fn listing(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Listing> {
        let listing = crate::listings::get_visible(state(ctx)?, &id)
            .await
            .map_err(gql)?;
        Ok(Listing::new(listing.view()))
    }

    /// A seller, to read their listings.
    async fn seller(&self, id: ID) -> Seller {
        Seller { id: id.0 }
    }

    /// The signed-in user.
    async fn me(&self, ctx: &Context<'_>) -> async_graphql::Result<Me> {
        Ok(Me(user(ctx)?.view()))
    }

    /// The viewer's orders, newest first (`GET /api/v1/orders`).
    #[graphql(complexity = "page_cost(first, child_complexity)")]
    async fn my_orders(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<OrderConnection> {
        orders(ctx, Party::Buyer, first, after).await
    }

    /// Orders of the viewer's listings, newest first (`GET /api/v1/sales`).
    #[graphql(complexity = "page_cost(first, child_complexity)")]
    async fn sales(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<OrderConnection> {
        orders(ctx, Party::Seller, first, after).await
    }

    /// One order, for its buyer and the listing's seller (`not_found` for anyone else).
    async fn order(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Order> {
        let user = user(ctx)?;
        let order = crate::orders::visible_order(state(ctx)?, user, &id)
            .await
            .map_err(gql)?;
        Ok(Order(order.view_for(&user.id)))
    }

    /// The viewer's access tokens with their keys opened (`GET /api/v1/tokens`; the
    /// same audit record). At most once per request.
    #[graphql(complexity = "page_cost(first, child_complexity)")]
    async fn my_tokens(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<TokenConnection> {
        let state = state(ctx)?;
        let user = user(ctx)?;
        let page = connection::page_query(first, after).parse().map_err(gql)?;
        let opened = ctx.data::<TokensOpened>()?;
        if opened.0.swap(true, Ordering::SeqCst) {
            return Err(coded(
                ErrorCode::BadRequest,
                "myTokens may be asked once per request",
            ));
        }
        let (items, next) = crate::tokens::list_for_buyer(state, user, &page)
            .await
            .map_err(gql)?;
        Ok(TokenConnection {
            nodes: items.into_iter().map(Token).collect(),
            page_info: PageInfo::of(next),
        })
    }

    /// What the viewer owes for instantly fulfilled orders, per currency.
    async fn balance(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Owed>> {
        let items = crate::orders::balances(state(ctx)?, &user(ctx)?.id)
            .await
            .map_err(gql)?;
        Ok(items
            .into_iter()
            .map(|(currency, owed_cents)| Owed {
                currency,
                owed_cents,
            })
            .collect())
    }

    /// The viewer's earnings as a seller, per currency, from the ledger.
    async fn earnings(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<CurrencyEarnings>> {
        let earnings = crate::payments::earnings::earnings_of(state(ctx)?, &user(ctx)?.id)
            .await
            .map_err(|e| gql(ApiError::from(e)))?;
        Ok(earnings
            .items
            .into_iter()
            .map(|e| CurrencyEarnings {
                currency: e.currency,
                pending_cents: e.pending_cents,
                available_cents: e.available_cents,
            })
            .collect())
    }
}

async fn orders(
    ctx: &Context<'_>,
    party: Party,
    first: Option<i32>,
    after: Option<String>,
) -> async_graphql::Result<OrderConnection> {
    let user = user(ctx)?;
    let page = connection::page_query(first, after).parse().map_err(gql)?;
    let (rows, next) = crate::orders::list_page(state(ctx)?, party, user, &page)
        .await
        .map_err(gql)?;
    Ok(OrderConnection {
        nodes: rows.iter().map(|o| Order(o.view_for(&user.id))).collect(),
        page_info: PageInfo::of(next),
    })
}
