-- The journal's references checked once per statement instead of once per entry
-- (issue 12: what the ledger costs on one hot listing; docs/BENCHMARKS.md).
--
-- A group-commit purchase posts the `instant_sale` of every order of its batch with
-- one statement: about 30 journal transactions and 60 entries while it holds the
-- listing's row lock. The two foreign keys of `journal_entries` ran as row triggers:
-- 120 lookups, each its own SPI query taking a `FOR KEY SHARE` row lock (a WAL record
-- per account row per transaction), about 2 ms of a batch's 10 ms of PostgreSQL CPU in
-- a profile. Here they become one statement trigger that reads the statement's new
-- entries as a transition table and checks all of them with one anti-join, refusing
-- the whole statement (and so its transaction) if any entry names a journal
-- transaction or an account that does not exist: the same rows are refused as before.
--
-- What the foreign keys also gave, that a referenced row can never disappear or change
-- its key while entries point at it, is kept by refusal: journal transactions were
-- append-only already (0003); accounts now are too (no code ever changed or removed
-- one). Existing rows satisfied the foreign keys, so nothing needs carrying forward.
-- SQLite keeps its foreign keys: it posts one transaction at a time, never a batch.

ALTER TABLE journal_entries DROP CONSTRAINT journal_entries_reference_fkey;
ALTER TABLE journal_entries DROP CONSTRAINT journal_entries_owner_id_account_kind_currency_fkey;

CREATE FUNCTION journal_entries_check_references() RETURNS TRIGGER LANGUAGE plpgsql AS $$
DECLARE
    orphan RECORD;
BEGIN
    SELECT n.reference, n.line, t.reference IS NULL AS no_transaction
      INTO orphan
      FROM new_entries n
      LEFT JOIN journal_transactions t ON t.reference = n.reference
      LEFT JOIN ledger_accounts a
        ON a.owner_id = n.owner_id AND a.kind = n.account_kind AND a.currency = n.currency
     WHERE t.reference IS NULL OR a.owner_id IS NULL
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'journal entry % line % refers to a missing %', orphan.reference,
            orphan.line,
            CASE WHEN orphan.no_transaction THEN 'journal transaction' ELSE 'ledger account' END
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER journal_entries_check_references AFTER INSERT ON journal_entries
    REFERENCING NEW TABLE AS new_entries
    FOR EACH STATEMENT EXECUTE FUNCTION journal_entries_check_references();

CREATE TRIGGER ledger_accounts_append_only
    BEFORE UPDATE OR DELETE ON ledger_accounts
    FOR EACH ROW EXECUTE FUNCTION journal_refuse_change();
CREATE TRIGGER ledger_accounts_no_truncate
    BEFORE TRUNCATE ON ledger_accounts
    FOR EACH STATEMENT EXECUTE FUNCTION journal_refuse_change();
