-- Signed outbound webhooks (docs/WEBHOOKS.md), PostgreSQL flavour. The SQLite
-- migration beside this one holds the same tables and triggers.
--
-- Nothing existing changes shape, so no data needs carrying forward: endpoints start
-- empty, and events are only written for changes made after an endpoint exists.

-- A user's receivers. The signing secret is stored sealed (AES-GCM, bound to the row);
-- during a rotation the previous secret stays until `previous_expires_at`.
CREATE TABLE webhook_endpoints (
    id                     TEXT PRIMARY KEY,
    user_id                TEXT NOT NULL REFERENCES users(id),
    url                    TEXT NOT NULL,
    description            TEXT NOT NULL,
    enabled                BIGINT NOT NULL,
    secret_sealed          BYTEA NOT NULL,
    secret_key_id          TEXT NOT NULL,
    previous_secret_sealed BYTEA,
    previous_secret_key_id TEXT,
    previous_expires_at    BIGINT,
    -- When deliveries started failing without a success since; NULL when healthy.
    failing_since          BIGINT,
    -- Why the server disabled the endpoint (`failing`), NULL when the owner did.
    disabled_reason        TEXT,
    created_at             BIGINT NOT NULL,
    updated_at             BIGINT NOT NULL
);
CREATE INDEX webhook_endpoints_user ON webhook_endpoints(user_id, created_at DESC, id DESC);

-- Which event types each endpoint receives.
CREATE TABLE webhook_subscriptions (
    endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    event_type  TEXT NOT NULL,
    PRIMARY KEY (endpoint_id, event_type)
);

