-- Two webhook events that drifted from the rest of the system (found in review,
-- 2026-12-04). Nothing stored changes: a view and one trigger are redefined. The
-- PostgreSQL migration beside this one explains both.
--
-- 1. `allowance.low` counts each grant at the requests per unit it was bought with,
--    as the gateway does (allowance_of! in src/gateway/store.rs).
DROP VIEW webhook_allowance_levels;
CREATE VIEW webhook_allowance_levels AS
SELECT t.key_id, t.buyer_id, t.listing_id, t.key_hint, t.used, t.allowance,
       CASE WHEN t.allowance <= 0 THEN 0
            WHEN t.used >= t.allowance THEN 100
            WHEN t.used * 10 >= t.allowance * 9 THEN 90
            WHEN t.used * 10 >= t.allowance * 8 THEN 80
            ELSE 0 END AS level
FROM (SELECT k.id AS key_id, k.buyer_id, k.listing_id, k.key_hint, k.used_requests AS used,
             (SELECT COALESCE(SUM(g.units *
                        COALESCE(g.requests_per_unit, l.requests_per_unit, 0)), 0)
                FROM grants g JOIN listings l ON l.id = g.listing_id
               WHERE g.buyer_id = k.buyer_id AND g.listing_id = k.listing_id
                 AND g.status = 'active') AS allowance
      FROM gateway_keys k) t;

-- 2. `listing.sold_out` carries the clock at the sale, not the listing's last edit.
DROP TRIGGER webhook_listing_sold_out;
CREATE TRIGGER webhook_listing_sold_out AFTER UPDATE OF available_units ON listings
WHEN NEW.available_units = 0 AND OLD.available_units > 0 BEGIN
    INSERT INTO webhook_outbox (id, user_id, event_type, object, created_at)
    SELECT 'evt_' || lower(hex(randomblob(16))), NEW.seller_id, 'listing.sold_out',
           json_object('id', NEW.id, 'seller_id', NEW.seller_id,
               'service_name', NEW.service_name, 'description', NEW.description,
               'unit_description', NEW.unit_description, 'price_cents', NEW.price_cents,
               'currency', NEW.currency, 'available_units', NEW.available_units,
               'status', NEW.status, 'api_key_hint', NEW.api_key_hint,
               'created_at', NEW.created_at, 'updated_at', NEW.updated_at,
               'delivery', NEW.delivery, 'requests_per_unit', NEW.requests_per_unit,
               'meter', NEW.meter),
           CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)
    WHERE EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.user_id = NEW.seller_id AND e.enabled = 1);
END;
