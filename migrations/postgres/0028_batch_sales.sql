-- One journal transaction per combined purchase statement (issue 12: what the ledger
-- costs on one hot listing; docs/LEDGER.md, "Postings for each money event").
--
-- A combined statement used to post one `instant_sale:{order}` per order: a
-- transaction row and two or three entries each, about a quarter of the statement's
-- time. It now posts one `instant_sales:{batch}` with one line per buyer, seller and
-- currency, and each of its orders records which transaction holds its sale and the
-- fee it was split with (the journal's lines are sums and no longer say it per
-- order). Orders written before this migration, and those written one at a time,
-- keep their own `instant_sale` and leave both columns NULL: nothing to backfill.
ALTER TABLE orders ADD COLUMN sale_reference TEXT;
ALTER TABLE orders ADD COLUMN sale_fee_cents BIGINT;
