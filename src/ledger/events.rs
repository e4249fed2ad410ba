//! Typed builders, one per money event, that return balanced journal transactions.
//!
//! Callers never list debits and credits themselves: they describe the event (a sale,
//! a settlement, a refund) and the builder produces the postings of docs/LEDGER.md.
//! The only free-form constructor is [`JournalTransaction::adjustment`], for operators'
//! corrections; [`super::post`] checks the balance of everything it writes anyway.

use super::error::LedgerError;
use super::vocab::{Account, AccountKind, PLATFORM_OWNER, TransactionKind};

/// One line of a journal transaction: a signed amount on one account, in minor units.
/// Positive is a debit, negative a credit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The account moved.
    pub account: Account,
    /// Signed minor units: debit > 0, credit < 0, never 0.
    pub amount_cents: i64,
}

impl Entry {
    /// A debit of `amount` (> 0) to `account`.
    pub fn debit(account: Account, amount: i64) -> Self {
        Self {
            account,
            amount_cents: amount,
        }
    }

    /// A credit of `amount` (> 0) to `account`.
    pub fn credit(account: Account, amount: i64) -> Self {
        Self {
            account,
            amount_cents: -amount,
        }
    }
}

/// A journal transaction ready to post: its unique reference, its kind, the order or
/// settlement it records, and its entries. Built by the event builders below.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalTransaction {
    reference: String,
    kind: TransactionKind,
    subject_id: String,
    entries: Vec<Entry>,
}

impl JournalTransaction {
    /// Assembles a transaction, dropping zero lines (a 0 % fee, a free order); the
    /// reference is `kind:subject[:key]`.
    fn new(
        kind: TransactionKind,
        subject_id: &str,
        key: Option<&str>,
        entries: Vec<Entry>,
    ) -> Self {
        let reference = match key {
            Some(key) => format!("{kind}:{subject_id}:{key}"),
            None => format!("{kind}:{subject_id}"),
        };
        Self {
            reference,
            kind,
            subject_id: subject_id.to_owned(),
            entries: entries
                .into_iter()
                .filter(|e| e.amount_cents != 0)
                .collect(),
        }
    }

    /// Reassembles a transaction read back from the journal.
    pub(super) fn from_parts(
        reference: String,
        kind: TransactionKind,
        subject_id: String,
        entries: Vec<Entry>,
    ) -> Self {
        Self {
            reference,
            kind,
            subject_id,
            entries,
        }
    }

    /// An operator's correction (for example clearing the suspense account). It is
    /// the one constructor taking free-form entries; [`super::post`] refuses it unless
    /// it balances per currency. `key` makes the reference unique
    /// (`adjustment:{subject}:{key}`).
    pub fn adjustment(subject_id: &str, key: &str, entries: Vec<Entry>) -> Self {
        Self::new(TransactionKind::Adjustment, subject_id, Some(key), entries)
    }

    /// The unique reference: the idempotency key of this event.
    pub fn reference(&self) -> &str {
        &self.reference
    }

    /// What event this records.
    pub fn kind(&self) -> TransactionKind {
        self.kind
    }

    /// The order or settlement it records.
    pub fn subject_id(&self) -> &str {
        &self.subject_id
    }

    /// Its lines, in order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The same movements reversed, under a new kind and reference.
    fn reversed(&self, kind: TransactionKind, key: Option<&str>) -> Self {
        let entries = self
            .entries
            .iter()
            .map(|e| Entry {
                account: e.account.clone(),
                amount_cents: e.amount_cents.saturating_neg(),
            })
            .collect();
        Self::new(kind, &self.subject_id, key, entries)
    }
}

/// The platform's share of each sale, in basis points (1/100 of a percent).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FeeRate(u32);

/// How a sale's total divides between the platform and the seller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Split {
    /// The platform's fee, minor units.
    pub fee_cents: i64,
    /// The seller's share, minor units; `fee_cents + seller_cents` is the total.
    pub seller_cents: i64,
}

impl FeeRate {
    /// No fee: every sale goes wholly to its seller (the default).
    pub const ZERO: Self = Self(0);

