//! `udam ledger verify`'s check of payout reversals (run after check 7): what came
//! back from a reversed transfer never exceeds what the payout sent, and a payout is
//! `reversed` exactly when all of it came back (a partial reversal leaves it `paid`).
//! It lives in the ledger, beside the other checks, so that the ledger needs nothing
//! from the payouts module (which builds on the ledger).

use sqlx::{AnyConnection, Row};

use super::Discrepancy;
use crate::ledger::vocab::{AccountKind, TransactionKind};
use crate::vocab::PayoutStatus;

/// Every payout whose reversal postings disagree with its amount or status.
pub(super) async fn check_reversals(
    conn: &mut AnyConnection,
) -> Result<Vec<Discrepancy>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT p.id, p.status, p.amount_cents, \
           -COALESCE((SELECT CAST(SUM(e.amount_cents) AS BIGINT) FROM journal_entries e \
             JOIN journal_transactions t ON t.reference = e.reference \
             WHERE t.kind = $1 AND t.subject_id = p.id AND e.account_kind = $2), 0) \
           AS reversed \
         FROM payouts p ORDER BY p.id",
    )
    .bind(TransactionKind::PayoutReversed)
    .bind(AccountKind::SellerPayable)
    .fetch_all(&mut *conn)
    .await?;
    let mut found = Vec::new();
    for row in &rows {
        let id: String = row.try_get("id")?;
        let status: PayoutStatus = row.try_get("status")?;
        let amount: i64 = row.try_get("amount_cents")?;
        let reversed: i64 = row.try_get("reversed")?;
        let problem = if reversed > amount {
            Some(format!(
                "payout of {amount} has {reversed} posted back as reversed"
            ))
        } else if status == PayoutStatus::Reversed && reversed != amount {
            Some(format!(
                "reversed payout of {amount} has only {reversed} posted back"
            ))
        } else if status != PayoutStatus::Reversed && reversed == amount && amount > 0 {
            Some(format!(
                "{status} payout of {amount} was posted back in full",
                status = status.as_str()
            ))
        } else if reversed > 0 && status != PayoutStatus::Paid && status != PayoutStatus::Reversed {
            Some(format!(
                "{} payout has {reversed} posted back as reversed",
                status.as_str()
            ))
        } else {
            None
        };
        if let Some(problem) = problem {
            found.push(Discrepancy {
                subject: id,
                problem,
            });
        }
    }
    Ok(found)
}
