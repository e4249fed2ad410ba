-- Webhook events for gateway allowances and seller payouts (docs/WEBHOOKS.md), SQLite
-- flavour. The PostgreSQL migration beside this one holds the same table, view and
-- triggers.
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
             (SELECT COALESCE(SUM(g.units), 0) FROM grants g
               WHERE g.buyer_id = k.buyer_id AND g.listing_id = k.listing_id
                 AND g.status = 'active')
             * COALESCE((SELECT l.requests_per_unit FROM listings l WHERE l.id = k.listing_id), 0)
             AS allowance
      FROM gateway_keys k) t;

-- SQLite triggers cannot call functions, so the check shared by the triggers below is
-- an INSTEAD OF trigger on this never-filled view: inserting a key id runs it.
CREATE VIEW webhook_allowance_checks AS SELECT id AS key_id FROM gateway_keys WHERE 0;

-- Writes one `allowance.low` event when the key reached a threshold above the last one
-- notified (the highest, when one step crossed several), and records it. The object
-- holds the key's buyer token view fields (through its newest active grant) and the
-- counts at event time.
CREATE TRIGGER webhook_allowance_check INSTEAD OF INSERT ON webhook_allowance_checks BEGIN
    INSERT INTO webhook_outbox (id, user_id, event_type, object, created_at)
    SELECT 'evt_' || lower(hex(randomblob(16))), v.buyer_id, 'allowance.low',
           json_object('grant_id', g.id, 'order_id', g.order_id, 'listing_id', v.listing_id,
               'service_name', l.service_name, 'units', g.units, 'status', g.status,
               'created_at', g.created_at, 'delivery', l.delivery, 'key_id', v.key_id,
               'key_hint', v.key_hint, 'used', v.used, 'allowance', v.allowance,
               'threshold_percent', v.level),
           CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)
    FROM webhook_allowance_levels v
    JOIN listings l ON l.id = v.listing_id
    JOIN grants g ON g.id = (SELECT g2.id FROM grants g2
                              WHERE g2.buyer_id = v.buyer_id AND g2.listing_id = v.listing_id
                                AND g2.status = 'active'
                              ORDER BY g2.created_at DESC, g2.id DESC LIMIT 1)
    WHERE v.key_id = NEW.key_id
      AND v.level > COALESCE((SELECT a.notified_percent FROM webhook_allowance_alerts a
                               WHERE a.key_id = NEW.key_id), 0)
      AND EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.user_id = v.buyer_id AND e.enabled = 1);
    INSERT INTO webhook_allowance_alerts (key_id, notified_percent)
    SELECT v.key_id, v.level FROM webhook_allowance_levels v
    WHERE v.key_id = NEW.key_id AND v.level > 0
    ON CONFLICT (key_id) DO UPDATE SET notified_percent = excluded.notified_percent
        WHERE excluded.notified_percent > webhook_allowance_alerts.notified_percent;
END;

-- The gateway took requests (a lease block, or one request): check the thresholds.
-- Give-backs (NEW < OLD) neither alert nor re-arm. Only for buyers with an enabled
-- endpoint: for everyone else the cost is one index probe.
CREATE TRIGGER webhook_allowance_taken AFTER UPDATE OF used_requests ON gateway_keys
WHEN NEW.used_requests > OLD.used_requests
 AND EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.user_id = NEW.buyer_id AND e.enabled = 1)
BEGIN
    INSERT INTO webhook_allowance_checks (key_id) VALUES (NEW.id);
END;

-- A top-up (a new active grant): thresholds the usage is now under fire again.
CREATE TRIGGER webhook_allowance_topped_up AFTER INSERT ON grants
WHEN NEW.status = 'active' BEGIN
    UPDATE webhook_allowance_alerts
    SET notified_percent = (SELECT v.level FROM webhook_allowance_levels v
                             WHERE v.key_id = webhook_allowance_alerts.key_id)
    WHERE key_id = (SELECT k.id FROM gateway_keys k
                     WHERE k.buyer_id = NEW.buyer_id AND k.listing_id = NEW.listing_id)
      AND notified_percent > (SELECT v.level FROM webhook_allowance_levels v
                               WHERE v.key_id = webhook_allowance_alerts.key_id);
