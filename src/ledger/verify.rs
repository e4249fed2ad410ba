//! `udam ledger verify`: recomputes every account from the journal and checks the
//! journal against itself and against the tables that describe the same money
//! (orders, grants, balances, settlements). Read-only; each check is one
//! set-based query, so it runs on a live database.
//!
//! What it checks:
//! 1. every journal transaction balances per currency, and every stored kind is
//!    one the enums know, and every reference is `kind:subject…`;
//! 2. no account holds a balance its kind forbids (a buyer owing less than
//!    nothing, pending earnings or refunds owed below zero), and the suspense
//!    account is empty;
//! 3. each buyer's receivable equals both the `balances` table and the sum of
//!    their orders still on deferred payment; each seller's pending account equals
//!    their share of those orders;
//! 4. every order that moved money has its sale (instant or paid), every sale
//!    matches its order's total and currency, and no unpaid order has one;
//! 5. refunds: an order marked refunded was refunded in full (or, never fulfilled,
//!    had its late payment returned), and a fully refunded order has no active grant;
//! 6. every paid settlement has its payment posted, for its amount, and not
//!    refunded; every refunded settlement has it posted and reversed in full.
//! 7. payouts ([`check_payouts`]): every payout's amount left its seller's payable
//!    when it was recorded and left the clearing account once it was sent, and
//!    nothing left a payable for a payout that does not exist.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use sqlx::Row;

use super::vocab::{AccountKind, TransactionKind};
use crate::db::Db;

/// One thing that does not add up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Discrepancy {
    /// What it is about (a reference, an order, an account).
    pub subject: String,
    /// What is wrong, in words.
    pub problem: String,
}

impl fmt::Display for Discrepancy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.subject, self.problem)
    }
}

/// What [`verify`] looked at and found.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Journal transactions read.
    pub transactions: i64,
    /// Accounts with entries.
    pub accounts: usize,
    /// Everything that does not add up; empty when the ledger is clean.
    pub discrepancies: Vec<Discrepancy>,
}

impl Report {
    fn flag(&mut self, subject: impl Into<String>, problem: impl Into<String>) {
        self.discrepancies.push(Discrepancy {
            subject: subject.into(),
            problem: problem.into(),
        });
    }
}

/// (owner, currency) → amount.
type PerOwner = BTreeMap<(String, String), i64>;

/// Runs every check and returns what it found.
pub async fn verify(db: &Db) -> Result<Report, sqlx::Error> {
    let mut report = Report {
        transactions: sqlx::query("SELECT COUNT(*) FROM journal_transactions")
            .fetch_one(db.pool())
            .await?
            .try_get(0)?,
        ..Report::default()
    };
    check_journal(db, &mut report).await?;
    let accounts = check_accounts(db, &mut report).await?;
    check_receivables(db, &mut report, &accounts).await?;
    check_orders(db, &mut report).await?;
    check_refunds(db, &mut report).await?;
    check_settlements(db, &mut report).await?;
    check_payouts(db, &mut report).await?;
    report
        .discrepancies
        .extend(crate::payouts::verify::check_reversals(db).await?);
    Ok(report)
}

