-- A group-commit purchase in one statement (issue 12: what the ledger costs on one
-- hot listing; docs/BENCHMARKS.md).
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
