-- Relevance tiers that indexes find (issue 19, see src/listings/relevance.rs).
--
-- The name tier and the other tier each get a GIN index of their own text, so a
-- search whose words are rare finds a tier's matches without reading the rows of
-- the other tier. Expression indexes, not stored columns: the table is not
-- rewritten, and building them reads every existing listing (the backfill).
-- The expressions must stay exactly those written in relevance.rs.
CREATE INDEX listings_search_name
    ON listings USING GIN (to_tsvector('udam_search'::regconfig, service_name));
CREATE INDEX listings_search_description
    ON listings USING GIN (to_tsvector('udam_search'::regconfig, description));