/// Check 1: balance per transaction and currency, known kinds, well-formed references.
async fn check_journal(db: &Db, report: &mut Report) -> Result<(), sqlx::Error> {
    let unbalanced = sqlx::query(
        "SELECT reference, currency, CAST(SUM(amount_cents) AS BIGINT) FROM journal_entries \
         GROUP BY reference, currency HAVING CAST(SUM(amount_cents) AS BIGINT) <> 0 ORDER BY reference",
    )
    .fetch_all(db.pool())
    .await?;
    for row in &unbalanced {
        let (reference, currency, off): (String, String, i64) =
            (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
        report.flag(
            reference,
            format!("does not balance in {currency}: debits exceed credits by {off}"),
        );
    }
    let kinds = sqlx::query("SELECT DISTINCT kind FROM journal_transactions")
        .fetch_all(db.pool())
        .await?;
    for row in &kinds {
        let kind: String = row.try_get(0)?;
        if TransactionKind::parse(&kind).is_none() {
            report.flag(format!("kind {kind}"), "unknown journal transaction kind");
        }
    }
    let misnamed = sqlx::query(
        "SELECT reference FROM journal_transactions \
         WHERE substr(reference, 1, length(kind) + 1 + length(subject_id)) \
               <> kind || ':' || subject_id \
         ORDER BY reference",
    )
    .fetch_all(db.pool())
    .await?;
    for row in &misnamed {
        let reference: String = row.try_get(0)?;
        report.flag(reference, "reference does not name its kind and subject");
    }
    Ok(())
}

/// Check 2: every account recomputed from its entries; forbidden balances flagged.
/// Returns the recomputed balances (natural sign) by kind.
async fn check_accounts(
    db: &Db,
    report: &mut Report,
) -> Result<BTreeMap<AccountKind, PerOwner>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT owner_id, account_kind, currency, CAST(SUM(amount_cents) AS BIGINT) FROM journal_entries \
         GROUP BY owner_id, account_kind, currency",
    )
    .fetch_all(db.pool())
    .await?;
    report.accounts = rows.len();
    let mut by_kind: BTreeMap<AccountKind, PerOwner> = BTreeMap::new();
    for row in &rows {
        let (owner, kind_name, currency, sum): (String, String, String, i64) = (
            row.try_get(0)?,
            row.try_get(1)?,
            row.try_get(2)?,
            row.try_get(3)?,
        );
        let Some(kind) = AccountKind::parse(&kind_name) else {
            report.flag(
                format!("{owner}/{kind_name}/{currency}"),
                "unknown account kind",
            );
            continue;
        };
        let balance = kind.natural_balance(sum);
        let subject = format!("{owner}/{kind}/{currency}");
        match kind {
            AccountKind::Suspense if balance != 0 => report.flag(
                subject,
                format!("suspense holds {balance}: money nobody can account for"),
            ),
            AccountKind::BuyerReceivable
            | AccountKind::SellerPending
            | AccountKind::RefundsPayable
            | AccountKind::PlatformFees
            | AccountKind::ProviderClearing
                if balance < 0 =>
            {
                report.flag(subject, format!("balance {balance} is below zero"));
            }
            _ => {}
        }
        by_kind
            .entry(kind)
            .or_default()
            .insert((owner, currency), balance);
    }
    Ok(by_kind)
}

async fn per_owner(db: &Db, sql: &'static str) -> Result<PerOwner, sqlx::Error> {
    let rows = sqlx::query(sql).fetch_all(db.pool()).await?;
    rows.iter()
        .map(|r| Ok(((r.try_get(0)?, r.try_get(1)?), r.try_get(2)?)))
        .collect()
}

/// Flags every (owner, currency) where `ledger` and `other` disagree (absent = 0).
fn compare(report: &mut Report, what: &str, ledger: &PerOwner, other: &PerOwner, source: &str) {
    let keys: BTreeSet<&(String, String)> = ledger.keys().chain(other.keys()).collect();
    for key in keys {
        let (a, b) = (
            ledger.get(key).copied().unwrap_or(0),
            other.get(key).copied().unwrap_or(0),
        );
        if a != b {
            report.flag(
                format!("{}/{what}/{}", key.0, key.1),
                format!("the journal says {a}, {source} says {b}"),
            );
        }
    }
}

