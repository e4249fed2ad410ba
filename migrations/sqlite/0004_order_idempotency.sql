-- Exactly-once purchases (issue 12, defect 5), SQLite flavour; the PostgreSQL
-- migration beside this one does the same.
--
-- An order placed under an Idempotency-Key carries that key, unique per buyer, so the
-- key and the order it produced commit in one transaction: however a process dies, a
-- retry finds the order by its key and replays it instead of buying again.
ALTER TABLE orders ADD COLUMN idempotency_key TEXT;
CREATE UNIQUE INDEX orders_idempotency ON orders(buyer_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

-- Backfill: keys whose stored answer was a created order name that order (its id is
-- in the stored body). Keys past their 24 h lifetime are left out: they may be reused.
UPDATE orders SET idempotency_key = (
    SELECT k.idem_key FROM idempotency_keys k
    WHERE k.status_code = 201
      AND k.user_id = orders.buyer_id
      AND k.created_at >= CAST(strftime('%s', 'now') AS INTEGER) * 1000 - 86400000
      AND json_extract(CAST(k.response_body AS TEXT), '$.order.id') = orders.id
)
WHERE EXISTS (
    SELECT 1 FROM idempotency_keys k
    WHERE k.status_code = 201
      AND k.user_id = orders.buyer_id
      AND k.created_at >= CAST(strftime('%s', 'now') AS INTEGER) * 1000 - 86400000
      AND json_extract(CAST(k.response_body AS TEXT), '$.order.id') = orders.id
);
