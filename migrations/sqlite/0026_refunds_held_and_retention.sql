-- Refund reports that arrive before the payment they refund, and the indexes of the
-- webhook retention purge. The PostgreSQL migration beside this one explains both.
CREATE TABLE refunds_held (
    payment_intent_id TEXT PRIMARY KEY,
    event_id          TEXT NOT NULL,
    charge_id         TEXT NOT NULL,
    amount_cents      INTEGER NOT NULL,
    refunded_cents    INTEGER NOT NULL,
    currency          TEXT NOT NULL,
    received_at       INTEGER NOT NULL
);

-- The retention purge's ways in (src/webhooks/store/purge.rs): finished deliveries by
-- when they finished, fanned-out events by age, so a pass reads what it deletes and
-- not the whole table. Partial: a purchase's new outbox row (not fanned out yet) and
-- a pending delivery are in neither. Building them over a large outbox holds off
-- writes to it (and so purchases whose seller or buyer has endpoints) until done.
CREATE INDEX webhook_deliveries_finished ON webhook_deliveries(updated_at) WHERE status <> 'pending';
CREATE INDEX webhook_outbox_fanned ON webhook_outbox(created_at) WHERE fanned_out <> 0;