/// Check 3: receivables against `balances` and deferred orders; pending earnings
/// against the sellers' shares of those orders.
async fn check_receivables(
    db: &Db,
    report: &mut Report,
    accounts: &BTreeMap<AccountKind, PerOwner>,
) -> Result<(), sqlx::Error> {
    let empty = PerOwner::new();
    let receivable = accounts
        .get(&AccountKind::BuyerReceivable)
        .unwrap_or(&empty);
    let table = per_owner(
        db,
        "SELECT user_id, currency, owed_cents FROM balances WHERE owed_cents <> 0",
    )
    .await?;
    compare(
        report,
        "buyer_receivable",
        receivable,
        &table,
        "the balances table",
    );
    let deferred = per_owner(
        db,
        "SELECT buyer_id, currency, CAST(SUM(total_cents) AS BIGINT) FROM orders \
         WHERE payment_status = 'deferred' GROUP BY buyer_id, currency \
         HAVING CAST(SUM(total_cents) AS BIGINT) <> 0",
    )
    .await?;
    compare(
        report,
        "buyer_receivable",
        receivable,
        &deferred,
        "deferred orders",
    );
    let pending = accounts.get(&AccountKind::SellerPending).unwrap_or(&empty);
    let shares = per_owner(
        db,
        "SELECT e.owner_id, e.currency, -CAST(SUM(e.amount_cents) AS BIGINT) FROM journal_entries e \
         JOIN journal_transactions t ON t.reference = e.reference \
         JOIN orders o ON o.id = t.subject_id \
         WHERE t.kind = 'instant_sale' AND e.account_kind = 'seller_pending' \
           AND o.payment_status = 'deferred' \
         GROUP BY e.owner_id, e.currency",
    )
    .await?;
    let pending: PerOwner = pending
        .iter()
        .filter(|(_, v)| **v != 0)
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    compare(
        report,
        "seller_pending",
        &pending,
        &shares,
        "sellers' shares of deferred orders",
    );
    Ok(())
}

/// Check 4: orders that moved money have their sale, and sales match their orders.
async fn check_orders(db: &Db, report: &mut Report) -> Result<(), sqlx::Error> {
    let missing = sqlx::query(
        "SELECT o.id, 'instant_sale' FROM orders o \
         WHERE o.provider IS NULL AND o.payment_status IN ('deferred', 'paid') \
           AND NOT EXISTS (SELECT 1 FROM journal_transactions t \
                           WHERE t.reference = 'instant_sale:' || o.id) \
         UNION ALL \
         SELECT o.id, 'paid_sale' FROM orders o \
         WHERE o.provider IS NOT NULL \
           AND (o.payment_status = 'paid' OR (o.payment_status = 'refunded' \
                AND EXISTS (SELECT 1 FROM grants g WHERE g.order_id = o.id))) \
           AND NOT EXISTS (SELECT 1 FROM journal_transactions t \
                           WHERE t.reference = 'paid_sale:' || o.id)",
    )
    .fetch_all(db.pool())
    .await?;
    for row in &missing {
        let (order, kind): (String, String) = (row.try_get(0)?, row.try_get(1)?);
        report.flag(
            order,
            format!("moved money but has no {kind} in the journal"),
        );
    }
    let sales = sqlx::query(
        "SELECT t.reference, o.id, o.total_cents, o.currency, o.payment_status, \
                COALESCE(CAST(SUM(CASE WHEN e.amount_cents > 0 THEN e.amount_cents ELSE 0 END) AS BIGINT), 0), \
                COALESCE(CAST(SUM(CASE WHEN e.currency <> o.currency THEN 1 ELSE 0 END) AS BIGINT), 0) \
         FROM journal_transactions t \
         LEFT JOIN orders o ON o.id = t.subject_id \
         LEFT JOIN journal_entries e ON e.reference = t.reference \
         WHERE t.kind IN ('instant_sale', 'paid_sale') \
         GROUP BY t.reference, o.id, o.total_cents, o.currency, o.payment_status \
         ORDER BY t.reference",
    )
    .fetch_all(db.pool())
    .await?;
    for row in &sales {
        let reference: String = row.try_get(0)?;
        let order: Option<String> = row.try_get(1)?;
        if order.is_none() {
            report.flag(reference, "records a sale of an order that does not exist");
            continue;
        }
        let total: i64 = row.try_get(2)?;
        let currency: String = row.try_get(3)?;
        let payment_status: String = row.try_get(4)?;
        let posted: i64 = row.try_get(5)?;
        let foreign: i64 = row.try_get(6)?;
        if posted != total {
            report.flag(
                reference.clone(),
                format!("posts {posted} but the order's total is {total}"),
            );
        }
        if foreign > 0 {
            report.flag(
                reference.clone(),
                format!("has entries in a currency other than the order's {currency}"),
            );
        }
        if payment_status == "unpaid" {
            report.flag(reference, "records a sale of an order that was never paid");
        }
    }
    Ok(())
}

