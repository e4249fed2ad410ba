//! Checks 4 to 7 of `udam ledger verify`: the rows that describe money (orders,
//! grants, settlements, payouts) against the journal transactions that record it.
//!
//! A transaction's reference is `kind:subject…`, so each query finds the posting of
//! a row by building its reference from the bound kind and the row's id.

use sqlx::AnyConnection;

use super::Report;
use crate::ledger::vocab::{AccountKind, TransactionKind};
use crate::vocab::{GrantStatus, PaymentStatus, PayoutStatus, SettlementStatus};

/// Check 4: orders that moved money have their sale, sales match their orders, and
/// orders and grants name rows that exist.
pub(super) async fn check_orders(
    conn: &mut AnyConnection,
    report: &mut Report,
) -> Result<(), sqlx::Error> {
    let instant: Vec<String> = sqlx::query_scalar(
        "SELECT o.id FROM orders o \
         WHERE o.provider IS NULL AND o.payment_status IN ($1, $2) \
           AND o.sale_reference IS NULL \
           AND NOT EXISTS (SELECT 1 FROM journal_transactions t \
                           WHERE t.reference = $3 || ':' || o.id) \
         ORDER BY o.id",
    )
    .bind(PaymentStatus::Deferred)
    .bind(PaymentStatus::Paid)
    .bind(TransactionKind::InstantSale)
    .fetch_all(&mut *conn)
    .await?;
    let paid: Vec<String> = sqlx::query_scalar(
        "SELECT o.id FROM orders o \
         WHERE o.provider IS NOT NULL \
           AND (o.payment_status = $1 OR (o.payment_status = $2 \
                AND EXISTS (SELECT 1 FROM grants g WHERE g.order_id = o.id))) \
           AND NOT EXISTS (SELECT 1 FROM journal_transactions t \
                           WHERE t.reference = $3 || ':' || o.id) \
         ORDER BY o.id",
    )
    .bind(PaymentStatus::Paid)
    .bind(PaymentStatus::Refunded)
    .bind(TransactionKind::PaidSale)
    .fetch_all(&mut *conn)
    .await?;
    let missing = (instant
        .into_iter()
        .map(|o| (o, TransactionKind::InstantSale)))
    .chain(paid.into_iter().map(|o| (o, TransactionKind::PaidSale)));
    for (order, kind) in missing {
        report.flag(
            order,
            format!("moved money but has no {kind} in the journal"),
        );
    }
    // On PostgreSQL statement triggers (migration 0019), on SQLite foreign keys,
    // refuse such rows when they are written; this is the net under both.
    let unanchored: Vec<String> = sqlx::query_scalar(
        "SELECT o.id FROM orders o \
         WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = o.buyer_id) \
            OR NOT EXISTS (SELECT 1 FROM listings l WHERE l.id = o.listing_id) \
         UNION ALL \
         SELECT g.id FROM grants g \
         WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.id = g.order_id) \
         ORDER BY 1",
    )
    .fetch_all(&mut *conn)
    .await?;
    for id in unanchored {
        report.flag(id, "names a buyer, listing or order that does not exist");
    }
    check_sales(conn, report).await?;
    // An order naming a combined statement's sale is checked there (and flagged
    // there when that transaction is missing).
    super::batch_sales::check_batch_sales(conn, report).await
}

/// A posted sale beside its order (whose columns are NULL when it does not exist).
#[derive(sqlx::FromRow)]
struct SaleRow {
    reference: String,
    order_id: Option<String>,
    total_cents: Option<i64>,
    currency: Option<String>,
    payment_status: Option<String>,
    posted_cents: i64,
    foreign_entries: i64,
    /// Seller lines owned by someone other than the order's seller, and buyer lines
    /// by someone other than its buyer.
    misattributed: i64,
}

