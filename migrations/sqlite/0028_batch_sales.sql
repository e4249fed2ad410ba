-- The columns PostgreSQL's migration 0028 adds to orders, so the two schemas stay
-- alike: an order posted by a combined purchase statement names the journal
-- transaction that holds its sale (`instant_sales:{batch}`) and the fee it was split
-- with. SQLite writes one purchase at a time, each with its own `instant_sale`, and
-- leaves both NULL (docs/LEDGER.md).
ALTER TABLE orders ADD COLUMN sale_reference TEXT;
ALTER TABLE orders ADD COLUMN sale_fee_cents BIGINT;
