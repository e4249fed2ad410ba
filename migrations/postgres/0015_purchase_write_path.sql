-- The purchase write path, lighter: the outbox trigger on new orders runs once per
-- statement, and the orders' payment references are indexed only where present.
--
-- A group-commit purchase inserts a whole batch of orders with one statement while it
-- holds the listing's row lock. The row trigger of 0008 called a PL/pgSQL function
-- three times per order and built the order's JSON each time before looking for an
-- endpoint, inside that lock window. This one reads the statement's new rows as a
-- transition table and writes, set-based, only the events whose recipient has an
-- enabled endpoint: the same rows as before, in the same order (per order: the
-- seller's `order.created`, the seller's `order.fulfilled`, the buyer's
-- `order.fulfilled`). SQLite keeps its row trigger: it never inserts orders in batches.

DROP TRIGGER webhook_order_inserted ON orders;
DROP FUNCTION webhook_order_inserted();

CREATE FUNCTION webhook_orders_inserted() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO webhook_outbox (id, user_id, event_type, object, created_at)
    SELECT 'evt_' || replace(gen_random_uuid()::text, '-', ''), r.recipient, r.kind,
           webhook_order_object(n)::text, n.updated_at
    FROM new_orders n
    CROSS JOIN LATERAL (VALUES
        (1, n.seller_id, 'order.created', true),
        (2, n.seller_id, 'order.fulfilled', n.status = 'fulfilled'),
        (3, n.buyer_id, 'order.fulfilled', n.status = 'fulfilled' AND n.buyer_id <> n.seller_id)
    ) AS r(step, recipient, kind, wanted)
    WHERE r.wanted
      AND EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.user_id = r.recipient AND e.enabled = 1)
    ORDER BY n.created_at, n.id, r.step;
    RETURN NULL;
END;
$$;
CREATE TRIGGER webhook_orders_inserted AFTER INSERT ON orders
    REFERENCING NEW TABLE AS new_orders
    FOR EACH STATEMENT EXECUTE FUNCTION webhook_orders_inserted();

-- The orders' payment references are NULL on every instant order, yet each NULL was
-- indexed: three index insertions per sale, inside the same lock window, for rows no
-- lookup ever wants. Each index now holds only the rows that have the reference. The
-- lookups (`= $1`) imply `IS NOT NULL`, so the planner still uses them, and
-- uniqueness of session ids is unchanged (NULLs never conflicted).
ALTER TABLE orders DROP CONSTRAINT orders_provider_session_id_key;
CREATE UNIQUE INDEX orders_provider_session_id_key ON orders(provider_session_id)
    WHERE provider_session_id IS NOT NULL;
DROP INDEX orders_payment_intent;
CREATE INDEX orders_payment_intent ON orders(payment_intent_id) WHERE payment_intent_id IS NOT NULL;
DROP INDEX orders_settlement;
CREATE INDEX orders_settlement ON orders(settlement_id) WHERE settlement_id IS NOT NULL;