/// Check 4, second half: every sale against its order's total, currency and status.
async fn check_sales(conn: &mut AnyConnection, report: &mut Report) -> Result<(), sqlx::Error> {
    let sales: Vec<SaleRow> = sqlx::query_as(
        "SELECT t.reference, o.id AS order_id, o.total_cents, o.currency, o.payment_status, \
                COALESCE(CAST(SUM(CASE WHEN e.amount_cents > 0 THEN e.amount_cents ELSE 0 END) \
                    AS BIGINT), 0) AS posted_cents, \
                COALESCE(CAST(SUM(CASE WHEN e.currency <> o.currency THEN 1 ELSE 0 END) \
                    AS BIGINT), 0) AS foreign_entries, \
                COALESCE(CAST(SUM(CASE \
                    WHEN e.account_kind IN ($3, $4) AND e.owner_id <> o.seller_id THEN 1 \
                    WHEN e.account_kind = $5 AND e.owner_id <> o.buyer_id THEN 1 \
                    ELSE 0 END) AS BIGINT), 0) AS misattributed \
         FROM journal_transactions t \
         LEFT JOIN orders o ON o.id = t.subject_id \
         LEFT JOIN journal_entries e ON e.reference = t.reference \
         WHERE t.kind IN ($1, $2) \
         GROUP BY t.reference, o.id, o.total_cents, o.currency, o.payment_status \
         ORDER BY t.reference",
    )
    .bind(TransactionKind::InstantSale)
    .bind(TransactionKind::PaidSale)
    .bind(AccountKind::SellerPending)
    .bind(AccountKind::SellerPayable)
    .bind(AccountKind::BuyerReceivable)
    .fetch_all(&mut *conn)
    .await?;
    for sale in sales {
        let (Some(_), Some(total), Some(currency), Some(status)) = (
            sale.order_id,
            sale.total_cents,
            sale.currency,
            sale.payment_status,
        ) else {
            report.flag(
                sale.reference,
                "records a sale of an order that does not exist",
            );
            continue;
        };
        if sale.posted_cents != total {
            report.flag(
                &sale.reference,
                format!(
                    "posts {} but the order's total is {total}",
                    sale.posted_cents
                ),
            );
        }
        if sale.misattributed > 0 {
            report.flag(
                &sale.reference,
                "has a seller's or buyer's line in the name of someone other than the order's",
            );
        }
        if sale.foreign_entries > 0 {
            report.flag(
                &sale.reference,
                format!("has entries in a currency other than the order's {currency}"),
            );
        }
        let status = report.word::<PaymentStatus>(&sale.reference, "payment status", &status);
        if status == Some(PaymentStatus::Unpaid) {
            report.flag(
                sale.reference,
                "records a sale of an order that was never paid",
            );
        }
    }
    Ok(())
}

/// An order with a refund posted or marked refunded, and what the journal and the
/// grants say about it.
#[derive(sqlx::FromRow)]
struct RefundRow {
    order_id: String,
    total_cents: i64,
    payment_status: String,
    refunded_cents: i64,
    active_grants: i64,
    grants: i64,
    returned: i64,
}

