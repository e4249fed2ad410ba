-- Nothing changes on SQLite. On PostgreSQL this migration adds the check that ends
-- purchases of different listings combined into one statement; SQLite's purchases
-- share the one writer's transactions instead.
SELECT 1;
