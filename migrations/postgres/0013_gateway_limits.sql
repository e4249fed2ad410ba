-- Gateway limits and prices per route, and the requests a grant was bought at
-- (docs/GATEWAY.md), PostgreSQL flavour; the SQLite migration beside this one holds the same
-- columns.
--
-- Per-key rate limit a seller sets on a gateway listing (requests per minute per
-- buyer key); NULL: none.
ALTER TABLE listings ADD COLUMN rate_limit_per_minute BIGINT
    CHECK (rate_limit_per_minute > 0);
-- Costs per route prefix, a JSON array of {"prefix": "/v1/heavy", "cost": 10}
-- (checked by the application); NULL: every request costs 1.
ALTER TABLE listings ADD COLUMN route_costs TEXT;
-- Requests one unit of this grant buys. NULL means the listing's current
-- requests_per_unit; a seller's change of requests_per_unit first writes the old
-- value into every grant that still has NULL, so grants already sold keep what was
-- bought and the change applies to later purchases only. Existing grants are carried
-- forward as NULL (the listing's value, which could not change before).
ALTER TABLE grants ADD COLUMN requests_per_unit BIGINT CHECK (requests_per_unit > 0);
