-- Relevance tiers (issue 19): SQLite finds both tiers through the FTS5 table of
-- migration 0002 (a column filter selects the name), so nothing new is needed.
SELECT 1;
