-- Refund reports that arrive before the payment they refund, and the indexes of the
-- webhook retention purge: the PostgreSQL migration beside this one explains both.
-- And ledger accounts append-only here too, as on PostgreSQL since 0018.
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

-- Ledger accounts are append-only, as the journal is (0003) and as PostgreSQL has
-- enforced since 0018: an entry names its account by key, and an account changed or
-- removed under it would move or orphan the money it holds. Nothing updates or
-- deletes one; existing rows are untouched.
CREATE TRIGGER ledger_accounts_no_update BEFORE UPDATE ON ledger_accounts
BEGIN SELECT RAISE(ABORT, 'ledger accounts are append-only: ledger_accounts rows cannot be updated'); END;
CREATE TRIGGER ledger_accounts_no_delete BEFORE DELETE ON ledger_accounts
BEGIN SELECT RAISE(ABORT, 'ledger accounts are append-only: ledger_accounts rows cannot be deleted'); END;
