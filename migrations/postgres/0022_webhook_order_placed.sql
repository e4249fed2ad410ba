-- One outbox row per new order instead of one per event (issue 17: a purchase's
-- latency is unchanged by webhooks; docs/WEBHOOKS.md, "Purchase latency").
--
-- With endpoints enabled, a purchase wrote three outbox rows in its transaction (the
-- seller's `order.created` and `order.fulfilled`, the buyer's `order.fulfilled`): three
-- JSON objects, three UUIDs and nine index entries before the commit the buyer waits
-- for. Now it writes one `order.placed` row holding the order at event time, and the
-- delivery worker's fan-out expands it into those same events, off the purchase's
-- path (src/webhooks/store/placed.rs). `order.placed` is the outbox's own kind: no
-- endpoint subscribes to it and no payload carries it.
--
-- The object is built with `json_build_object` in place rather than through 0008's
-- `webhook_order_object` (jsonb, an SQL function called per row): same keys, and in
-- pgbench (one order per statement, fsync on) about 0.05–0.08 ms less per purchase,
-- which was most of what the row cost.
--
-- The row is written when the seller has an enabled endpoint, or the order is
-- fulfilled and the buyer has one: exactly when the old trigger wrote anything. The
-- plan settings of 0019 are kept (CREATE OR REPLACE resets them). Rows already in the
-- outbox keep their shape, and the worker fans them out as before.
CREATE OR REPLACE FUNCTION webhook_orders_inserted() RETURNS TRIGGER LANGUAGE plpgsql
    SET enable_hashjoin = off SET enable_mergejoin = off SET enable_seqscan = off AS $$
BEGIN
    INSERT INTO webhook_outbox (id, user_id, event_type, object, created_at)
    SELECT 'evt_' || replace(gen_random_uuid()::text, '-', ''), n.seller_id, 'order.placed',
           json_build_object('id', n.id, 'buyer_id', n.buyer_id, 'listing_id', n.listing_id,
               'seller_id', n.seller_id, 'service_name', n.service_name, 'units', n.units,
               'unit_price_cents', n.unit_price_cents, 'total_cents', n.total_cents,
               'currency', n.currency, 'status', n.status, 'payment_status', n.payment_status,
               'checkout_url', n.checkout_url, 'expires_at', n.expires_at,
               'created_at', n.created_at, 'updated_at', n.updated_at)::text,
           n.updated_at
    FROM new_orders n
    WHERE EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.user_id = n.seller_id AND e.enabled = 1)
       OR (n.status = 'fulfilled'
           AND EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.user_id = n.buyer_id AND e.enabled = 1))
    ORDER BY n.created_at, n.id;
    RETURN NULL;
END;
$$;