    /// A rate of `bps` basis points; at most 10 000 (100 %).
    pub fn from_bps(bps: u32) -> Result<Self, LedgerError> {
        if bps > 10_000 {
            return Err(LedgerError::InvalidFeeRate(bps));
        }
        Ok(Self(bps))
    }

    /// The rate in basis points.
    pub fn bps(self) -> u32 {
        self.0
    }

    /// Splits `total` (≥ 0): the fee is rounded DOWN, so the seller never loses a
    /// minor unit to rounding, and the seller gets the rest, so the parts always sum
    /// to the total exactly.
    pub fn split(self, total: i64) -> Split {
        // i128: total × 10 000 cannot overflow, and the quotient is ≤ total.
        let fee = i128::from(total) * i128::from(self.0) / 10_000;
        let fee = i64::try_from(fee).unwrap_or(0);
        Split {
            fee_cents: fee,
            seller_cents: total - fee,
        }
    }
}

/// A sale as its order describes it.
#[derive(Clone, Copy, Debug)]
pub struct Sale<'a> {
    /// The order (`ord_…`).
    pub order_id: &'a str,
    /// Who bought.
    pub buyer_id: &'a str,
    /// Who sold.
    pub seller_id: &'a str,
    /// Lowercase ISO 4217 code.
    pub currency: &'a str,
    /// The order's total, minor units (≥ 0).
    pub total_cents: i64,
}

impl Sale<'_> {
    fn check(&self) -> Result<(), LedgerError> {
        check_currency(self.currency)?;
        if self.total_cents < 0 {
            return Err(LedgerError::InvalidAmount(self.total_cents));
        }
        Ok(())
    }
}

fn check_currency(code: &str) -> Result<(), LedgerError> {
    match crate::money::currency(code) {
        Some(known) if known.code == code => Ok(()),
        _ => Err(LedgerError::UnknownCurrency(code.to_owned())),
    }
}

/// A transaction of two entries: `amount_cents` debited to `debit` and credited to
/// `credit` (payouts, and payments that pay for nothing).
fn transfer(
    kind: TransactionKind,
    subject_id: &str,
    key: Option<&str>,
    debit: Account,
    credit: Account,
    amount_cents: i64,
) -> JournalTransaction {
    JournalTransaction::new(
        kind,
        subject_id,
        key,
        vec![
            Entry::debit(debit, amount_cents),
            Entry::credit(credit, amount_cents),
        ],
    )
}

fn fee_account(currency: &str) -> Account {
    Account::new(PLATFORM_OWNER, AccountKind::PlatformFees, currency)
}

/// An order fulfilled at once on deferred payment: the buyer owes the total, the
/// seller's share is pending until the buyer pays, the platform takes its fee.
pub fn instant_sale(sale: &Sale<'_>, fee: FeeRate) -> Result<JournalTransaction, LedgerError> {
    sale.check()?;
    let split = fee.split(sale.total_cents);
    let c = sale.currency;
    Ok(JournalTransaction::new(
        TransactionKind::InstantSale,
        sale.order_id,
        None,
        vec![
            Entry::debit(
                Account::new(sale.buyer_id, AccountKind::BuyerReceivable, c),
                sale.total_cents,
            ),
            Entry::credit(
                Account::new(sale.seller_id, AccountKind::SellerPending, c),
                split.seller_cents,
            ),
            Entry::credit(fee_account(c), split.fee_cents),
        ],
    ))
}

/// An order paid through `provider`'s checkout: the money sits at the provider, the
/// seller's share is payable at once, the platform takes its fee.
pub fn paid_sale(
    sale: &Sale<'_>,
    fee: FeeRate,
    provider: &str,
) -> Result<JournalTransaction, LedgerError> {
    sale.check()?;
    let split = fee.split(sale.total_cents);
    let c = sale.currency;
    Ok(JournalTransaction::new(
        TransactionKind::PaidSale,
        sale.order_id,
        None,
        vec![
            Entry::debit(
                Account::new(provider, AccountKind::ProviderClearing, c),
                sale.total_cents,
            ),
            Entry::credit(
                Account::new(sale.seller_id, AccountKind::SellerPayable, c),
                split.seller_cents,
            ),
            Entry::credit(fee_account(c), split.fee_cents),
        ],
    ))
}