/// Check 5: refunds against order states and grants.
async fn check_refunds(db: &Db, report: &mut Report) -> Result<(), sqlx::Error> {
    let rows = sqlx::query(
        "SELECT o.id, o.total_cents, o.payment_status, \
           COALESCE((SELECT -CAST(SUM(e.amount_cents) AS BIGINT) FROM journal_entries e \
             JOIN journal_transactions t ON t.reference = e.reference \
             WHERE t.subject_id = o.id AND t.kind = 'refund' \
               AND e.account_kind = 'provider_clearing'), 0), \
           (SELECT COUNT(*) FROM grants g WHERE g.order_id = o.id AND g.status = 'active'), \
           (SELECT COUNT(*) FROM grants g WHERE g.order_id = o.id), \
           (SELECT COUNT(*) FROM journal_transactions t WHERE t.subject_id = o.id \
              AND t.kind IN ('unapplied_payment', 'payment_returned')) \
         FROM orders o WHERE o.payment_status = 'refunded' \
           OR EXISTS (SELECT 1 FROM journal_transactions t \
                      WHERE t.subject_id = o.id AND t.kind = 'refund') \
         ORDER BY o.id",
    )
    .fetch_all(db.pool())
    .await?;
    for row in &rows {
        let order: String = row.try_get(0)?;
        let total: i64 = row.try_get(1)?;
        let payment_status: String = row.try_get(2)?;
        let refunded: i64 = row.try_get(3)?;
        let active_grants: i64 = row.try_get(4)?;
        let grants: i64 = row.try_get(5)?;
        let returned: i64 = row.try_get(6)?;
        let marked = payment_status == "refunded";
        if marked && grants == 0 {
            // A late payment for released units: received and handed back.
            if returned != 2 {
                report.flag(
                    order,
                    "refunded late payment lacks its unapplied_payment and payment_returned",
                );
            }
            continue;
        }
        if refunded > total {
            report.flag(
                order.clone(),
                format!("refunded {refunded} of a total of {total}"),
            );
        }
        if marked && refunded != total {
            report.flag(
                order.clone(),
                format!("marked refunded but the journal refunds {refunded} of {total}"),
            );
        }
        if refunded == total && total > 0 && !marked {
            report.flag(order.clone(), "refunded in full but not marked refunded");
        }
        if refunded == total && active_grants > 0 {
            report.flag(order, "refunded in full but its grant is still active");
        }
    }
    Ok(())
}

