-- A sale's update of its listing becomes a HOT update (issue 16, scenario b).
--
-- A sale changes only `available_units`. PostgreSQL can then write the new row
-- version beside the old one on its page, touching no index (a "heap-only tuple"),
-- but only if no indexed column changed, and a column named in a partial index's
-- predicate counts as indexed. Until now every sale wrote a new entry into each of
-- the listing's 13 indexes, three of them GIN indexes of its text: `updated_at`
-- moved (indexed, for the cache's poller) and `available_units` is in the
-- predicate of the in-stock index. Measured by pgbench on a copy of the table, an
-- update with only its key and `updated_at` indexed took 0.36 ms against 0.52 ms.
--
-- So:
-- * sales leave `updated_at` alone (it now moves when the listing is edited or
--   units come back), and the cache's poller finds sales through the orders they
--   place (`orders_created`, below; src/listings/cache.rs);
-- * the in-stock index reads a stored generated column, `in_stock`, which changes
--   only when a listing sells out or is restocked from zero, so a sale of some of
--   its units changes no indexed value;
-- * listing pages keep 10% free, so the new version finds room on its own page.
--   Adding the column rewrites the table, which applies the fill factor to every
--   existing row (and computes `in_stock` for it: the backfill). The rewrite holds
--   the table locked and rebuilds its indexes: about 100 s per million listings on
--   a slow 2-core machine (docs/BENCHMARKS.md).
ALTER TABLE listings SET (fillfactor = 90);
ALTER TABLE listings ADD COLUMN in_stock BOOLEAN GENERATED ALWAYS AS (available_units > 0) STORED;

DROP INDEX listings_in_stock_newest;
CREATE INDEX listings_in_stock_newest ON listings(status, created_at DESC, id DESC)
    WHERE in_stock;

CREATE INDEX orders_created ON orders(created_at);
