-- Stripe Connect payouts (docs/PAYOUTS.md), postgres flavour; the SQLite migration beside
-- this one makes the same change.
--
-- Stripe does not deliver events in order: an `account.updated` sent earlier may
-- arrive after a later one. Each connected account keeps the `created` time (unix
-- seconds) of the event its state came from, and an older event changes nothing.
-- Existing rows carry forward with 0: the first event about them applies.
ALTER TABLE connected_accounts ADD COLUMN state_at BIGINT NOT NULL DEFAULT 0;