/// Check 6: paid and refunded settlements, their posted payment and its refund.
/// `paid`: the payment is posted for the amount, and not refunded. `refunded`: the
/// payment is posted for the amount and reversed in full. Any other status: neither.
async fn check_settlements(db: &Db, report: &mut Report) -> Result<(), sqlx::Error> {
    let rows = sqlx::query(
        "SELECT s.id, s.status, s.amount_cents, t.reference, \
           COALESCE((SELECT CAST(SUM(e.amount_cents) AS BIGINT) FROM journal_entries e \
             WHERE e.reference = t.reference AND e.account_kind = 'provider_clearing'), 0), \
           r.reference \
         FROM settlements s \
         LEFT JOIN journal_transactions t ON t.reference = 'settlement_paid:' || s.id \
         LEFT JOIN journal_transactions r ON r.reference = 'settlement_refund:' || s.id || ':full' \
         WHERE s.status IN ('paid', 'refunded') OR t.reference IS NOT NULL \
           OR r.reference IS NOT NULL ORDER BY s.id",
    )
    .fetch_all(db.pool())
    .await?;
    for row in &rows {
        let id: String = row.try_get(0)?;
        let status: String = row.try_get(1)?;
        let amount: i64 = row.try_get(2)?;
        let payment: Option<String> = row.try_get(3)?;
        let received: i64 = row.try_get(4)?;
        let refund: Option<String> = row.try_get(5)?;
        let paid_or_refunded = ["paid", "refunded"].contains(&status.as_str());
        match (status.as_str(), payment.is_some(), refund.is_some()) {
            (_, false, _) if paid_or_refunded => {
                report.flag(
                    id,
                    format!("{status} but its payment is not in the journal"),
                );
            }
            (_, true, _) if paid_or_refunded && received != amount => report.flag(
                id,
                format!("charged {amount} but the journal received {received}"),
            ),
            ("paid", true, true) => {
                report.flag(id, "paid but the journal refunds its payment in full");
            }
            ("refunded", true, false) => {
                report.flag(
                    id,
                    "refunded but the journal records no refund of its payment",
                );
            }
            ("paid" | "refunded", true, _) => {}
            (other, true, _) => report.flag(
                id,
                format!("is {other} but the journal records its payment"),
            ),
            (other, false, true) => report.flag(
                id,
                format!("is {other} but the journal refunds a payment it never recorded"),
            ),
            (_, false, false) => {}
        }
    }
    Ok(())
}

/// Check 7: each payout against its postings. A pending payout has its
/// `payout_initiated` (the amount out of the payable) and no `payout_sent`; a paid one
/// has both, for its amount; and every `payout_initiated` belongs to a payout row.
async fn check_payouts(db: &Db, report: &mut Report) -> Result<(), sqlx::Error> {
    let rows = sqlx::query(
        "SELECT p.id, p.status, p.amount_cents, \
           COALESCE((SELECT CAST(SUM(e.amount_cents) AS BIGINT) FROM journal_entries e \
             WHERE e.reference = 'payout_initiated:' || p.id \
               AND e.account_kind = 'seller_payable'), 0), \
           COALESCE((SELECT CAST(SUM(e.amount_cents) AS BIGINT) FROM journal_entries e \
             WHERE e.reference = 'payout_sent:' || p.id \
               AND e.account_kind = 'payouts_in_transit'), 0) \
         FROM payouts p ORDER BY p.id",
    )
    .fetch_all(db.pool())
    .await?;
    for row in &rows {
        let id: String = row.try_get(0)?;
        let status: String = row.try_get(1)?;
        let amount: i64 = row.try_get(2)?;
        let initiated: i64 = row.try_get(3)?;
        let sent: i64 = row.try_get(4)?;
        let expected_sent = match status.as_str() {
            "pending" => 0,
            "paid" | "reversed" => amount,
            _ => continue,
        };
        if initiated != amount {
            report.flag(
                &id,
                format!("payout of {amount} took {initiated} out of the seller's payable"),
            );
        }
        if sent != expected_sent {
            report.flag(
                &id,
                format!("{status} payout of {amount} has {sent} posted as sent"),
            );
        }
    }
    let orphans = sqlx::query(
        "SELECT t.reference FROM journal_transactions t \
         WHERE t.kind = 'payout_initiated' \
           AND NOT EXISTS (SELECT 1 FROM payouts p WHERE p.id = t.subject_id) \
         ORDER BY t.reference",
    )
    .fetch_all(db.pool())
    .await?;
    for row in &orphans {
        let reference: String = row.try_get(0)?;
        report.flag(reference, "a payout posting without its payout");
    }
    Ok(())
}
