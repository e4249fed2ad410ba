-- The purchase path's statement triggers: their plans stay index lookups whatever the
-- tables' sizes, and orders' and grants' references are checked once per statement
-- instead of once per row (issue 12: the hot listing's throughput with the ledger;
-- docs/BENCHMARKS.md, "What the ledger costs").
--
-- 1. Plans. A PL/pgSQL function plans each of its queries once per connection and
--    keeps the plan. The statement triggers on the purchase path join the statement's
--    new rows (a transition table of about 30 rows per batch) to tables that grow with
--    every sale. Planned while those tables were small, the join of 0018's journal
--    check read the whole of `journal_transactions` into a hash table on every batch:
--    in a bench run of 25,000 sales, 1,743 sequential scans read 66.7 million rows,
--    and the hot listing's throughput fell to half of what it was before the ledger.
--    The same could happen to the outbox trigger on orders (webhook endpoints) and the
--    allowance trigger on grants (gateway keys) as those tables grow. Each of these
--    functions now runs with hash joins, merge joins and sequential scans disabled, so
--    its plans can only probe the indexes row by row: about 30 lookups per batch at
--    any table size.
--
-- 2. References. A group-commit purchase inserts about 30 orders and 30 grants with one
--    statement while it holds the listing's row lock. Their three foreign keys
--    (orders → users, orders → listings, grants → orders) ran as row triggers: 90 SPI
--    queries per batch, each taking a `FOR KEY SHARE` row lock, which writes the
--    referenced row's page and a WAL record (one per buyer per purchase). As 0018 did
--    for the journal, they become statement triggers that check all the statement's
--    new rows at once, refusing the statement (and so its transaction) when a row names
--    a user, listing or order that does not exist: the rows the foreign keys refused.
--
--    What the foreign keys also gave, that a referenced row cannot be removed or
--    change its key while rows point at it, is kept by refusal on the referenced side,
--    where it costs nothing on the purchase path. UDAM never deletes a user, listing
--    or order (listings are archived) and never changes an id; an operator deleting
--    one by hand is refused while anything refers to it, as before. That check first
--    locks the referring table in SHARE mode, which waits for every transaction still
--    inserting into it, so no row can slip past it unseen (the foreign keys' row lock
--    did the same). Existing rows satisfied the foreign keys, so nothing needs
--    carrying forward. SQLite keeps its foreign keys: it inserts one order at a time.

ALTER FUNCTION journal_entries_check_references()
    SET enable_hashjoin = off SET enable_mergejoin = off SET enable_seqscan = off;
ALTER FUNCTION webhook_orders_inserted()
    SET enable_hashjoin = off SET enable_mergejoin = off SET enable_seqscan = off;
ALTER FUNCTION webhook_allowance_topped_up()
    SET enable_hashjoin = off SET enable_mergejoin = off SET enable_seqscan = off;

ALTER TABLE orders DROP CONSTRAINT orders_buyer_id_fkey;
ALTER TABLE orders DROP CONSTRAINT orders_listing_id_fkey;
ALTER TABLE grants DROP CONSTRAINT grants_order_id_fkey;

-- New orders name an existing buyer and listing (planned as above).
CREATE FUNCTION orders_check_references() RETURNS TRIGGER LANGUAGE plpgsql
    SET enable_hashjoin = off SET enable_mergejoin = off SET enable_seqscan = off AS $$
DECLARE
    orphan RECORD;
BEGIN
    SELECT n.id, u.id IS NULL AS no_buyer
      INTO orphan
      FROM new_orders n
      LEFT JOIN users u ON u.id = n.buyer_id
      LEFT JOIN listings l ON l.id = n.listing_id
     WHERE u.id IS NULL OR l.id IS NULL
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'order % refers to a missing %', orphan.id,
            CASE WHEN orphan.no_buyer THEN 'buyer' ELSE 'listing' END
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER orders_check_references AFTER INSERT ON orders
    REFERENCING NEW TABLE AS new_orders
    FOR EACH STATEMENT EXECUTE FUNCTION orders_check_references();

-- New grants name an existing order (planned as above).
CREATE FUNCTION grants_check_references() RETURNS TRIGGER LANGUAGE plpgsql
    SET enable_hashjoin = off SET enable_mergejoin = off SET enable_seqscan = off AS $$
DECLARE
    orphan RECORD;
BEGIN
    SELECT n.id
      INTO orphan
      FROM new_grants n
      LEFT JOIN orders o ON o.id = n.order_id
     WHERE o.id IS NULL
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'grant % refers to a missing order', orphan.id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER grants_check_references AFTER INSERT ON grants
    REFERENCING NEW TABLE AS new_grants
    FOR EACH STATEMENT EXECUTE FUNCTION grants_check_references();

-- The referring columns never change (no code updates them); a change is refused
-- rather than checked. The trigger fires only when the column is assigned.
CREATE FUNCTION reference_refuse_change() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% of % cannot change: it is a reference', TG_ARGV[0], TG_TABLE_NAME
        USING ERRCODE = 'foreign_key_violation';
END
$$;
CREATE TRIGGER orders_buyer_fixed BEFORE UPDATE OF buyer_id ON orders
    FOR EACH ROW WHEN (OLD.buyer_id IS DISTINCT FROM NEW.buyer_id)
    EXECUTE FUNCTION reference_refuse_change('buyer_id');
CREATE TRIGGER orders_listing_fixed BEFORE UPDATE OF listing_id ON orders
    FOR EACH ROW WHEN (OLD.listing_id IS DISTINCT FROM NEW.listing_id)
    EXECUTE FUNCTION reference_refuse_change('listing_id');
CREATE TRIGGER grants_order_fixed BEFORE UPDATE OF order_id ON grants
    FOR EACH ROW WHEN (OLD.order_id IS DISTINCT FROM NEW.order_id)
    EXECUTE FUNCTION reference_refuse_change('order_id');

-- The referenced side: a user, listing or order that rows refer to is never removed,
-- nor its id changed. TG_ARGV: the referring table and column.
CREATE FUNCTION reference_refuse_removal() RETURNS TRIGGER LANGUAGE plpgsql AS $$
DECLARE
    referred BOOLEAN;
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.id = OLD.id THEN
        RETURN NEW;
    END IF;
    -- Wait for every transaction inserting into the referring table, so that a row
    -- committed after this check cannot name the row being removed.
    EXECUTE format('LOCK TABLE %I IN SHARE MODE', TG_ARGV[0]);
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I WHERE %I = $1)', TG_ARGV[0], TG_ARGV[1])
        INTO referred USING OLD.id;
    IF referred THEN
        RAISE EXCEPTION '% % is still referred to by %.%', TG_TABLE_NAME, OLD.id,
            TG_ARGV[0], TG_ARGV[1]
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    IF TG_OP = 'UPDATE' THEN
        RETURN NEW;
    END IF;
    RETURN OLD;
END
$$;
CREATE TRIGGER users_referred_by_orders BEFORE DELETE OR UPDATE OF id ON users
    FOR EACH ROW EXECUTE FUNCTION reference_refuse_removal('orders', 'buyer_id');
CREATE TRIGGER listings_referred_by_orders BEFORE DELETE OR UPDATE OF id ON listings
    FOR EACH ROW EXECUTE FUNCTION reference_refuse_removal('orders', 'listing_id');
CREATE TRIGGER orders_referred_by_grants BEFORE DELETE OR UPDATE OF id ON orders
    FOR EACH ROW EXECUTE FUNCTION reference_refuse_removal('grants', 'order_id');
