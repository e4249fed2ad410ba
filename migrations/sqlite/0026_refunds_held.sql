-- Refund reports that arrive before the payment they refund. The PostgreSQL
-- migration beside this one explains why; the table is the same.
CREATE TABLE refunds_held (
    payment_intent_id TEXT PRIMARY KEY,
    event_id          TEXT NOT NULL,
    charge_id         TEXT NOT NULL,
    amount_cents      INTEGER NOT NULL,
    refunded_cents    INTEGER NOT NULL,
    currency          TEXT NOT NULL,
    received_at       INTEGER NOT NULL
);
