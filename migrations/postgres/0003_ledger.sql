-- The double-entry ledger (docs/LEDGER.md), PostgreSQL flavour. The SQLite migration
-- beside this one holds the same tables, the same backfill and the same refusals.
--
-- Amounts are signed integer minor units: a debit is positive, a credit negative, so a
-- journal transaction balances when its entries sum to zero per currency and an
-- account's balance is one SUM.

-- One account per (owner, kind, currency). The owner is a user id, or `platform` /
-- a provider name (`stripe`, `dev`) for the marketplace's own accounts. The kinds are
-- the `AccountKind` enum (src/ledger/vocab.rs); no CHECK here, to keep the two backends
-- alike (SQLite cannot alter a CHECK when payouts add kinds), and `udam ledger verify`
-- reports any kind the enum does not know.
CREATE TABLE ledger_accounts (
    owner_id   TEXT NOT NULL,
    kind       TEXT NOT NULL,
    currency   TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (owner_id, kind, currency)
);

-- One row per money event. The reference is the idempotency key and the identity
-- (`instant_sale:ord_…`): posting the same event twice finds it taken and writes nothing.
CREATE TABLE journal_transactions (
    reference  TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX journal_transactions_subject ON journal_transactions(subject_id);

CREATE TABLE journal_entries (
    reference    TEXT NOT NULL REFERENCES journal_transactions(reference),
    line         BIGINT NOT NULL,
    owner_id     TEXT NOT NULL,
    account_kind TEXT NOT NULL,
    currency     TEXT NOT NULL,
    amount_cents BIGINT NOT NULL CHECK (amount_cents <> 0),
    PRIMARY KEY (reference, line),
    FOREIGN KEY (owner_id, account_kind, currency)
        REFERENCES ledger_accounts(owner_id, kind, currency)
);
CREATE INDEX journal_entries_account ON journal_entries(owner_id, account_kind, currency);

-- Backfill: every order and settlement that moved money before the ledger gets the
-- journal transaction it would have had. There was no platform fee then, so each sale
-- goes wholly to its seller. Rows are staged first so that accounts, transactions and
-- entries are each inserted once, in foreign-key order.
CREATE TEMP TABLE ledger_backfill (
    reference    TEXT NOT NULL,
    kind         TEXT NOT NULL,
    subject_id   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    line         BIGINT NOT NULL,
    owner_id     TEXT NOT NULL,
    account_kind TEXT NOT NULL,
    currency     TEXT NOT NULL,
    amount_cents BIGINT NOT NULL
);

-- Instant orders (no provider): fulfilled at once, owed by the buyer, pending for the
-- seller. Those a settlement paid since are included; the settlement moves them on.
INSERT INTO ledger_backfill
SELECT 'instant_sale:' || o.id, 'instant_sale', o.id, o.created_at, l.line,
       CASE l.line WHEN 0 THEN o.buyer_id ELSE o.seller_id END,
       CASE l.line WHEN 0 THEN 'buyer_receivable' ELSE 'seller_pending' END,
       o.currency,
       CASE l.line WHEN 0 THEN o.total_cents ELSE -o.total_cents END
FROM orders o CROSS JOIN (SELECT 0 AS line UNION ALL SELECT 1) l
WHERE o.provider IS NULL AND o.payment_status IN ('deferred', 'paid');

-- Orders paid through a checkout, including those refunded after fulfilment (they
-- have a grant; a late payment refunded at once never had one).
INSERT INTO ledger_backfill
SELECT 'paid_sale:' || o.id, 'paid_sale', o.id, o.updated_at, l.line,
       CASE l.line WHEN 0 THEN o.provider ELSE o.seller_id END,
       CASE l.line WHEN 0 THEN 'provider_clearing' ELSE 'seller_payable' END,
       o.currency,
       CASE l.line WHEN 0 THEN o.total_cents ELSE -o.total_cents END
FROM orders o CROSS JOIN (SELECT 0 AS line UNION ALL SELECT 1) l
WHERE o.provider IS NOT NULL
  AND (o.payment_status = 'paid'
       OR (o.payment_status = 'refunded' AND EXISTS (SELECT 1 FROM grants g WHERE g.order_id = o.id)));

-- Their full refunds (the only refunds there were).
INSERT INTO ledger_backfill
SELECT 'refund:' || o.id || ':before_ledger', 'refund', o.id, o.updated_at, l.line,
       CASE l.line WHEN 0 THEN o.seller_id ELSE o.provider END,
       CASE l.line WHEN 0 THEN 'seller_payable' ELSE 'provider_clearing' END,
       o.currency,
       CASE l.line WHEN 0 THEN o.total_cents ELSE -o.total_cents END
FROM orders o CROSS JOIN (SELECT 0 AS line UNION ALL SELECT 1) l
WHERE o.provider IS NOT NULL AND o.payment_status = 'refunded'
  AND EXISTS (SELECT 1 FROM grants g WHERE g.order_id = o.id);

-- Late payments for units already gone: received, owed back, and returned.
INSERT INTO ledger_backfill
SELECT 'unapplied_payment:' || o.id, 'unapplied_payment', o.id, o.updated_at, l.line,
       CASE l.line WHEN 0 THEN o.provider ELSE o.buyer_id END,
       CASE l.line WHEN 0 THEN 'provider_clearing' ELSE 'refunds_payable' END,
       o.currency,
       CASE l.line WHEN 0 THEN o.total_cents ELSE -o.total_cents END
FROM orders o CROSS JOIN (SELECT 0 AS line UNION ALL SELECT 1) l
WHERE o.provider IS NOT NULL AND o.payment_status = 'refunded'
  AND NOT EXISTS (SELECT 1 FROM grants g WHERE g.order_id = o.id);

INSERT INTO ledger_backfill
SELECT 'payment_returned:' || o.id, 'payment_returned', o.id, o.updated_at, l.line,
       CASE l.line WHEN 0 THEN o.buyer_id ELSE o.provider END,
       CASE l.line WHEN 0 THEN 'refunds_payable' ELSE 'provider_clearing' END,
       o.currency,
       CASE l.line WHEN 0 THEN o.total_cents ELSE -o.total_cents END
FROM orders o CROSS JOIN (SELECT 0 AS line UNION ALL SELECT 1) l
WHERE o.provider IS NOT NULL AND o.payment_status = 'refunded'
  AND NOT EXISTS (SELECT 1 FROM grants g WHERE g.order_id = o.id);

-- Paid settlements: the amount received enters the provider's clearing account, the
-- orders it marked paid leave the buyer's receivable, and each seller's share moves
-- from pending to payable. Received and marked can differ (issue 12's settlement
-- races); the difference goes to the platform's suspense account, which
-- `udam ledger verify` reports until someone clears it.
CREATE TEMP TABLE ledger_backfill_settled AS
SELECT s.id AS settlement_id, s.user_id, s.currency, s.amount_cents, s.updated_at,
       CASE WHEN s.provider_session_id IS NULL OR substr(s.provider_session_id, 1, 4) = 'dev_'
            THEN 'dev' ELSE 'stripe' END AS provider,
       COALESCE((SELECT SUM(o.total_cents) FROM orders o
                 WHERE o.settlement_id = s.id AND o.provider IS NULL
                   AND o.payment_status = 'paid'), 0) AS applied
FROM settlements s WHERE s.status = 'paid';

INSERT INTO ledger_backfill
SELECT 'settlement_paid:' || settlement_id, 'settlement_paid', settlement_id, updated_at, 0,
       provider, 'provider_clearing', currency, amount_cents
FROM ledger_backfill_settled;

INSERT INTO ledger_backfill
SELECT 'settlement_paid:' || settlement_id, 'settlement_paid', settlement_id, updated_at, 1,
       user_id, 'buyer_receivable', currency, -applied
FROM ledger_backfill_settled;

INSERT INTO ledger_backfill
SELECT 'settlement_paid:' || settlement_id, 'settlement_paid', settlement_id, updated_at, 2,
       'platform', 'suspense', currency, applied - amount_cents
FROM ledger_backfill_settled;

INSERT INTO ledger_backfill
SELECT 'settlement_paid:' || x.settlement_id, 'settlement_paid', x.settlement_id, x.updated_at,
       1 + 2 * x.seller_rank + l.line, x.seller_id,
       CASE l.line WHEN 0 THEN 'seller_pending' ELSE 'seller_payable' END,
       x.currency,
       CASE l.line WHEN 0 THEN x.share ELSE -x.share END
FROM (SELECT st.settlement_id, st.updated_at, st.currency, o.seller_id,
             SUM(o.total_cents) AS share,
             ROW_NUMBER() OVER (PARTITION BY st.settlement_id ORDER BY o.seller_id) AS seller_rank
      FROM ledger_backfill_settled st
      JOIN orders o ON o.settlement_id = st.settlement_id AND o.provider IS NULL
                   AND o.payment_status = 'paid'
      GROUP BY st.settlement_id, st.updated_at, st.currency, o.seller_id) x
CROSS JOIN (SELECT 0 AS line UNION ALL SELECT 1) l;

INSERT INTO ledger_accounts (owner_id, kind, currency, created_at)
SELECT owner_id, account_kind, currency, MIN(created_at)
FROM ledger_backfill WHERE amount_cents <> 0
GROUP BY owner_id, account_kind, currency;

INSERT INTO journal_transactions (reference, kind, subject_id, created_at)
SELECT reference, kind, subject_id, MIN(created_at)
FROM ledger_backfill
GROUP BY reference, kind, subject_id;

INSERT INTO journal_entries (reference, line, owner_id, account_kind, currency, amount_cents)
SELECT reference, line, owner_id, account_kind, currency, amount_cents
FROM ledger_backfill WHERE amount_cents <> 0;

DROP TABLE ledger_backfill_settled;
DROP TABLE ledger_backfill;

-- Append-only: a journal row, once written, is never changed or removed. A mistake is
-- corrected by a further transaction, as on paper.
CREATE FUNCTION journal_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the journal is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'integrity_constraint_violation';
END
$$;
CREATE TRIGGER journal_transactions_append_only
    BEFORE UPDATE OR DELETE ON journal_transactions
    FOR EACH ROW EXECUTE FUNCTION journal_refuse_change();
CREATE TRIGGER journal_transactions_no_truncate
    BEFORE TRUNCATE ON journal_transactions
    FOR EACH STATEMENT EXECUTE FUNCTION journal_refuse_change();
CREATE TRIGGER journal_entries_append_only
    BEFORE UPDATE OR DELETE ON journal_entries
    FOR EACH ROW EXECUTE FUNCTION journal_refuse_change();
CREATE TRIGGER journal_entries_no_truncate
    BEFORE TRUNCATE ON journal_entries
    FOR EACH STATEMENT EXECUTE FUNCTION journal_refuse_change();
