-- Full-text search over listings (issue 19).
--
-- An FTS5 index whose content stays in `listings` (external content), kept in step
-- by triggers. `unicode61 remove_diacritics 2` folds case and accents for every
-- script, so "cafe" finds "Café". The table has no INTEGER PRIMARY KEY, so the FTS
-- rows point at the implicit rowid; a VACUUM may renumber rowids, after which
-- `INSERT INTO listings_fts(listings_fts) VALUES('rebuild')` must follow.
CREATE VIRTUAL TABLE listings_fts USING fts5(
    service_name,
    description,
    content = 'listings',
    content_rowid = 'rowid',
    tokenize = 'unicode61 remove_diacritics 2'
);

-- Backfill: index every existing listing.
INSERT INTO listings_fts(listings_fts) VALUES ('rebuild');

CREATE TRIGGER listings_fts_insert AFTER INSERT ON listings BEGIN
    INSERT INTO listings_fts(rowid, service_name, description)
    VALUES (new.rowid, new.service_name, new.description);
END;

CREATE TRIGGER listings_fts_delete AFTER DELETE ON listings BEGIN
    INSERT INTO listings_fts(listings_fts, rowid, service_name, description)
    VALUES ('delete', old.rowid, old.service_name, old.description);
END;

-- Only text changes touch the index: purchases update units many times a second.
CREATE TRIGGER listings_fts_update AFTER UPDATE OF service_name, description ON listings BEGIN
    INSERT INTO listings_fts(listings_fts, rowid, service_name, description)
    VALUES ('delete', old.rowid, old.service_name, old.description);
    INSERT INTO listings_fts(rowid, service_name, description)
    VALUES (new.rowid, new.service_name, new.description);
END;

-- Filters: currency with either sort order; in-stock browsing.
CREATE INDEX listings_currency_newest
    ON listings(currency, status, created_at DESC, id DESC);
CREATE INDEX listings_currency_price ON listings(currency, status, price_cents, id);
CREATE INDEX listings_in_stock_newest ON listings(status, created_at DESC, id DESC)
    WHERE available_units > 0;
