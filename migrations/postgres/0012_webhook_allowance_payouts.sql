-- Webhook events for gateway allowances and seller payouts (docs/WEBHOOKS.md),
-- PostgreSQL flavour. The SQLite migration beside this one holds the same table, view
-- and triggers.
--
-- Nothing existing changes shape: one new table starts empty (no key has been alerted
-- yet), and events are only written for changes made after an endpoint exists.

-- `allowance.low`: the highest threshold (80, 90 or 100 % of the key's allowance
-- taken) its buyer was told of in the current top-up cycle. A top-up (a new grant)
-- that brings usage back under a threshold lowers it, so that threshold fires again.
CREATE TABLE webhook_allowance_alerts (
    key_id           TEXT PRIMARY KEY REFERENCES gateway_keys(id),
    notified_percent BIGINT NOT NULL
);

-- Each gateway key's usage against its allowance, with the threshold it has reached.
-- `used` is `gateway_keys.used_requests`, the one counter the gateway checks before
-- serving (leased blocks included); the allowance is the active grants' units times
-- the listing's requests per unit, as in src/gateway/store.rs.
CREATE VIEW webhook_allowance_levels AS
SELECT t.key_id, t.buyer_id, t.listing_id, t.key_hint, t.used, t.allowance,
       CASE WHEN t.allowance <= 0 THEN 0
            WHEN t.used >= t.allowance THEN 100
            WHEN t.used * 10 >= t.allowance * 9 THEN 90
            WHEN t.used * 10 >= t.allowance * 8 THEN 80
            ELSE 0 END AS level
FROM (SELECT k.id AS key_id, k.buyer_id, k.listing_id, k.key_hint, k.used_requests AS used,
             CAST((SELECT COALESCE(SUM(g.units), 0) FROM grants g
                    WHERE g.buyer_id = k.buyer_id AND g.listing_id = k.listing_id
                      AND g.status = 'active')
                  * COALESCE((SELECT l.requests_per_unit FROM listings l WHERE l.id = k.listing_id), 0)
                  AS BIGINT) AS allowance
      FROM gateway_keys k) t;

-- Writes one `allowance.low` event when the key reached a threshold above the last one
-- notified (the highest, when one step crossed several), and records it. The object
-- holds the key's buyer token view fields (through its newest active grant) and the
-- counts at event time. The alert row is locked first, so two transactions checking
-- one key take turns and a threshold is told once.
CREATE FUNCTION webhook_allowance_check(key TEXT) RETURNS VOID LANGUAGE plpgsql AS $$
DECLARE
    notified BIGINT;
    v RECORD;
BEGIN
    INSERT INTO webhook_allowance_alerts (key_id, notified_percent) VALUES (key, 0)
        ON CONFLICT (key_id) DO NOTHING;
    SELECT a.notified_percent INTO notified FROM webhook_allowance_alerts a
        WHERE a.key_id = key FOR UPDATE;
    SELECT * INTO v FROM webhook_allowance_levels WHERE key_id = key;
    IF NOT FOUND OR v.level <= notified THEN
        RETURN;
    END IF;
    PERFORM webhook_emit(v.buyer_id, 'allowance.low', jsonb_build_object(
        'grant_id', g.id, 'order_id', g.order_id, 'listing_id', v.listing_id,
        'service_name', l.service_name, 'units', g.units, 'status', g.status,
        'created_at', g.created_at, 'delivery', l.delivery, 'key_id', v.key_id,
        'key_hint', v.key_hint, 'used', v.used, 'allowance', v.allowance,
        'threshold_percent', v.level),
        CAST(extract(epoch FROM clock_timestamp()) * 1000 AS BIGINT))
    FROM listings l, grants g
    WHERE l.id = v.listing_id
      AND g.id = (SELECT g2.id FROM grants g2
                   WHERE g2.buyer_id = v.buyer_id AND g2.listing_id = v.listing_id
                     AND g2.status = 'active'
                   ORDER BY g2.created_at DESC, g2.id DESC LIMIT 1);
    UPDATE webhook_allowance_alerts SET notified_percent = v.level WHERE key_id = key;
END;
$$;

