-- Full-text search over listings (issue 19).
--
-- `udam_search` is `simple` (no stemming, so no language is favoured and every
-- language tokenizes the same way) with accents folded by `unaccent`, so "cafe"
-- finds "Café". The two-argument to_tsvector is immutable, which lets the
-- weighted document (name A, description B) be a stored generated column: adding
-- it rewrites the table once and so indexes every existing listing (the backfill).
-- unaccent is a "trusted" extension, so a database owner may create it.
CREATE EXTENSION IF NOT EXISTS unaccent;


CREATE TEXT SEARCH CONFIGURATION udam_search (COPY = simple);
ALTER TEXT SEARCH CONFIGURATION udam_search
    ALTER MAPPING FOR asciiword, asciihword, hword_asciipart, word, hword, hword_part
    WITH unaccent, simple;

ALTER TABLE listings ADD COLUMN search_doc tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('udam_search'::regconfig, service_name), 'A') ||
    setweight(to_tsvector('udam_search'::regconfig, description), 'B')
) STORED;

CREATE INDEX listings_search ON listings USING GIN (search_doc);

-- Filters: currency with either sort order; in-stock browsing.
CREATE INDEX listings_currency_newest
    ON listings(currency, status, created_at DESC, id DESC);
CREATE INDEX listings_currency_price ON listings(currency, status, price_cents, id);
CREATE INDEX listings_in_stock_newest ON listings(status, created_at DESC, id DESC)
    WHERE available_units > 0;