END;

-- A revoked grant shrinks the allowance: the usage may now pass a threshold.
CREATE TRIGGER webhook_allowance_shrunk AFTER UPDATE OF status ON grants
WHEN NEW.status = 'revoked' AND OLD.status <> 'revoked'
 AND EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.user_id = NEW.buyer_id AND e.enabled = 1)
BEGIN
    INSERT INTO webhook_allowance_checks (key_id)
    SELECT k.id FROM gateway_keys k
    WHERE k.buyer_id = NEW.buyer_id AND k.listing_id = NEW.listing_id;
END;

-- Payouts, for their seller: `payout.created` once a payout holds money (runs insert
-- it empty, then set the amount, in one transaction), then `payout.<status>` on each
-- change to a final status. Status vocabulary: `PayoutStatus` (src/payouts/model.rs).
CREATE TRIGGER webhook_payout_inserted AFTER INSERT ON payouts
WHEN NEW.amount_cents > 0 BEGIN
    INSERT INTO webhook_outbox (id, user_id, event_type, object, created_at)
    SELECT 'evt_' || lower(hex(randomblob(16))), NEW.seller_id, 'payout.created',
           json_object('id', NEW.id, 'seller_id', NEW.seller_id, 'currency', NEW.currency,
               'amount_cents', NEW.amount_cents, 'status', NEW.status,
               'provider', NEW.provider, 'provider_transfer_id', NEW.provider_transfer_id, 'destination', NEW.destination,
               'attempts', NEW.attempts, 'created_at', NEW.created_at,
               'updated_at', NEW.updated_at),
           NEW.updated_at
    WHERE EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.user_id = NEW.seller_id AND e.enabled = 1);
END;

CREATE TRIGGER webhook_payout_funded AFTER UPDATE OF amount_cents ON payouts
WHEN OLD.amount_cents = 0 AND NEW.amount_cents > 0 BEGIN
    INSERT INTO webhook_outbox (id, user_id, event_type, object, created_at)
    SELECT 'evt_' || lower(hex(randomblob(16))), NEW.seller_id, 'payout.created',
           json_object('id', NEW.id, 'seller_id', NEW.seller_id, 'currency', NEW.currency,
               'amount_cents', NEW.amount_cents, 'status', NEW.status,
               'provider', NEW.provider, 'provider_transfer_id', NEW.provider_transfer_id, 'destination', NEW.destination,
               'attempts', NEW.attempts, 'created_at', NEW.created_at,
               'updated_at', NEW.updated_at),
           NEW.updated_at
    WHERE EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.user_id = NEW.seller_id AND e.enabled = 1);
END;

CREATE TRIGGER webhook_payout_status AFTER UPDATE OF status ON payouts
WHEN NEW.status <> OLD.status AND NEW.status IN ('paid', 'failed', 'reversed')
 AND NEW.amount_cents > 0 BEGIN
    INSERT INTO webhook_outbox (id, user_id, event_type, object, created_at)
    SELECT 'evt_' || lower(hex(randomblob(16))), NEW.seller_id, 'payout.' || NEW.status,
           json_object('id', NEW.id, 'seller_id', NEW.seller_id, 'currency', NEW.currency,
               'amount_cents', NEW.amount_cents, 'status', NEW.status,
               'provider', NEW.provider, 'provider_transfer_id', NEW.provider_transfer_id, 'destination', NEW.destination,
               'attempts', NEW.attempts, 'created_at', NEW.created_at,
               'updated_at', NEW.updated_at),
           NEW.updated_at
    WHERE EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.user_id = NEW.seller_id AND e.enabled = 1);
END;