/// Check 5: refunds against order states and grants.
pub(super) async fn check_refunds(
    conn: &mut AnyConnection,
    report: &mut Report,
) -> Result<(), sqlx::Error> {
    let rows: Vec<RefundRow> = sqlx::query_as(
        "SELECT o.id AS order_id, o.total_cents, o.payment_status, \
           COALESCE((SELECT -CAST(SUM(e.amount_cents) AS BIGINT) FROM journal_entries e \
             JOIN journal_transactions t ON t.reference = e.reference \
             WHERE t.subject_id = o.id AND t.kind = $1 \
               AND e.account_kind = $2), 0) AS refunded_cents, \
           (SELECT COUNT(*) FROM grants g WHERE g.order_id = o.id AND g.status = $3) \
             AS active_grants, \
           (SELECT COUNT(*) FROM grants g WHERE g.order_id = o.id) AS grants, \
           (SELECT COUNT(*) FROM journal_transactions t WHERE t.subject_id = o.id \
              AND t.kind IN ($4, $5)) AS returned \
         FROM orders o WHERE o.payment_status = $6 \
           OR EXISTS (SELECT 1 FROM journal_transactions t \
                      WHERE t.subject_id = o.id AND t.kind = $1) \
         ORDER BY o.id",
    )
    .bind(TransactionKind::Refund)
    .bind(AccountKind::ProviderClearing)
    .bind(GrantStatus::Active)
    .bind(TransactionKind::UnappliedPayment)
    .bind(TransactionKind::PaymentReturned)
    .bind(PaymentStatus::Refunded)
    .fetch_all(&mut *conn)
    .await?;
    for row in rows {
        let order = row.order_id;
        let (total, refunded) = (row.total_cents, row.refunded_cents);
        let Some(status) =
            report.word::<PaymentStatus>(&order, "payment status", &row.payment_status)
        else {
            continue;
        };
        let marked = status == PaymentStatus::Refunded;
        if marked && row.grants == 0 {
            // A late payment for released units: received and handed back.
            if row.returned != 2 {
                report.flag(
                    order,
                    format!(
                        "refunded late payment lacks its {} and {}",
                        TransactionKind::UnappliedPayment,
                        TransactionKind::PaymentReturned
                    ),
                );
            }
            continue;
        }
        if refunded > total {
            report.flag(&order, format!("refunded {refunded} of a total of {total}"));
        }
        if marked && refunded != total {
            report.flag(
                &order,
                format!("marked refunded but the journal refunds {refunded} of {total}"),
            );
        }
        if refunded == total && total > 0 && !marked {
            report.flag(&order, "refunded in full but not marked refunded");
        }
        if refunded == total && row.active_grants > 0 {
            report.flag(order, "refunded in full but its grant is still active");
        }
    }
    Ok(())
}

/// A settlement beside its payment's and its full refund's references (NULL when
/// not posted).
#[derive(sqlx::FromRow)]
struct SettlementRow {
    id: String,
    status: String,
    amount_cents: i64,
    payment_reference: Option<String>,
    received_cents: i64,
    refund_reference: Option<String>,
}

