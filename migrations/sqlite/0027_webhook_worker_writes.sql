-- A new order's `order.placed` outbox row takes its id from the order's (`evt_` ||
-- `ord_…`) instead of random bytes, as on PostgreSQL (the migration beside this one
-- says why). The id is never sent: the fan-out expands the row into events with ids
-- of their own. Same condition and object as 0022.
DROP TRIGGER webhook_order_inserted;

CREATE TRIGGER webhook_order_inserted AFTER INSERT ON orders
WHEN EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.user_id = NEW.seller_id AND e.enabled = 1)
  OR (NEW.status = 'fulfilled'
      AND EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.user_id = NEW.buyer_id AND e.enabled = 1))
BEGIN
    INSERT INTO webhook_outbox (id, user_id, event_type, object, created_at)
    VALUES ('evt_' || NEW.id, NEW.seller_id, 'order.placed',
           json_object('id', NEW.id, 'buyer_id', NEW.buyer_id, 'listing_id', NEW.listing_id,
               'seller_id', NEW.seller_id, 'service_name', NEW.service_name, 'units', NEW.units,
               'unit_price_cents', NEW.unit_price_cents, 'total_cents', NEW.total_cents,
               'currency', NEW.currency, 'status', NEW.status,
               'payment_status', NEW.payment_status, 'checkout_url', NEW.checkout_url,
               'expires_at', NEW.expires_at, 'created_at', NEW.created_at,
               'updated_at', NEW.updated_at),
           NEW.updated_at);
END;
