-- Nothing changes on SQLite. On PostgreSQL this migration pins the plans of the
-- purchase path's statement triggers to index lookups and checks the references of new
-- orders and grants once per statement instead of with a foreign key per row (a
-- group-commit purchase inserts a whole batch with one statement); SQLite has no
-- statement triggers, inserts one order at a time and keeps its foreign keys.
SELECT 1;