/// Check 6: paid and refunded settlements, their posted payment and its refund.
/// `paid`: the payment is posted for the amount, and not refunded. `refunded`: the
/// payment is posted for the amount and reversed in full. Any other status: neither.
pub(super) async fn check_settlements(
    conn: &mut AnyConnection,
    report: &mut Report,
) -> Result<(), sqlx::Error> {
    let rows: Vec<SettlementRow> = sqlx::query_as(
        "SELECT s.id, s.status, s.amount_cents, t.reference AS payment_reference, \
           COALESCE((SELECT CAST(SUM(e.amount_cents) AS BIGINT) FROM journal_entries e \
             WHERE e.reference = t.reference AND e.account_kind = $1), 0) AS received_cents, \
           r.reference AS refund_reference \
         FROM settlements s \
         LEFT JOIN journal_transactions t ON t.reference = $2 || ':' || s.id \
         LEFT JOIN journal_transactions r ON r.reference = $3 || ':' || s.id || ':full' \
         WHERE s.status IN ($4, $5) OR t.reference IS NOT NULL \
           OR r.reference IS NOT NULL ORDER BY s.id",
    )
    .bind(AccountKind::ProviderClearing)
    .bind(TransactionKind::SettlementPaid)
    .bind(TransactionKind::SettlementRefund)
    .bind(SettlementStatus::Paid)
    .bind(SettlementStatus::Refunded)
    .fetch_all(&mut *conn)
    .await?;
    for row in rows {
        let id = row.id;
        let Some(status) = report.word::<SettlementStatus>(&id, "settlement status", &row.status)
        else {
            continue;
        };
        let (amount, received) = (row.amount_cents, row.received_cents);
        let paid_or_refunded =
            matches!(status, SettlementStatus::Paid | SettlementStatus::Refunded);
        let (payment, refund) = (
            row.payment_reference.is_some(),
            row.refund_reference.is_some(),
        );
        match (status, payment, refund) {
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
            (SettlementStatus::Paid, true, true) => {
                report.flag(id, "paid but the journal refunds its payment in full");
            }
            (SettlementStatus::Refunded, true, false) => {
                report.flag(
                    id,
                    "refunded but the journal records no refund of its payment",
                );
            }
            (SettlementStatus::Paid | SettlementStatus::Refunded, true, _) => {}
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

/// A payout beside what its postings moved.
#[derive(sqlx::FromRow)]
struct PayoutRow {
    id: String,
    status: String,
    amount_cents: i64,
    initiated_cents: i64,
    sent_cents: i64,
    cancelled_cents: i64,
}

/// Check 7: each payout against its postings. A pending payout has its
/// `payout_initiated` (the amount out of the payable) and no `payout_sent`; a paid one
/// has both, for its amount; a failed one has its `payout_cancelled` (the amount back
/// in the payable) and no `payout_sent`; and every `payout_initiated` belongs to a
/// payout row.
pub(super) async fn check_payouts(
    conn: &mut AnyConnection,
    report: &mut Report,
) -> Result<(), sqlx::Error> {
    let rows: Vec<PayoutRow> = sqlx::query_as(
        "SELECT p.id, p.status, p.amount_cents, \
           COALESCE((SELECT CAST(SUM(e.amount_cents) AS BIGINT) FROM journal_entries e \
             WHERE e.reference = $1 || ':' || p.id \
               AND e.account_kind = $2), 0) AS initiated_cents, \
           COALESCE((SELECT CAST(SUM(e.amount_cents) AS BIGINT) FROM journal_entries e \
             WHERE e.reference = $3 || ':' || p.id \
               AND e.account_kind = $4), 0) AS sent_cents, \
           COALESCE((SELECT -CAST(SUM(e.amount_cents) AS BIGINT) FROM journal_entries e \
             WHERE e.reference = $5 || ':' || p.id \
               AND e.account_kind = $2), 0) AS cancelled_cents \
         FROM payouts p ORDER BY p.id",
    )
    .bind(TransactionKind::PayoutInitiated)
    .bind(AccountKind::SellerPayable)
    .bind(TransactionKind::PayoutSent)
    .bind(AccountKind::PayoutsInTransit)
    .bind(TransactionKind::PayoutCancelled)
    .fetch_all(&mut *conn)
    .await?;
    for row in rows {
        let id = row.id;
        let Some(status) = report.word::<PayoutStatus>(&id, "payout status", &row.status) else {
            continue;
        };
        let amount = row.amount_cents;
        let (expected_sent, expected_cancelled) = match status {
            PayoutStatus::Pending => (0, 0),
            PayoutStatus::Paid | PayoutStatus::Reversed => (amount, 0),
            PayoutStatus::Failed => (0, amount),
        };
        if row.cancelled_cents != expected_cancelled {
            report.flag(
                &id,
                format!(
                    "{status} payout of {amount} has {} posted as cancelled",
                    row.cancelled_cents
                ),
            );
        }
        if row.initiated_cents != amount {
            report.flag(
                &id,
                format!(
                    "payout of {amount} took {} out of the seller's payable",
                    row.initiated_cents
                ),
            );
        }
        if row.sent_cents != expected_sent {
            report.flag(
                &id,
                format!(
                    "{status} payout of {amount} has {} posted as sent",
                    row.sent_cents
                ),
            );
        }
    }
    let orphans: Vec<String> = sqlx::query_scalar(
        "SELECT t.reference FROM journal_transactions t \
         WHERE t.kind = $1 \
           AND NOT EXISTS (SELECT 1 FROM payouts p WHERE p.id = t.subject_id) \
         ORDER BY t.reference",
    )
    .bind(TransactionKind::PayoutInitiated)
    .fetch_all(&mut *conn)
    .await?;
    for reference in orphans {
        report.flag(reference, "a payout posting without its payout");
    }
    Ok(())
}
