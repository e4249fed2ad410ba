-- A group-commit purchase in one statement, and a cheaper allowance trigger (issue
-- 12: what the ledger costs on one hot listing; docs/BENCHMARKS.md).
--
-- Once a process knows a listing's price, currency and seller (from its previous
-- batch), it writes a whole batch (balances, units, orders, grants and the journal)
-- with one statement outside an explicit transaction: one round trip and one commit
-- instead of BEGIN, the batch statement, the journal statement and COMMIT.
--
-- The statement ends by calling this function, which refuses the whole statement (and
-- so everything it wrote) unless every purchase it charged was placed and the listing
-- still had the facts the journal was computed from. The caller then runs the batch
-- the long way, which serves a partial batch exactly and learns the new facts. The
-- SQLSTATE is our own, so the caller can tell this refusal from a failure.
CREATE FUNCTION purchase_batch_check(charged BIGINT, placed BIGINT, as_expected BOOLEAN)
RETURNS BOOLEAN LANGUAGE plpgsql AS $$
BEGIN
    IF charged <> placed OR NOT as_expected THEN
        RAISE EXCEPTION 'purchase batch refused: % charged, % placed, facts as expected: %',
            charged, placed, as_expected
            USING ERRCODE = 'UD001';
    END IF;
    RETURN true;
END
$$;

-- A top-up re-arms the low-allowance alerts of the keys it tops up (0012): an alert
-- already told at 80 % or more goes back to the level the new allowance gives. The
-- UPDATE through the usage view cost about 0.4 ms per purchase statement even when
-- no new grant belongs to a key with an alert told, which is nearly always (the
-- allowance is far from used, or the listing hands out its key). So the alerts that
-- could change are probed first, by index (the plan settings of 0019 stay), and the
-- UPDATE runs only when there is one. The rows it changes are the same.
CREATE OR REPLACE FUNCTION webhook_allowance_topped_up() RETURNS TRIGGER LANGUAGE plpgsql
    SET enable_hashjoin = off SET enable_mergejoin = off SET enable_seqscan = off AS $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM new_grants n
        JOIN gateway_keys k ON k.buyer_id = n.buyer_id AND k.listing_id = n.listing_id
        JOIN webhook_allowance_alerts a ON a.key_id = k.id
        WHERE n.status = 'active' AND a.notified_percent > 0
    ) THEN
        RETURN NULL;
    END IF;
    UPDATE webhook_allowance_alerts a SET notified_percent = v.level
    FROM webhook_allowance_levels v
    WHERE a.key_id IN (SELECT k.id FROM new_grants n JOIN gateway_keys k
                         ON k.buyer_id = n.buyer_id AND k.listing_id = n.listing_id
                       WHERE n.status = 'active')
      AND v.key_id = a.key_id AND a.notified_percent > v.level;
    RETURN NULL;
END;
$$;
