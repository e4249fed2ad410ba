-- Settlements that pay exactly what they charged, webhooks bound to what they pay
-- (issue 12, docs/PAYMENTS.md).
--
-- 1. settlement_orders: the definite set of deferred orders a settlement claimed in
--    the transaction that created it. It is kept after the settlement lapses (when
--    orders.settlement_id is cleared), so a payment arriving late still knows exactly
--    what it was for.
CREATE TABLE settlement_orders (
    settlement_id TEXT NOT NULL REFERENCES settlements(id),
    order_id      TEXT NOT NULL REFERENCES orders(id),
    PRIMARY KEY (settlement_id, order_id)
);
CREATE INDEX settlement_orders_order ON settlement_orders(order_id);

-- 2. The payment that paid a settlement, so a refund of it can be reconciled.
ALTER TABLE settlements ADD COLUMN payment_intent_id TEXT;
CREATE INDEX settlements_payment_intent ON settlements(payment_intent_id);
CREATE INDEX orders_payment_intent ON orders(payment_intent_id);

-- 3. Why a verified webhook was not applied (NULL: applied, ignored or a duplicate).
ALTER TABLE webhook_events ADD COLUMN mismatch TEXT;

-- Backfill. Before this migration two pending settlements of one buyer and currency
-- could exist at once (issue 12, defect 1). Keep the newest open; the older ones
-- lapse as `failed` and release their orders. A payment that still arrives for one of
-- them is handled like any payment after a lapse.
UPDATE settlements SET status = 'failed'
WHERE status = 'pending' AND EXISTS (
    SELECT 1 FROM settlements newer
    WHERE newer.user_id = settlements.user_id AND newer.currency = settlements.currency
      AND newer.status = 'pending'
      AND (newer.created_at > settlements.created_at
           OR (newer.created_at = settlements.created_at AND newer.id > settlements.id)));
UPDATE orders SET settlement_id = NULL
WHERE payment_status = 'deferred' AND settlement_id IN
    (SELECT id FROM settlements WHERE status <> 'pending');

-- The set of each settlement as the old code left it: the deferred orders a pending
-- settlement claims, and the orders a paid one marked paid.
INSERT INTO settlement_orders (settlement_id, order_id)
SELECT s.id, o.id FROM settlements s JOIN orders o ON o.settlement_id = s.id
WHERE (s.status = 'pending' AND o.payment_status = 'deferred')
   OR (s.status = 'paid' AND o.payment_status = 'paid');

-- At most one open settlement per buyer and currency: a second request finds the
-- first (the insert conflicts) instead of claiming a second set.
CREATE UNIQUE INDEX settlements_one_open ON settlements(user_id, currency)
    WHERE status = 'pending';
