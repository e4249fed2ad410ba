//! A seller's money per currency, read from the journal: pending, held, available,
//! in transit, paid out, and the platform's fee on their sales.
//!
//! **The hold.** Earnings are *held* for `--payout-hold-days` after the buyer paid,
//! so that a refund in that window comes out of money still with us. Held is the net
//! of the seller's payable movements inside the window that are not payouts (sales
//! credited, refunds debited), capped to what is payable; available is the rest of
//! the payable. Payout movements never count as recent: a payout takes available
//! money, and a cancelled or reversed payout's amount is available again at once.
//!
//! **A refund after a payout** debits the payable of money already sent, so the
//! payable (and available) goes below zero; nothing is paid until later sales cover
//! it, which is how the next payouts recover it first.

use sqlx::AnyConnection;

use crate::ledger::{AccountKind, TransactionKind};

/// A seller's figures in one currency, minor units.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SellerBalance {
    /// Lowercase ISO 4217 code.
    pub currency: String,
    /// Their share of sales not paid by the buyers yet.
    pub pending_cents: i64,
    /// Their share of paid sales still owed to them (held + available).
    pub payable_cents: i64,
    /// Paid but inside the hold.
    pub held_cents: i64,
    /// Paid, past the hold: what the next payout run may send (below zero when a
    /// refund after a payout took back more than was left).
    pub available_cents: i64,
    /// Recorded payouts the provider has not confirmed yet.
    pub in_transit_cents: i64,
    /// Payouts sent, less those reversed.
    pub paid_out_cents: i64,
    /// The platform's fee on their sales (less fees returned by refunds).
    pub platform_fee_cents: i64,
}

/// Transaction kinds that move a payable in or out for a payout, never held.
const PAYOUT_KINDS: [TransactionKind; 3] = [
    TransactionKind::PayoutInitiated,
    TransactionKind::PayoutCancelled,
    TransactionKind::PayoutReversed,
];

/// The signed sum of one account's entries in one currency, by transaction kind and
/// by whether the transaction falls inside the hold window (`recent` is 1 or 0).
#[derive(sqlx::FromRow)]
struct Movement {
    account_kind: AccountKind,
    currency: String,
    kind: TransactionKind,
    recent: i64,
    total: i64,
}

/// Every currency `seller` has money in, by currency; `hold_from` is the start of the
/// hold window (unix ms): payable movements after it are held.
pub async fn seller_balances(
    conn: &mut AnyConnection,
    seller: &str,
    hold_from: i64,
) -> Result<Vec<SellerBalance>, sqlx::Error> {
    let mut out: Vec<SellerBalance> = Vec::new();
    // One row per (account kind, currency, transaction kind, inside the window?).
    let rows: Vec<Movement> = sqlx::query_as(
        "SELECT e.account_kind, e.currency, t.kind, \
                CASE WHEN t.created_at > $2 THEN 1 ELSE 0 END AS recent, \
                CAST(SUM(e.amount_cents) AS BIGINT) AS total \
         FROM journal_entries e JOIN journal_transactions t ON t.reference = e.reference \
         WHERE e.owner_id = $1 AND e.account_kind IN ($3, $4, $5) \
         GROUP BY e.account_kind, e.currency, t.kind, CASE WHEN t.created_at > $2 THEN 1 ELSE 0 END",
    )
    .bind(seller)
    .bind(hold_from)
    .bind(AccountKind::SellerPending)
    .bind(AccountKind::SellerPayable)
    .bind(AccountKind::PayoutsInTransit)
    .fetch_all(&mut *conn)
    .await?;
    // Signed sums: credits are negative; these accounts are credit-normal.
    let mut recent_net: Vec<(String, i64)> = Vec::new();
    for row in rows {
        let owed = row.total.saturating_neg();
        let entry = slot(&mut out, &row.currency);
        match row.account_kind {
            AccountKind::SellerPending => entry.pending_cents += owed,
            AccountKind::PayoutsInTransit => entry.in_transit_cents += owed,
            _ => {
                entry.payable_cents += owed;
                if PAYOUT_KINDS.contains(&row.kind) {
                    // Out for a payout (debit), or back from one (credit).
                    entry.paid_out_cents -= owed;
                } else if row.recent == 1 {
                    match recent_net.iter_mut().find(|(c, _)| *c == row.currency) {
                        Some((_, n)) => *n += owed,
                        None => recent_net.push((row.currency, owed)),
                    }
                }
            }
        }
    }
    /// The fee taken on a seller's sales in one currency (signed: credits negative):
    /// the fee lines of its orders' own transactions (sales and refunds), and the fees
    /// its orders record for their share of a combined statement's `instant_sales`.
    #[derive(sqlx::FromRow)]
    struct FeeSum {
        currency: String,
        total: i64,
    }
    let fees: Vec<FeeSum> = sqlx::query_as(
        "SELECT f.currency, CAST(SUM(f.amount_cents) AS BIGINT) AS total FROM ( \
           SELECT o.currency, e.amount_cents \
           FROM journal_entries e JOIN journal_transactions t ON t.reference = e.reference \
           JOIN orders o ON o.id = t.subject_id \
           WHERE o.seller_id = $1 AND e.account_kind = $2 \
           UNION ALL \
           SELECT o.currency, -o.sale_fee_cents FROM orders o \
           WHERE o.seller_id = $1 AND o.sale_reference IS NOT NULL \
             AND o.sale_fee_cents <> 0) f \
         GROUP BY f.currency",
    )
    .bind(seller)
    .bind(AccountKind::PlatformFees)
    .fetch_all(&mut *conn)
    .await?;
    for fee in fees {
        slot(&mut out, &fee.currency).platform_fee_cents = fee.total.saturating_neg();
    }
    for balance in &mut out {
        // Sent = initiated less cancelled and reversed, less what is still in transit.
        balance.paid_out_cents -= balance.in_transit_cents;
        let recent = recent_net
            .iter()
            .find(|(c, _)| *c == balance.currency)
            .map_or(0, |(_, n)| *n);
        balance.held_cents = recent.clamp(0, balance.payable_cents.max(0));
        balance.available_cents = balance.payable_cents - balance.held_cents;
    }
    out.sort_by(|a, b| a.currency.cmp(&b.currency));
    Ok(out)
}

fn slot<'a>(out: &'a mut Vec<SellerBalance>, currency: &str) -> &'a mut SellerBalance {
    let index = match out.iter().position(|b| b.currency == currency) {
        Some(i) => i,
        None => {
            out.push(SellerBalance {
                currency: currency.to_owned(),
                ..SellerBalance::default()
            });
            out.len() - 1
        }
    };
    &mut out[index]
}
