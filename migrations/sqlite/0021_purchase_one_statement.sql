-- Nothing changes on SQLite. On PostgreSQL this migration adds the check that ends a
-- group-commit purchase written as one statement; SQLite has no batches.
SELECT 1;