/// The reference of the `instant_sales` transaction that a combined purchase
/// statement posts for all the sales of batch `batch_id` (PostgreSQL): one line per
/// buyer, seller and currency; each of its orders records the fee it was split with.
pub fn instant_sales_reference(batch_id: &str) -> String {
    format!("{}:{batch_id}", TransactionKind::InstantSales)
}

/// A sale as the journal recorded it (read with [`super::recorded_sale`]): the split
/// it was posted with, whatever the fee rate is today, and what was refunded since.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedSale {
    /// The order.
    pub order_id: String,
    /// `InstantSale` or `PaidSale`.
    pub kind: TransactionKind,
    /// Who bought.
    pub buyer_id: String,
    /// Who sold.
    pub seller_id: String,
    /// Currency.
    pub currency: String,
    /// The order's total.
    pub total_cents: i64,
    /// How the total was split when sold.
    pub split: Split,
    /// The provider paid through (paid sales only).
    pub provider: Option<String>,
    /// Refunded so far, minor units.
    pub refunded_cents: i64,
}

/// A settlement's payment of `orders` (the deferred orders it claimed, as recorded),
/// `received_cents` through `provider`. The amount must be exactly their sum: the
/// buyer's debt drops by it, and each seller's share moves from pending to payable.
pub fn settlement_paid(
    settlement_id: &str,
    provider: &str,
    received_cents: i64,
    orders: &[RecordedSale],
) -> Result<JournalTransaction, LedgerError> {
    let Some(first) = orders.first() else {
        return Err(LedgerError::EmptySettlement);
    };
    let (buyer, currency) = (first.buyer_id.as_str(), first.currency.as_str());
    let mut applied: i64 = 0;
    let mut shares: std::collections::BTreeMap<&str, i64> = Default::default();
    for order in orders {
        if order.kind != TransactionKind::InstantSale
            || order.buyer_id != buyer
            || order.currency != currency
        {
            return Err(LedgerError::NotSettleable(order.order_id.clone()));
        }
        applied = applied
            .checked_add(order.total_cents)
            .ok_or(LedgerError::InvalidAmount(i64::MAX))?;
        *shares.entry(order.seller_id.as_str()).or_default() += order.split.seller_cents;
    }
    if applied != received_cents {
        return Err(LedgerError::AmountMismatch {
            expected: applied,
            received: received_cents,
        });
    }
    let mut entries = vec![
        Entry::debit(
            Account::new(provider, AccountKind::ProviderClearing, currency),
            received_cents,
        ),
        Entry::credit(
            Account::new(buyer, AccountKind::BuyerReceivable, currency),
            applied,
        ),
    ];
    for (seller, share) in shares {
        entries.push(Entry::debit(
            Account::new(seller, AccountKind::SellerPending, currency),
            share,
        ));
        entries.push(Entry::credit(
            Account::new(seller, AccountKind::SellerPayable, currency),
            share,
        ));
    }
    Ok(JournalTransaction::new(
        TransactionKind::SettlementPaid,
        settlement_id,
        None,
        entries,
    ))
}

/// A settlement's payment refunded in full: the exact reverse of its
/// `settlement_paid` transaction, so the buyer owes again and the sellers' shares
/// are pending again.
pub fn settlement_refund(
    paid: &JournalTransaction,
    refund_key: &str,
) -> Result<JournalTransaction, LedgerError> {
    if paid.kind() != TransactionKind::SettlementPaid {
        return Err(LedgerError::WrongKind {
            expected: TransactionKind::SettlementPaid,
            found: paid.kind(),
        });
    }
    Ok(paid.reversed(TransactionKind::SettlementRefund, Some(refund_key)))
}

