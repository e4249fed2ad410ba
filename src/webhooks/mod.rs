//! Signed outbound webhooks (issue 17; docs/WEBHOOKS.md): users register endpoints,
//! and the events of their own orders, listings, grants and settlements reach them
//! signed to the Standard Webhooks spec, at least once.
//!
//! The path of an event:
//! 1. A database trigger (migrations `0008_webhooks` and
//!    `0012_webhook_allowance_payouts`) writes an outbox row in the transaction that
//!    changed the order, listing, grant, settlement, gateway key or payout, holding
//!    the row at event time. A rolled-back change writes nothing; no purchase path calls
//!    anything here. A new order writes one `order.placed` row (migration 0022), so
//!    that a purchase pays for one row whatever its events.
//! 2. The [`worker`] in every `udam serve` expands each `order.placed` row into the
//!    order's events, and fans each event out to the owner's enabled endpoints
//!    subscribed to its type (one delivery per endpoint, a unique pair, so two
//!    processes cannot double it).
//! 3. The worker claims due deliveries under a lease, renders the payload through the
//!    REST API's own views ([`events`]), signs it ([`signing`]) and posts it through
//!    the SSRF-checked client ([`target`]); failures retry with exponential backoff
//!    and jitter over about three days. It runs at a lower CPU priority, and holds
//!    each pass back (up to `--webhook-defer-max`) while this process's requests keep
//!    it busy, so its statements do not slow purchases.
//!
//! Map: [`store`] holds every statement on the webhook tables; [`handlers`] the
//! `/webhook-endpoints` API; [`endpoints`] the rules behind it.

pub mod endpoints;
pub mod events;
pub mod handlers;
pub mod payloads;
pub mod rotate;
pub mod signing;
pub mod store;
pub mod target;
pub mod worker;

crate::vocabulary! {
    /// What happened, as an event's `type`.
    pub enum EventType {
        /// Sellers: an order of one of their listings was placed.
        OrderCreated = "order.created",
        /// Sellers and buyers: an order was fulfilled (the buyer holds a grant).
        OrderFulfilled = "order.fulfilled",
        /// Sellers: the buyer cancelled a pending order.
        OrderCancelled = "order.cancelled",
        /// Sellers and buyers: a pending order's reservation lapsed unpaid.
        OrderExpired = "order.expired",
        /// Sellers: a listing's last unit was sold.
        ListingSoldOut = "listing.sold_out",
        /// Sellers and buyers: an access grant was revoked.
        GrantRevoked = "grant.revoked",
        /// Buyers: a settlement of their balance was paid.
        SettlementPaid = "settlement.paid",
        /// Buyers: a gateway key has used 80, 90 or 100 % of the requests bought.
        AllowanceLow = "allowance.low",
        /// Sellers: a payout of their earnings was recorded.
        PayoutCreated = "payout.created",
        /// Sellers: a payout was sent by the payout provider.
        PayoutPaid = "payout.paid",
        /// Sellers: the payout provider refused a payout for good.
        PayoutFailed = "payout.failed",
        /// Sellers: a sent payout was reversed by the payout provider.
        PayoutReversed = "payout.reversed",
        /// A test event sent on request to one endpoint.
        WebhookTest = "webhook.test",
    }
}

crate::vocabulary! {
    /// Where a delivery of one event to one endpoint stands.
    pub enum DeliveryStatus {
        /// Not yet answered with a 2xx; retried until the schedule ends.
        Pending = "pending",
        /// The endpoint answered 2xx.
        Succeeded = "succeeded",
        /// Every scheduled attempt failed (a retry can still be asked for).
        Failed = "failed",
    }
}

crate::vocabulary! {
    /// Why the server disabled an endpoint.
    pub enum DisabledReason {
        /// Its deliveries failed for five days without a success.
        Failing = "failing",
    }
}
