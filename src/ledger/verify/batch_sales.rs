//! `udam ledger verify`'s check of the sales that combined purchase statements posted
//! (part of check 4): each `instant_sales` transaction holds exactly the sums of the
//! orders that name it (what each buyer owes, each seller's pending share and the
//! platform's fee, per currency), and every order that names one names one that
//! exists, with a fee its total can carry. Its lines are sums, so the split of each
//! order lives on the order (`sale_fee_cents`); this check is what ties the two.

use std::collections::{BTreeMap, BTreeSet};

use sqlx::AnyConnection;

use super::Report;
use crate::ledger::vocab::{AccountKind, PLATFORM_OWNER, TransactionKind};
use crate::vocab::PaymentStatus;

/// One line's amount, by (transaction, account kind, owner, currency).
type Lines = BTreeMap<(String, String, String, String), i64>;

/// A line as stored, or as an order set says it should be.
#[derive(sqlx::FromRow)]
struct LineRow {
    reference: String,
    account_kind: String,
    owner_id: String,
    currency: String,
    amount_cents: i64,
}

/// An order that names a combined statement's transaction.
#[derive(sqlx::FromRow)]
struct NamingOrder {
    id: String,
    sale_reference: String,
    total_cents: i64,
    sale_fee_cents: Option<i64>,
    payment_status: String,
    has_provider: i64,
    /// Whether `sale_reference` is an `instant_sales` transaction.
    posted: i64,
}

/// Checks every `instant_sales` transaction against the orders that name it.
pub(super) async fn check_batch_sales(
    conn: &mut AnyConnection,
    report: &mut Report,
) -> Result<(), sqlx::Error> {
    let orders: Vec<NamingOrder> = sqlx::query_as(
        "SELECT o.id, o.sale_reference, o.total_cents, o.sale_fee_cents, o.payment_status, \
           CASE WHEN o.provider IS NULL THEN 0 ELSE 1 END AS has_provider, \
           CASE WHEN EXISTS (SELECT 1 FROM journal_transactions t \
                             WHERE t.reference = o.sale_reference AND t.kind = $1) \
                THEN 1 ELSE 0 END AS posted \
         FROM orders o WHERE o.sale_reference IS NOT NULL ORDER BY o.id",
    )
    .bind(TransactionKind::InstantSales)
    .fetch_all(&mut *conn)
    .await?;
    for order in &orders {
        check_order(report, order);
    }
    let named: BTreeSet<&str> = orders.iter().map(|o| o.sale_reference.as_str()).collect();
    let unnamed: Vec<String> =
        sqlx::query_scalar("SELECT reference FROM journal_transactions WHERE kind = $1")
            .bind(TransactionKind::InstantSales)
            .fetch_all(&mut *conn)
            .await?;
    for reference in unnamed {
        if !named.contains(reference.as_str()) {
            report.flag(reference, "records the sales of no order");
        }
    }
    let posted = lines(
        sqlx::query_as(
            "SELECT e.reference, e.account_kind, e.owner_id, e.currency, \
               CAST(SUM(e.amount_cents) AS BIGINT) AS amount_cents \
             FROM journal_entries e JOIN journal_transactions t ON t.reference = e.reference \
             WHERE t.kind = $1 \
             GROUP BY e.reference, e.account_kind, e.owner_id, e.currency",
        )
        .bind(TransactionKind::InstantSales)
        .fetch_all(&mut *conn)
        .await?,
    );
    let expected = lines(
        sqlx::query_as(
            "SELECT o.sale_reference AS reference, CAST($1 AS TEXT) AS account_kind, \
               o.buyer_id AS owner_id, \
               o.currency, CAST(SUM(o.total_cents) AS BIGINT) AS amount_cents \
             FROM orders o WHERE o.sale_reference IS NOT NULL \
             GROUP BY o.sale_reference, o.buyer_id, o.currency \
             UNION ALL \
             SELECT o.sale_reference, CAST($2 AS TEXT), o.seller_id, o.currency, \
               -CAST(SUM(o.total_cents - COALESCE(o.sale_fee_cents, 0)) AS BIGINT) \
             FROM orders o WHERE o.sale_reference IS NOT NULL \
             GROUP BY o.sale_reference, o.seller_id, o.currency \
             UNION ALL \
             SELECT o.sale_reference, CAST($3 AS TEXT), CAST($4 AS TEXT), o.currency, \
               -CAST(SUM(COALESCE(o.sale_fee_cents, 0)) AS BIGINT) \
             FROM orders o WHERE o.sale_reference IS NOT NULL \
             GROUP BY o.sale_reference, o.currency",
        )
        .bind(AccountKind::BuyerReceivable)
        .bind(AccountKind::SellerPending)
        .bind(AccountKind::PlatformFees)
        .bind(PLATFORM_OWNER)
        .fetch_all(&mut *conn)
        .await?,
    );
    compare_lines(report, &posted, &expected);
    Ok(())
}

/// One order's own facts: its transaction exists, its fee fits its total, and it was
/// an instant order that moved money.
fn check_order(report: &mut Report, order: &NamingOrder) {
    if order.posted == 0 {
        report.flag(
            &order.id,
            format!(
                "names {} as its sale, which is not an {} transaction",
                order.sale_reference,
                TransactionKind::InstantSales
            ),
        );
    }
    match order.sale_fee_cents {
        Some(fee) if (0..=order.total_cents).contains(&fee) => {}
        fee => report.flag(
            &order.id,
            format!(
                "records a fee of {fee:?} on a total of {}",
                order.total_cents
            ),
        ),
    }
    if order.has_provider != 0 {
        report.flag(
            &order.id,
            "was paid through a checkout but names an instant sale",
        );
    }
    let status = report.word::<PaymentStatus>(&order.id, "payment status", &order.payment_status);
    if status == Some(PaymentStatus::Unpaid) {
        report.flag(&order.id, "was never paid but names an instant sale");
    }
}

/// The lines of zero dropped: a transaction never posts one.
fn lines(rows: Vec<LineRow>) -> Lines {
    rows.into_iter()
        .filter(|r| r.amount_cents != 0)
        .map(|r| {
            (
                (r.reference, r.account_kind, r.owner_id, r.currency),
                r.amount_cents,
            )
        })
        .collect()
}

/// Flags every line whose posted amount differs from its orders' sum.
fn compare_lines(report: &mut Report, posted: &Lines, expected: &Lines) {
    let keys: BTreeSet<_> = posted.keys().chain(expected.keys()).collect();
    for key in keys {
        let (reference, kind, owner, currency) = key;
        let got = posted.get(key).copied().unwrap_or(0);
        let want = expected.get(key).copied().unwrap_or(0);
        if got != want {
            report.flag(
                reference,
                format!(
                    "posts {got} to {kind} of {owner} in {currency}, \
                     but the orders that name it make {want}"
                ),
            );
        }
    }
}