/// A refund of `amount_cents` of a paid sale (fully, or in part) through `provider`.
/// The fee is returned in proportion, rounded so that the fee returned after the
/// refunds so far is `floor(fee × refunded / total)`: however the refunds are cut,
/// a full refund returns exactly the fee and the seller's share, never a cent more.
/// `refund_key` (the provider's refund id) makes each refund its own transaction.
pub fn refund(
    sale: &RecordedSale,
    provider: &str,
    amount_cents: i64,
    refund_key: &str,
) -> Result<JournalTransaction, LedgerError> {
    let left = sale.total_cents - sale.refunded_cents;
    if amount_cents <= 0 || amount_cents > left {
        return Err(LedgerError::RefundExceedsSale {
            order_id: sale.order_id.clone(),
            requested: amount_cents,
            refundable: left,
        });
    }
    let fee_refunded = |refunded: i64| -> i64 {
        let scaled = i128::from(sale.split.fee_cents) * i128::from(refunded)
            / i128::from(sale.total_cents.max(1));
        i64::try_from(scaled).unwrap_or(0)
    };
    let fee_part =
        fee_refunded(sale.refunded_cents + amount_cents) - fee_refunded(sale.refunded_cents);
    let seller_part = amount_cents - fee_part;
    let c = sale.currency.as_str();
    Ok(JournalTransaction::new(
        TransactionKind::Refund,
        &sale.order_id,
        Some(refund_key),
        vec![
            Entry::debit(
                Account::new(&sale.seller_id, AccountKind::SellerPayable, c),
                seller_part,
            ),
            Entry::debit(fee_account(c), fee_part),
            Entry::credit(
                Account::new(provider, AccountKind::ProviderClearing, c),
                amount_cents,
            ),
        ],
    ))
}

/// An instant sale voided before it was paid: the exact reverse of its posting (the
/// buyer owes nothing for it, the seller's pending share and the fee are undone).
pub fn reversal(sale: &JournalTransaction) -> Result<JournalTransaction, LedgerError> {
    if sale.kind() != TransactionKind::InstantSale {
        return Err(LedgerError::WrongKind {
            expected: TransactionKind::InstantSale,
            found: sale.kind(),
        });
    }
    Ok(sale.reversed(TransactionKind::Reversal, None))
}

/// Money received through `provider` for `subject_id` (an order whose units are gone,
/// a settlement whose orders were paid meanwhile) that pays for nothing: it is owed
/// back to the buyer.
pub fn unapplied_payment(
    subject_id: &str,
    buyer_id: &str,
    provider: &str,
    currency: &str,
    amount_cents: i64,
) -> Result<JournalTransaction, LedgerError> {
    check_currency(currency)?;
    if amount_cents < 0 {
        return Err(LedgerError::InvalidAmount(amount_cents));
    }
    Ok(transfer(
        TransactionKind::UnappliedPayment,
        subject_id,
        None,
        Account::new(provider, AccountKind::ProviderClearing, currency),
        Account::new(buyer_id, AccountKind::RefundsPayable, currency),
        amount_cents,
    ))
}

/// An unapplied payment given back to the buyer through the provider.
pub fn payment_returned(
    subject_id: &str,
    buyer_id: &str,
    provider: &str,
    currency: &str,
    amount_cents: i64,
) -> Result<JournalTransaction, LedgerError> {
    check_currency(currency)?;
    if amount_cents < 0 {
        return Err(LedgerError::InvalidAmount(amount_cents));
    }
    Ok(transfer(
        TransactionKind::PaymentReturned,
        subject_id,
        None,
        Account::new(buyer_id, AccountKind::RefundsPayable, currency),
        Account::new(provider, AccountKind::ProviderClearing, currency),
        amount_cents,
    ))
}

/// A payout of `amount_cents` (> 0) recorded for `seller`: the amount leaves their
/// payable (so no later run can pay it again) and waits in transit until the payout
/// provider confirms it sent.
pub fn payout_initiated(
    payout_id: &str,
    seller_id: &str,
    currency: &str,
    amount_cents: i64,
) -> Result<JournalTransaction, LedgerError> {
    check_currency(currency)?;
    if amount_cents <= 0 {
        return Err(LedgerError::InvalidAmount(amount_cents));
    }
    Ok(transfer(
        TransactionKind::PayoutInitiated,
        payout_id,
        None,
        Account::new(seller_id, AccountKind::SellerPayable, currency),
        Account::new(seller_id, AccountKind::PayoutsInTransit, currency),
        amount_cents,
    ))
}

