-- Gateway leases (docs/GATEWAY.md, "Leases"), postgres flavour; the SQLite migration
-- beside this one holds the same table.
--
-- A process serving a gateway key takes requests from the allowance in blocks: the
-- block is added to gateway_keys.used_requests (which stays the one authoritative
-- counter, so existing keys need no backfill) and recorded here. The holder flushes
-- how many it used (used_flushed) and pushes expires_at forward; it never serves
-- more than window_size requests past used_flushed without flushing first. Returning
-- a lease gives back requests - used; reclaiming an expired one (its holder crashed)
-- gives back requests - used_flushed - min(window_size, requests - used_flushed).
CREATE TABLE gateway_leases (
    id           TEXT PRIMARY KEY,
    key_id       TEXT NOT NULL REFERENCES gateway_keys(id),
    requests     BIGINT NOT NULL CHECK (requests > 0),
    used_flushed BIGINT NOT NULL DEFAULT 0
        CHECK (used_flushed >= 0 AND used_flushed <= requests),
    window_size  BIGINT NOT NULL CHECK (window_size >= 0),
    expires_at   BIGINT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX gateway_leases_expiry ON gateway_leases(expires_at);
CREATE INDEX gateway_leases_key ON gateway_leases(key_id);
