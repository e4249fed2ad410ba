-- A settlement whose payment was refunded in full is now `refunded` (before this
-- status it stayed `paid`, the journal alone recording the refund). Carried
-- forward from the journal: the settlements whose payment it reverses in full.
UPDATE settlements SET status = 'refunded'
WHERE status = 'paid'
  AND EXISTS (
    SELECT 1 FROM journal_transactions t
    WHERE t.reference = 'settlement_refund:' || settlements.id || ':full'
  );