/// A recorded payout confirmed sent through `provider`: the money leaves the
/// provider's clearing account, and the seller's in-transit amount is settled.
pub fn payout_sent(
    initiated: &JournalTransaction,
    provider: &str,
) -> Result<JournalTransaction, LedgerError> {
    let (seller, currency, amount) = payout_parts(initiated)?;
    Ok(transfer(
        TransactionKind::PayoutSent,
        initiated.subject_id(),
        None,
        Account::new(&seller, AccountKind::PayoutsInTransit, &currency),
        Account::new(provider, AccountKind::ProviderClearing, &currency),
        amount,
    ))
}

/// A recorded payout the provider refused for good: the exact reverse of its
/// initiation, so the amount is payable (and available) again.
pub fn payout_cancelled(initiated: &JournalTransaction) -> Result<JournalTransaction, LedgerError> {
    payout_parts(initiated)?;
    Ok(initiated.reversed(TransactionKind::PayoutCancelled, None))
}

/// A sent payout reversed by the provider (`reversal_key`, e.g. its reversal id) for
/// `amount_cents`: the money is back in the provider's clearing account and owed to
/// the seller again.
pub fn payout_reversed(
    initiated: &JournalTransaction,
    provider: &str,
    amount_cents: i64,
    reversal_key: &str,
) -> Result<JournalTransaction, LedgerError> {
    let (seller, currency, amount) = payout_parts(initiated)?;
    if amount_cents <= 0 || amount_cents > amount {
        return Err(LedgerError::InvalidAmount(amount_cents));
    }
    Ok(transfer(
        TransactionKind::PayoutReversed,
        initiated.subject_id(),
        Some(reversal_key),
        Account::new(provider, AccountKind::ProviderClearing, &currency),
        Account::new(&seller, AccountKind::SellerPayable, &currency),
        amount_cents,
    ))
}

/// The seller, currency and amount of a `payout_initiated` transaction.
fn payout_parts(initiated: &JournalTransaction) -> Result<(String, String, i64), LedgerError> {
    if initiated.kind() != TransactionKind::PayoutInitiated {
        return Err(LedgerError::WrongKind {
            expected: TransactionKind::PayoutInitiated,
            found: initiated.kind(),
        });
    }
    initiated
        .entries()
        .iter()
        .find(|e| e.account.kind == AccountKind::SellerPayable)
        .map(|e| {
            (
                e.account.owner.clone(),
                e.account.currency.clone(),
                e.amount_cents,
            )
        })
        .ok_or(LedgerError::InvalidAmount(0))
}

