-- Nothing changes on SQLite. On PostgreSQL this migration checks the references of
-- new journal entries once per statement instead of with two foreign keys per entry
-- (a group-commit purchase posts a whole batch of sales with one statement) and makes
-- ledger accounts append-only; SQLite posts one journal transaction at a time, never
-- a batch, and keeps its foreign keys.
SELECT 1;
