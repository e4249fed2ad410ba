-- Purchases of different listings combined into one statement (issue 16, item 2;
-- `orders::purchase::batch::combined`).
--
-- A process writes the purchases of every listing whose price, currency, seller and
-- name it knows with one statement: balances, units, orders, grants and the journal,
-- one round trip and one commit for the whole batch, whichever listings it buys.
-- The statement ends by calling this function, which refuses the whole statement
-- (and so everything it wrote) unless every purchase it charged was placed. Its
-- DETAIL names the listings that could not serve their purchases (sold out, paused,
-- repriced), comma-separated, so the caller sends only those the long way (a
-- transaction per listing, which serves a partial batch exactly and learns the new
-- facts) and writes the rest again at once. The SQLSTATE is that of
-- `purchase_batch_check` (0021), which processes of the previous release still call
-- while an upgrade rolls through, so it stays.
CREATE FUNCTION purchase_combined_check(charged BIGINT, placed BIGINT, refused TEXT[])
RETURNS BOOLEAN LANGUAGE plpgsql AS $$
BEGIN
    IF charged <> placed THEN
        RAISE EXCEPTION 'combined purchase refused: % charged, % placed', charged, placed
            USING ERRCODE = 'UD001', DETAIL = array_to_string(refused, ',');
    END IF;
    RETURN true;
END
$$;
