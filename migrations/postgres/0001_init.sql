-- UDAM schema, PostgreSQL flavour. Times are unix milliseconds (BIGINT), flags are 0/1
-- integers, money is an integer count of the currency's minor unit. The SQLite
-- migration beside this one holds the same tables and constraints.

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    display_name  TEXT,
    is_admin      BIGINT NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL
);

-- Only the SHA-256 of a session token is stored; logout deletes the row.
CREATE TABLE sessions (
    token_hash BYTEA PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);
CREATE INDEX sessions_expiry ON sessions(expires_at);

CREATE TABLE listings (
    id               TEXT PRIMARY KEY,
    seller_id        TEXT NOT NULL REFERENCES users(id),
    service_name     TEXT NOT NULL,
    description      TEXT NOT NULL,
    unit_description TEXT NOT NULL,
    price_cents      BIGINT NOT NULL CHECK (price_cents >= 0),
    currency         TEXT NOT NULL,
    available_units  BIGINT NOT NULL CHECK (available_units >= 0),
    status           TEXT NOT NULL CHECK (status IN ('active', 'paused', 'archived')),
    api_key_sealed   BYTEA NOT NULL,
    api_key_key_id   TEXT NOT NULL,
    api_key_hint     TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX listings_newest ON listings(status, created_at DESC, id DESC);
CREATE INDEX listings_price ON listings(status, price_cents, id);
CREATE INDEX listings_seller ON listings(seller_id, created_at DESC, id DESC);
CREATE INDEX listings_updated ON listings(updated_at);
CREATE INDEX listings_key_id ON listings(api_key_key_id);

-- holds_units is 1 while the order's units are taken from the listing (pending or
-- fulfilled); releasing flips it to 0 in the same statement that returns the units,
-- so units can never be returned twice.
CREATE TABLE orders (
    id                  TEXT PRIMARY KEY,
    buyer_id            TEXT NOT NULL REFERENCES users(id),
    listing_id          TEXT NOT NULL REFERENCES listings(id),
    seller_id           TEXT NOT NULL,
    service_name        TEXT NOT NULL,
    units               BIGINT NOT NULL CHECK (units > 0),
    unit_price_cents    BIGINT NOT NULL,
    total_cents         BIGINT NOT NULL,
    currency            TEXT NOT NULL,
    status              TEXT NOT NULL,
    payment_status      TEXT NOT NULL,
    holds_units         BIGINT NOT NULL,
    provider            TEXT,
    provider_session_id TEXT UNIQUE,
    checkout_url        TEXT,
    payment_intent_id   TEXT,
    settlement_id       TEXT,
    expires_at          BIGINT,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);
CREATE INDEX orders_buyer ON orders(buyer_id, created_at DESC, id DESC);
CREATE INDEX orders_seller ON orders(seller_id, created_at DESC, id DESC);
CREATE INDEX orders_listing ON orders(listing_id);
CREATE INDEX orders_pending_expiry ON orders(expires_at) WHERE status = 'pending_payment';
CREATE INDEX orders_settlement ON orders(settlement_id);

-- One access grant per order (the unique order_id makes duplicate fulfilment harmless).
CREATE TABLE grants (
    id         TEXT PRIMARY KEY,
    order_id   TEXT NOT NULL UNIQUE REFERENCES orders(id),
    buyer_id   TEXT NOT NULL,
    listing_id TEXT NOT NULL,
    seller_id  TEXT NOT NULL,
    units      BIGINT NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('active', 'revoked')),
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX grants_buyer ON grants(buyer_id, created_at DESC, id DESC);
CREATE INDEX grants_seller ON grants(seller_id);

-- What a buyer owes for instantly fulfilled (deferred payment) orders, per currency.
CREATE TABLE balances (
    user_id    TEXT NOT NULL,
    currency   TEXT NOT NULL,
    owed_cents BIGINT NOT NULL CHECK (owed_cents >= 0),
    PRIMARY KEY (user_id, currency)
);

CREATE TABLE settlements (
    id                  TEXT PRIMARY KEY,
    user_id             TEXT NOT NULL REFERENCES users(id),
    currency            TEXT NOT NULL,
    amount_cents        BIGINT NOT NULL,
    status              TEXT NOT NULL,
    provider_session_id TEXT UNIQUE,
    checkout_url        TEXT,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);

-- Stripe-style idempotency: the first response is stored and replayed.
CREATE TABLE idempotency_keys (
    user_id       TEXT NOT NULL,
    idem_key      TEXT NOT NULL,
    request_hash  BYTEA NOT NULL,
    status_code   BIGINT,
    response_body BYTEA,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (user_id, idem_key)
);
CREATE INDEX idempotency_created ON idempotency_keys(created_at);

-- The webhook inbox: an event id is inserted in the same transaction as its effect.
CREATE TABLE webhook_events (
    id          TEXT PRIMARY KEY,
    event_type  TEXT NOT NULL,
    received_at BIGINT NOT NULL
);

-- Who opened or revoked which grants, and when. Never holds a secret.
CREATE TABLE audit_log (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    actor_id   TEXT NOT NULL,
    action     TEXT NOT NULL,
    subject    TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
