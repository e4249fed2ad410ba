-- The metered gateway (docs/GATEWAY.md), PostgreSQL flavour. The SQLite migration
-- beside this one holds the same columns, tables and constraints.
--
-- Every listing gets a delivery: `key` (the seller's key handed to buyers, as before)
-- or `gateway` (buyers get their own key; the seller's key is injected upstream).
-- Existing listings are carried forward as `key` by the column default.
ALTER TABLE listings ADD COLUMN delivery TEXT NOT NULL DEFAULT 'key'
    CHECK (delivery IN ('key', 'gateway'));
-- Gateway settings; NULL on `key` listings.
ALTER TABLE listings ADD COLUMN upstream_base_url TEXT;
-- How the seller's key travels upstream: a header (name + value template holding
-- `{key}`) or a query parameter (name); exactly one of the two on gateway listings.
ALTER TABLE listings ADD COLUMN inject_header TEXT;
ALTER TABLE listings ADD COLUMN inject_template TEXT;
ALTER TABLE listings ADD COLUMN inject_query TEXT;
ALTER TABLE listings ADD COLUMN requests_per_unit BIGINT CHECK (requests_per_unit > 0);
ALTER TABLE listings ADD COLUMN meter TEXT NOT NULL DEFAULT 'all'
    CHECK (meter IN ('all', 'success'));

-- One buyer key per (buyer, gateway listing). Only its SHA-256 is stored. A roll keeps
-- the previous hash until `previous_expires_at` (the grace period), then it stops
-- working. `used_requests` counts requests taken from the allowance, which is the sum
-- of the buyer's active grants' units times the listing's requests_per_unit.
CREATE TABLE gateway_keys (
    id                  TEXT PRIMARY KEY,
    buyer_id            TEXT NOT NULL REFERENCES users(id),
    listing_id          TEXT NOT NULL REFERENCES listings(id),
    key_hash            BYTEA NOT NULL UNIQUE,
    key_hint            TEXT NOT NULL,
    previous_hash       BYTEA UNIQUE,
    previous_expires_at BIGINT,
    used_requests       BIGINT NOT NULL DEFAULT 0 CHECK (used_requests >= 0),
    created_at          BIGINT NOT NULL,
    rolled_at           BIGINT,
    UNIQUE (buyer_id, listing_id)
);
CREATE INDEX gateway_keys_listing ON gateway_keys(listing_id);

-- Requests served per key per minute (the minute's start, unix ms), flushed in batches.
CREATE TABLE gateway_usage (
    key_id   TEXT NOT NULL REFERENCES gateway_keys(id),
    minute   BIGINT NOT NULL,
    requests BIGINT NOT NULL,
    PRIMARY KEY (key_id, minute)
);
