-- Browsing and searching with `delivery=gateway` (issue 19): the newest gateway
-- listings through an index of their own, as currency and in-stock have theirs. Only
-- gateway listings are in it, so a key listing's updates (a purchase changes its
-- units) never touch it, and `delivery=key`, which keeps most listings, reads the
-- general indexes. Built over the existing rows by this migration.
CREATE INDEX listings_gateway_newest ON listings(status, created_at DESC, id DESC)
    WHERE delivery = 'gateway';