/// Checks that `txn` balances: per currency, debits equal credits, and no line is
/// zero. Sums run in i128, so no amount can overflow them.
pub fn check_balanced(txn: &JournalTransaction) -> Result<(), LedgerError> {
    let mut sums: std::collections::BTreeMap<&str, (i128, i128)> = Default::default();
    for entry in txn.entries() {
        if entry.amount_cents == 0 {
            return Err(LedgerError::InvalidAmount(0));
        }
        let (debits, credits) = sums.entry(entry.account.currency.as_str()).or_default();
        if entry.amount_cents > 0 {
            *debits += i128::from(entry.amount_cents);
        } else {
            *credits -= i128::from(entry.amount_cents);
        }
    }
    match sums.into_iter().find(|(_, (d, c))| d != c) {
        Some((currency, (debits, credits))) => Err(LedgerError::Unbalanced {
            reference: txn.reference().to_owned(),
            currency: currency.to_owned(),
            debits,
            credits,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sale(total: i64) -> Sale<'static> {
        Sale {
            order_id: "ord_1",
            buyer_id: "usr_b",
            seller_id: "usr_s",
            currency: "usd",
            total_cents: total,
        }
    }

    fn recorded(total: i64, fee: FeeRate, kind: TransactionKind) -> RecordedSale {
        RecordedSale {
            order_id: "ord_1".into(),
            kind,
            buyer_id: "usr_b".into(),
            seller_id: "usr_s".into(),
            currency: "usd".into(),
            total_cents: total,
            split: fee.split(total),
            provider: Some("stripe".into()),
            refunded_cents: 0,
        }
    }

    #[test]
    fn fee_rounds_down_and_parts_sum_to_the_total() {
        for bps in [0, 1, 250, 333, 999, 5_000, 9_999, 10_000] {
            let rate = FeeRate::from_bps(bps).expect("valid rate");
            for total in [0, 1, 2, 3, 7, 99, 100, 101, 12_345, 999_999, i64::MAX / 2] {
                let split = rate.split(total);
                assert_eq!(split.fee_cents + split.seller_cents, total);
                // floor: the fee never exceeds the exact share.
                assert!(
                    i128::from(split.fee_cents) * 10_000 <= i128::from(total) * i128::from(bps)
                );
                assert!(
                    (i128::from(split.fee_cents) + 1) * 10_000
                        > i128::from(total) * i128::from(bps)
                );
            }
        }
        assert_eq!(
            FeeRate::from_bps(250).map(|r| r.split(199)).ok(),
            Some(Split {
                fee_cents: 4,
                seller_cents: 195
            })
        );
        assert!(FeeRate::from_bps(10_001).is_err());
    }

    #[test]
    fn every_builder_balances() {
        let fee = FeeRate::from_bps(333).expect("rate");
        let instant = instant_sale(&sale(1001), fee).expect("instant");
        let paid = paid_sale(&sale(1001), fee, "stripe").expect("paid");
        let rec = recorded(1001, fee, TransactionKind::InstantSale);
        let settled =
            settlement_paid("stl_1", "dev", 1001, std::slice::from_ref(&rec)).expect("settled");
        let back = settlement_refund(&settled, "re_1").expect("settlement refund");
        let refunded = refund(
            &recorded(1001, fee, TransactionKind::PaidSale),
            "stripe",
            400,
            "re_2",
        )
        .expect("refund");
        for txn in [
            &instant,
            &paid,
            &settled,
            &back,
            &refunded,
            &reversal(&instant).expect("reversal"),
        ] {
            check_balanced(txn).unwrap_or_else(|e| panic!("{}: {e}", txn.reference()));
        }
        assert_eq!(instant.reference(), "instant_sale:ord_1");
        assert_eq!(refunded.reference(), "refund:ord_1:re_2");
    }

    #[test]
    fn partial_refunds_return_exactly_the_fee_in_the_end() {
        let fee = FeeRate::from_bps(1_000).expect("rate");
        let mut sale = recorded(999, fee, TransactionKind::PaidSale);
        let (mut fee_back, mut seller_back) = (0, 0);
        for (i, amount) in [1, 1, 333, 500, 164].into_iter().enumerate() {
            let txn = refund(&sale, "stripe", amount, &format!("re_{i}")).expect("refund");
            check_balanced(&txn).expect("balanced");
            for e in txn.entries() {
                match e.account.kind {
                    AccountKind::PlatformFees => fee_back += e.amount_cents,
                    AccountKind::SellerPayable => seller_back += e.amount_cents,
                    _ => {}
                }
            }
            sale.refunded_cents += amount;
        }
        assert_eq!(sale.refunded_cents, 999);
        assert_eq!(
            (fee_back, seller_back),
            (sale.split.fee_cents, sale.split.seller_cents)
        );
        assert!(refund(&sale, "stripe", 1, "re_more").is_err());
    }

    #[test]
    fn settlement_must_receive_exactly_what_it_claimed() {
        let rec = recorded(500, FeeRate::ZERO, TransactionKind::InstantSale);
        assert!(matches!(
            settlement_paid("stl_1", "dev", 499, std::slice::from_ref(&rec)),
            Err(LedgerError::AmountMismatch { .. })
        ));
        let paid = recorded(500, FeeRate::ZERO, TransactionKind::PaidSale);
        assert!(settlement_paid("stl_1", "dev", 500, &[paid]).is_err());
        assert!(settlement_paid("stl_1", "dev", 0, &[]).is_err());
    }

    #[test]
    fn free_orders_post_no_lines_and_bad_input_is_refused() {
        let free = instant_sale(&sale(0), FeeRate::ZERO).expect("free");
        assert!(free.entries().is_empty());
        let mut bad = sale(5);
        bad.currency = "USD";
        assert!(instant_sale(&bad, FeeRate::ZERO).is_err());
        assert!(instant_sale(&sale(-1), FeeRate::ZERO).is_err());
    }
}
