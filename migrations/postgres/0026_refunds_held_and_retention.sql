-- Refund reports that arrive before the payment they refund (issue 12; found in
-- review, 2026-12-04).
--
-- Stripe does not promise the order of its events: a `charge.refunded` can reach us
-- before the `checkout.session.completed` of the same payment (a refund made in the
-- dashboard moments after the payment, or a completion event that failed once and is
-- retried later). Until now such a report found no order with that payment, was
-- answered `unknown_order` and stored in the inbox, so Stripe never sent it again;
-- the payment then fulfilled the order, and the buyer kept the grant and the units
-- while the money went back: a refund lost from the journal.
--
-- Now the report is held here, keyed by the payment (reports are cumulative, so the
-- largest is kept), and recording the payment applies it in the same transaction
-- (src/payments/refunds.rs). A refund of a charge that was never ours stays here and
-- changes nothing.
--
-- The same release purges delivered webhooks after 30 days; its indexes are at the
-- end.
--
-- A new table with nothing to carry forward: the inbox never kept the bodies of the
-- reports it answered `unknown_order`, so a refund lost before this release cannot be
-- recovered from the database (Stripe's dashboard lists them).
CREATE TABLE refunds_held (
    payment_intent_id TEXT PRIMARY KEY,
    event_id          TEXT NOT NULL,
    charge_id         TEXT NOT NULL,
    amount_cents      BIGINT NOT NULL,
    refunded_cents    BIGINT NOT NULL,
    currency          TEXT NOT NULL,
    received_at       BIGINT NOT NULL
);

-- The retention purge's ways in (src/webhooks/store/purge.rs): finished deliveries by
-- when they finished, fanned-out events by age, so a pass reads what it deletes and
-- not the whole table. Partial: a purchase's new outbox row (not fanned out yet) and
-- a pending delivery are in neither. Building them over a large outbox holds off
-- writes to it (and so purchases whose seller or buyer has endpoints) until done.
CREATE INDEX webhook_deliveries_finished ON webhook_deliveries(updated_at) WHERE status <> 'pending';
CREATE INDEX webhook_outbox_fanned ON webhook_outbox(created_at) WHERE fanned_out <> 0;