-- The outbox: one row per event per recipient, written by the triggers below in the
-- transaction that made the change, so a rolled-back change writes nothing.
-- `object` is the changed row at event time as JSON; the worker renders it through
-- the REST API's own view. `fanned_out` flips once deliveries exist for it.
CREATE TABLE webhook_outbox (
    seq        BIGSERIAL PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    user_id    TEXT NOT NULL,
    event_type TEXT NOT NULL,
    object     TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    fanned_out BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX webhook_outbox_pending ON webhook_outbox(seq) WHERE fanned_out = 0;

-- One event to one endpoint. `attempts` counts claims; a claim sets `lease_until`, and
-- only an unleased (or lapsed) pending delivery can be claimed, so two processes never
-- send the same attempt.
CREATE TABLE webhook_deliveries (
    id              TEXT PRIMARY KEY,
    event_id        TEXT NOT NULL REFERENCES webhook_outbox(id),
    endpoint_id     TEXT NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_until     BIGINT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    UNIQUE (event_id, endpoint_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries(endpoint_id, created_at DESC, id DESC);

-- Every attempt made, as its owner sees it on the deliveries page.
CREATE TABLE webhook_attempts (
    delivery_id      TEXT NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
    attempt          BIGINT NOT NULL,
    status_code      BIGINT,
    latency_ms       BIGINT NOT NULL,
    response_excerpt TEXT,
    error            TEXT,
    started_at       BIGINT NOT NULL,
    PRIMARY KEY (delivery_id, attempt)
);

-- The triggers write an event only for a recipient with an enabled endpoint, so a
-- purchase by or from someone without webhooks pays one index probe and no write.

CREATE FUNCTION webhook_emit(recipient TEXT, kind TEXT, obj JSONB, at BIGINT) RETURNS VOID
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.user_id = recipient AND e.enabled = 1) THEN
        INSERT INTO webhook_outbox (id, user_id, event_type, object, created_at)
        VALUES ('evt_' || replace(gen_random_uuid()::text, '-', ''), recipient, kind, obj::text, at);
    END IF;
END;
$$;

CREATE FUNCTION webhook_order_object(o orders) RETURNS JSONB LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object('id', o.id, 'buyer_id', o.buyer_id, 'listing_id', o.listing_id,
        'seller_id', o.seller_id, 'service_name', o.service_name, 'units', o.units,
        'unit_price_cents', o.unit_price_cents, 'total_cents', o.total_cents,
        'currency', o.currency, 'status', o.status, 'payment_status', o.payment_status,
        'checkout_url', o.checkout_url, 'expires_at', o.expires_at,
        'created_at', o.created_at, 'updated_at', o.updated_at)
$$;

CREATE FUNCTION webhook_order_inserted() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
    PERFORM webhook_emit(NEW.seller_id, 'order.created', webhook_order_object(NEW), NEW.updated_at);
    IF NEW.status = 'fulfilled' THEN
        PERFORM webhook_emit(NEW.seller_id, 'order.fulfilled', webhook_order_object(NEW), NEW.updated_at);
        IF NEW.buyer_id <> NEW.seller_id THEN
            PERFORM webhook_emit(NEW.buyer_id, 'order.fulfilled', webhook_order_object(NEW), NEW.updated_at);
        END IF;
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER webhook_order_inserted AFTER INSERT ON orders
    FOR EACH ROW EXECUTE FUNCTION webhook_order_inserted();

CREATE FUNCTION webhook_order_status() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
    PERFORM webhook_emit(NEW.seller_id, 'order.' || NEW.status, webhook_order_object(NEW), NEW.updated_at);
    IF NEW.status IN ('fulfilled', 'expired') AND NEW.buyer_id <> NEW.seller_id THEN
        PERFORM webhook_emit(NEW.buyer_id, 'order.' || NEW.status, webhook_order_object(NEW), NEW.updated_at);
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER webhook_order_status AFTER UPDATE OF status ON orders
    FOR EACH ROW WHEN (NEW.status <> OLD.status AND NEW.status IN ('fulfilled', 'cancelled', 'expired'))
    EXECUTE FUNCTION webhook_order_status();

CREATE FUNCTION webhook_listing_sold_out() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
    PERFORM webhook_emit(NEW.seller_id, 'listing.sold_out', jsonb_build_object(
        'id', NEW.id, 'seller_id', NEW.seller_id, 'service_name', NEW.service_name,
        'description', NEW.description, 'unit_description', NEW.unit_description,
        'price_cents', NEW.price_cents, 'currency', NEW.currency,
        'available_units', NEW.available_units, 'status', NEW.status,
        'api_key_hint', NEW.api_key_hint, 'created_at', NEW.created_at,
        'updated_at', NEW.updated_at, 'delivery', NEW.delivery,
        'requests_per_unit', NEW.requests_per_unit, 'meter', NEW.meter), NEW.updated_at);
    RETURN NULL;
END;
$$;
CREATE TRIGGER webhook_listing_sold_out AFTER UPDATE OF available_units ON listings
    FOR EACH ROW WHEN (NEW.available_units = 0 AND OLD.available_units > 0)
    EXECUTE FUNCTION webhook_listing_sold_out();

CREATE FUNCTION webhook_grant_revoked() RETURNS TRIGGER LANGUAGE plpgsql AS $$
DECLARE
    obj JSONB := jsonb_build_object('id', NEW.id, 'order_id', NEW.order_id,
        'buyer_id', NEW.buyer_id, 'listing_id', NEW.listing_id, 'seller_id', NEW.seller_id,
        'units', NEW.units, 'status', NEW.status, 'created_at', NEW.created_at,
        'revoked_at', NEW.revoked_at);
BEGIN
    PERFORM webhook_emit(NEW.seller_id, 'grant.revoked', obj, COALESCE(NEW.revoked_at, NEW.created_at));
    IF NEW.buyer_id <> NEW.seller_id THEN
        PERFORM webhook_emit(NEW.buyer_id, 'grant.revoked', obj, COALESCE(NEW.revoked_at, NEW.created_at));
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER webhook_grant_revoked AFTER UPDATE OF status ON grants
    FOR EACH ROW WHEN (NEW.status = 'revoked' AND OLD.status <> 'revoked')
    EXECUTE FUNCTION webhook_grant_revoked();

CREATE FUNCTION webhook_settlement_paid() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
    PERFORM webhook_emit(NEW.user_id, 'settlement.paid', jsonb_build_object(
        'id', NEW.id, 'currency', NEW.currency, 'amount_cents', NEW.amount_cents,
        'status', NEW.status, 'checkout_url', NEW.checkout_url,
        'created_at', NEW.created_at, 'updated_at', NEW.updated_at), NEW.updated_at);
    RETURN NULL;
END;
$$;
CREATE TRIGGER webhook_settlement_paid AFTER UPDATE OF status ON settlements
    FOR EACH ROW WHEN (NEW.status = 'paid' AND OLD.status <> 'paid')
    EXECUTE FUNCTION webhook_settlement_paid();
