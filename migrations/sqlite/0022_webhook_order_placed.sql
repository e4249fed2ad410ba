-- One outbox row per new order instead of one per event (issue 17; the PostgreSQL
-- migration beside this one says why). The order's three events (the seller's
-- `order.created` and `order.fulfilled`, the buyer's `order.fulfilled`) are expanded
-- from the one `order.placed` row by the delivery worker's fan-out. The row is
-- written exactly when the old trigger wrote anything; rows already in the outbox
-- keep their shape.
DROP TRIGGER webhook_order_inserted;

CREATE TRIGGER webhook_order_inserted AFTER INSERT ON orders
WHEN EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.user_id = NEW.seller_id AND e.enabled = 1)
  OR (NEW.status = 'fulfilled'
      AND EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.user_id = NEW.buyer_id AND e.enabled = 1))
BEGIN
    INSERT INTO webhook_outbox (id, user_id, event_type, object, created_at)
    VALUES ('evt_' || lower(hex(randomblob(16))), NEW.seller_id, 'order.placed',
           json_object('id', NEW.id, 'buyer_id', NEW.buyer_id, 'listing_id', NEW.listing_id,
               'seller_id', NEW.seller_id, 'service_name', NEW.service_name, 'units', NEW.units,
               'unit_price_cents', NEW.unit_price_cents, 'total_cents', NEW.total_cents,
               'currency', NEW.currency, 'status', NEW.status,
               'payment_status', NEW.payment_status, 'checkout_url', NEW.checkout_url,
               'expires_at', NEW.expires_at, 'created_at', NEW.created_at,
               'updated_at', NEW.updated_at),
           NEW.updated_at);
END;
