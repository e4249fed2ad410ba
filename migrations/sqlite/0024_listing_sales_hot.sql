-- Sales leave a listing's `updated_at` alone (see the PostgreSQL migration of the
-- same number, where this lets a sale's update of its listing touch no index). The
-- cache's poller finds sales through the orders they place, by `orders_created`.
--
-- The in-stock filter reads the column `in_stock` on both engines, so that one
-- statement serves both; here it is a virtual generated column (SQLite cannot add
-- a stored one to an existing table), and the in-stock index is rebuilt on it so
-- that the filter still finds it.
ALTER TABLE listings ADD COLUMN in_stock INTEGER GENERATED ALWAYS AS (available_units > 0) VIRTUAL;

DROP INDEX listings_in_stock_newest;
CREATE INDEX listings_in_stock_newest ON listings(status, created_at DESC, id DESC)
    WHERE in_stock;

CREATE INDEX orders_created ON orders(created_at);