-- The gateway took requests (a lease block, or one request): check the thresholds.
-- Give-backs (NEW < OLD) neither alert nor re-arm. Only for buyers with an enabled
-- endpoint: for everyone else the cost is one index probe.
CREATE FUNCTION webhook_allowance_taken() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.user_id = NEW.buyer_id AND e.enabled = 1) THEN
        PERFORM webhook_allowance_check(NEW.id);
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER webhook_allowance_taken AFTER UPDATE OF used_requests ON gateway_keys
    FOR EACH ROW WHEN (NEW.used_requests > OLD.used_requests)
    EXECUTE FUNCTION webhook_allowance_taken();

-- A top-up (a new active grant): thresholds the usage is now under fire again.
-- Once per statement, not per row: a group-commit purchase inserts a whole batch of
-- grants with one statement while it holds the listing's row lock, and grants of
-- listings without gateway keys (most of them) must cost next to nothing there.
CREATE FUNCTION webhook_allowance_topped_up() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
    UPDATE webhook_allowance_alerts a SET notified_percent = v.level
    FROM webhook_allowance_levels v
    WHERE a.key_id IN (SELECT k.id FROM new_grants n JOIN gateway_keys k
                         ON k.buyer_id = n.buyer_id AND k.listing_id = n.listing_id
                       WHERE n.status = 'active')
      AND v.key_id = a.key_id AND a.notified_percent > v.level;
    RETURN NULL;
END;
$$;
CREATE TRIGGER webhook_allowance_topped_up AFTER INSERT ON grants
    REFERENCING NEW TABLE AS new_grants
    FOR EACH STATEMENT EXECUTE FUNCTION webhook_allowance_topped_up();

-- A revoked grant shrinks the allowance: the usage may now pass a threshold.
CREATE FUNCTION webhook_allowance_shrunk() RETURNS TRIGGER LANGUAGE plpgsql AS $$
DECLARE
    key TEXT;
BEGIN
    IF EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.user_id = NEW.buyer_id AND e.enabled = 1) THEN
        SELECT k.id INTO key FROM gateway_keys k
            WHERE k.buyer_id = NEW.buyer_id AND k.listing_id = NEW.listing_id;
        IF key IS NOT NULL THEN
            PERFORM webhook_allowance_check(key);
        END IF;
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER webhook_allowance_shrunk AFTER UPDATE OF status ON grants
    FOR EACH ROW WHEN (NEW.status = 'revoked' AND OLD.status <> 'revoked')
    EXECUTE FUNCTION webhook_allowance_shrunk();

-- Payouts, for their seller: `payout.created` once a payout holds money (runs insert
-- it empty, then set the amount, in one transaction), then `payout.<status>` on each
-- change to a final status. Status vocabulary: `PayoutStatus` (src/payouts/model.rs).
CREATE FUNCTION webhook_payout_object(p payouts) RETURNS JSONB LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object('id', p.id, 'seller_id', p.seller_id, 'currency', p.currency,
        'amount_cents', p.amount_cents, 'status', p.status, 'provider', p.provider,
        'provider_transfer_id', p.provider_transfer_id, 'destination', p.destination, 'attempts', p.attempts,
        'created_at', p.created_at, 'updated_at', p.updated_at)
$$;

CREATE FUNCTION webhook_payout_created() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
    PERFORM webhook_emit(NEW.seller_id, 'payout.created', webhook_payout_object(NEW), NEW.updated_at);
    RETURN NULL;
END;
$$;
CREATE TRIGGER webhook_payout_inserted AFTER INSERT ON payouts
    FOR EACH ROW WHEN (NEW.amount_cents > 0)
    EXECUTE FUNCTION webhook_payout_created();
CREATE TRIGGER webhook_payout_funded AFTER UPDATE OF amount_cents ON payouts
    FOR EACH ROW WHEN (OLD.amount_cents = 0 AND NEW.amount_cents > 0)
    EXECUTE FUNCTION webhook_payout_created();

CREATE FUNCTION webhook_payout_status() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
    PERFORM webhook_emit(NEW.seller_id, 'payout.' || NEW.status, webhook_payout_object(NEW), NEW.updated_at);
    RETURN NULL;
END;
$$;
CREATE TRIGGER webhook_payout_status AFTER UPDATE OF status ON payouts
    FOR EACH ROW WHEN (NEW.status <> OLD.status AND NEW.status IN ('paid', 'failed', 'reversed')
                       AND NEW.amount_cents > 0)
    EXECUTE FUNCTION webhook_payout_status();
