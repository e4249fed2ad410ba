-- Two webhook events that drifted from the rest of the system (found in review,
-- 2026-12-04). Nothing stored changes: a view and one trigger function are redefined.
--
-- 1. `allowance.low` counted each key's allowance at the listing's current requests
--    per unit. Since 0013 a grant keeps the requests per unit it was bought with once
--    the seller changes the listing's, and the gateway counts that (allowance_of! in
--    src/gateway/store.rs); the view did not, so a seller raising the figure left
--    buyers cut off with no warning, and lowering it sent false alerts. The view now
--    computes the allowance exactly as the gateway does.
CREATE OR REPLACE VIEW webhook_allowance_levels AS
SELECT t.key_id, t.buyer_id, t.listing_id, t.key_hint, t.used, t.allowance,
       CASE WHEN t.allowance <= 0 THEN 0
            WHEN t.used >= t.allowance THEN 100
            WHEN t.used * 10 >= t.allowance * 9 THEN 90
            WHEN t.used * 10 >= t.allowance * 8 THEN 80
            ELSE 0 END AS level
FROM (SELECT k.id AS key_id, k.buyer_id, k.listing_id, k.key_hint, k.used_requests AS used,
             (SELECT CAST(COALESCE(SUM(g.units *
                        COALESCE(g.requests_per_unit, l.requests_per_unit, 0)), 0) AS BIGINT)
                FROM grants g JOIN listings l ON l.id = g.listing_id
               WHERE g.buyer_id = k.buyer_id AND g.listing_id = k.listing_id
                 AND g.status = 'active') AS allowance
      FROM gateway_keys k) t;

-- 2. `listing.sold_out` took its event time from the listing's `updated_at`, which a
--    sale no longer moves (0024): the event said the listing sold out at its last
--    edit. It now carries the database clock at the sale, as `allowance.low` does.
CREATE OR REPLACE FUNCTION webhook_listing_sold_out() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
    PERFORM webhook_emit(NEW.seller_id, 'listing.sold_out', jsonb_build_object(
        'id', NEW.id, 'seller_id', NEW.seller_id, 'service_name', NEW.service_name,
        'description', NEW.description, 'unit_description', NEW.unit_description,
        'price_cents', NEW.price_cents, 'currency', NEW.currency,
        'available_units', NEW.available_units, 'status', NEW.status,
        'api_key_hint', NEW.api_key_hint, 'created_at', NEW.created_at,
        'updated_at', NEW.updated_at, 'delivery', NEW.delivery,
        'requests_per_unit', NEW.requests_per_unit, 'meter', NEW.meter),
        CAST(extract(epoch FROM clock_timestamp()) * 1000 AS BIGINT));
    RETURN NULL;
END;
$$;
