-- Nothing changes on SQLite. On PostgreSQL this migration makes the outbox trigger on
-- new orders run once per statement (a group-commit batch inserts many orders with one
-- statement) and indexes the orders' payment references only where present; SQLite
-- inserts orders one at a time, outside any batch, and keeps its schema.
SELECT 1;
