-- Seller payouts (docs/PAYOUTS.md), PostgreSQL flavour. The SQLite migration beside this one holds the
-- same tables and constraints.
--
-- Nothing existing changes meaning: every seller starts unheld (the column default
-- carries existing users forward), with no connected account and no payouts, and
-- their earnings so far stay in their ledger accounts until the first payout run.

-- An administrator may hold a seller's payouts (fraud, dispute): runs skip them.
-- 0 or 1: booleans are stored as integers, which sqlx's Any driver reads on both.
ALTER TABLE users ADD COLUMN payouts_held BIGINT NOT NULL DEFAULT 0
    CHECK (payouts_held IN (0, 1));

-- One payout per (seller, currency, run): the amount that left the seller's payable.
-- Status vocabulary: `PayoutStatus` (src/payouts/model.rs).
CREATE TABLE payouts (
    id                   TEXT PRIMARY KEY,
    seller_id            TEXT NOT NULL REFERENCES users(id),
    currency             TEXT NOT NULL,
    amount_cents         BIGINT NOT NULL CHECK (amount_cents >= 0),
    status               TEXT NOT NULL,
    provider             TEXT NOT NULL,
    destination          TEXT,
    provider_transfer_id TEXT,
    attempts             BIGINT NOT NULL DEFAULT 0,
    last_error           TEXT,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL
);
CREATE INDEX payouts_seller ON payouts(seller_id, created_at DESC, id DESC);
-- At most one unconfirmed payout per seller and currency: a second run (another
-- replica whose lease lapsed) cannot record a second payout of the same money.
CREATE UNIQUE INDEX payouts_one_pending ON payouts(seller_id, currency)
    WHERE status = 'pending';
CREATE UNIQUE INDEX payouts_transfer ON payouts(provider_transfer_id);

-- Stripe Connect: one Express account per seller, and what Stripe last said of it.
CREATE TABLE connected_accounts (
    seller_id         TEXT PRIMARY KEY REFERENCES users(id),
    stripe_account_id TEXT NOT NULL UNIQUE,
    charges_enabled   BIGINT NOT NULL DEFAULT 0,
    payouts_enabled   BIGINT NOT NULL DEFAULT 0,
    details_submitted BIGINT NOT NULL DEFAULT 0,
    requirements_due  TEXT NOT NULL DEFAULT '',
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);

-- The lease that lets one process at a time run payouts; taken by a conditional
-- UPDATE (free, lapsed, or already ours), so any number of replicas may try.
CREATE TABLE payout_lease (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
INSERT INTO payout_lease (name, holder, expires_at) VALUES ('payouts', '', 0);
