//! The label values of the Prometheus metrics: one enum per label vocabulary, so a
//! series is never named by a string typed at a call site. `docs/OPERATIONS.md`
//! lists each metric with these values.
//!
//! Declared here, in a module that imports no capability, so that any capability
//! can count without importing the HTTP layer.

crate::vocabulary! {
    /// `udam_orders_total{outcome}`: how an order attempt ended.
    pub enum OrderOutcome {
        /// Fulfilled at once (billed to the balance).
        Fulfilled = "fulfilled",
        /// Reserved; the buyer pays at the provider's checkout.
        PendingPayment = "pending_payment",
        /// Refused: the listing is paused or archived.
        ListingUnavailable = "listing_unavailable",
        /// Refused: fewer units left than asked for.
        InsufficientUnits = "insufficient_units",
        /// Refused: a seller cannot buy their own listing.
        OwnListing = "own_listing",
        /// Refused: the listing kept changing while buying.
        Contended = "contended",
        /// An Idempotency-Key's order found again.
        Replayed = "replayed",
        /// The payment provider could not create the checkout; the units went back.
        ProviderFailed = "provider_failed",
    }
}

crate::vocabulary! {
    /// `udam_connections_total{outcome}`: a connection closed by the server, at the
    /// `--max-connections` cap or for a stalled write.
    pub enum ConnectionOutcome {
        /// An open connection that never sent a request, closed to make room.
        Evicted = "evicted",
        /// A new connection closed at once: every open one was serving requests.
        Refused = "refused",
        /// A connection closed because its answer made no progress for
        /// `--write-stall-timeout`: its client stopped reading, or reads too slowly.
        Stalled = "stalled",
    }
}

crate::vocabulary! {
    /// `udam_db_pool_connections{state}`: what a pooled connection is doing.
    pub enum PoolState {
        /// Open and waiting for a query.
        Idle = "idle",
        /// Lent to a query or transaction.
        Used = "used",
    }
}

crate::vocabulary! {
    /// `udam_purged_rows_total{table}`: the table the periodic purge deleted from.
    pub enum PurgedTable {
        /// Expired sessions.
        Sessions = "sessions",
        /// Idempotency keys older than a key lives.
        IdempotencyKeys = "idempotency_keys",
        /// Webhook deliveries finished more than 30 days ago (attempts go with them).
        WebhookDeliveries = "webhook_deliveries",
        /// Webhook events no delivery needs, 30 days on.
        WebhookOutbox = "webhook_outbox",
        /// Refund reports held 90 days without meeting their payment.
        RefundsHeld = "refunds_held",
    }
}

crate::vocabulary! {
    /// `udam_browse_cache_entries{kind}` and `udam_browse_cache_bytes{kind}`: which
    /// part of the browse cache.
    pub enum CachePart {
        /// Rendered pages of listings.
        Pages = "pages",
        /// Single listings.
        Listings = "listings",
    }
}

crate::vocabulary! {
    /// `udam_browse_cache_total{result}`: a lookup in the browse cache.
    pub enum CacheResult {
        /// Served from the cache.
        Hit = "hit",
        /// Not held: read from the database.
        Miss = "miss",
    }
}

crate::vocabulary! {
    /// `udam_webhook_events_total{type}` and `udam_webhook_mismatches_total{type}`: a
    /// received Stripe event's type. The types acted on are named; the rest are
    /// `other` (Stripe's set of types is large and grows).
    pub enum StripeEventLabel {
        /// A Checkout session completed (paid, or awaiting a delayed payment).
        CheckoutSessionCompleted = "checkout.session.completed",
        /// A delayed Checkout payment arrived.
        CheckoutSessionAsyncPaymentSucceeded = "checkout.session.async_payment_succeeded",
        /// A delayed Checkout payment failed.
        CheckoutSessionAsyncPaymentFailed = "checkout.session.async_payment_failed",
        /// A Checkout session expired unpaid.
        CheckoutSessionExpired = "checkout.session.expired",
        /// A charge was refunded, in part or in full.
        ChargeRefunded = "charge.refunded",
        /// A seller's connected account changed (Connect).
        AccountUpdated = "account.updated",
        /// A payout's transfer was reversed.
        TransferReversed = "transfer.reversed",
        /// Any other type.
        Other = "other",
        /// The signature did not verify, so the type was not read.
        Unverified = "unverified",
    }
}

impl StripeEventLabel {
    /// The label of a received event type: its own for the types acted on, `other`
    /// for the rest.
    pub fn of(event_type: &str) -> Self {
        match event_type.parse() {
            Ok(Self::Unverified) | Err(_) => Self::Other,
            Ok(label) => label,
        }
    }
}

crate::vocabulary! {
    /// `udam_webhook_events_total{outcome}` for a Stripe event that got no outcome of
    /// its own (`EventOutcome` labels those).
    pub enum StripeEventFailure {
        /// The `Stripe-Signature` did not verify; nothing was read.
        InvalidSignature = "invalid_signature",
        /// Applying the event failed; it was rolled back for Stripe to retry.
        Error = "error",
    }
}

crate::vocabulary! {
    /// `udam_purchase_listing_reads_total{why}`: why a purchase read its listing
    /// from the database instead of using the facts the process remembered
    /// (`orders::purchase::FactsCache`).
    pub enum ListingRead {
        /// Nothing remembered: the listing's first purchase in this process, or the
        /// first since it was forgotten.
        Unknown = "unknown",
        /// A take refused: the listing changed, paused or ran short since.
        Refused = "refused",
    }
}

crate::vocabulary! {
    /// `udam_purchase_batch_writes_total{way}`: how a group-commit batch was written
    /// on PostgreSQL (`orders::purchase::batch`).
    pub enum BatchWay {
        /// One statement, the journal included, combining purchases of any listings
        /// whose facts the process knows.
        OneStatement = "one_statement",
        /// That statement refused itself (a listing could not serve its purchases)
        /// and wrote nothing; the listings it named went the transaction way.
        Refused = "refused",
        /// One listing's batch: `BEGIN`, the batch and journal statements, `COMMIT`.
        Transaction = "transaction",
    }
}

crate::vocabulary! {
    /// `udam_purchase_batch_failures_total{stage}`: where a group-commit batch
    /// failed on PostgreSQL (`orders::purchase::batch`).
    pub enum BatchFailure {
        /// Before its commit: nothing was written; its purchases ran one at a time.
        BeforeCommit = "before_commit",
        /// While committing: the outcome is unknown; its purchases were answered
        /// `outcome_unknown`.
        Commit = "commit",
    }
}
