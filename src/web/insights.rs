//! The figures the seller's dashboard and the buyer's pages show above their lists:
//! earnings cards per currency, revenue per day, units sold per listing, top buyers,
//! payout history, spending per month and gateway usage, each chart one currency
//! (or one key, one listing) drawn by [`chart`](super::chart).
//!
//! The numbers come from [`dashboard_stats`] (orders), the
//! ledger's balances (`payments::earnings`), the payouts store and the gateway's
//! usage rows; this module only shapes them for the templates.

use time::{Date, Month, OffsetDateTime};

use super::chart::{BarChart, ChartText, Datum, bar_chart};
use super::dashboard_stats::{self, DAY_MS, DayTotal, Party, mask_email};
use super::layout::{money, when_rfc3339};
use crate::db::Db;
use crate::gateway::store::UsageScope;
use crate::pagination::PageQuery;
use crate::payouts::{PayoutProviderKind, PayoutStatus};
use crate::state::AppState;

/// Listings shown in "units sold per listing".
const LISTING_ROWS: i64 = 20;
/// Buyers shown per currency.
const TOP_BUYERS: i64 = 5;
/// Payouts shown (the newest).
const PAYOUT_ROWS: i64 = 10;
/// Months of spending shown to a buyer, this one included.
const SPENDING_MONTHS: u32 = 12;
/// Days of gateway usage shown.
pub const USAGE_DAYS: i64 = 30;

/// The revenue window: `?range=30` (default) or `?range=90`.
pub fn range_days(text: Option<&str>) -> i64 {
    if text == Some("90") { 90 } else { 30 }
}

/// A currency's earnings, formatted for a card.
pub struct EarningsCard {
    /// Upper-case code, the card's heading.
    pub currency: String,
    /// Lowercase code, for ids.
    pub code: String,
    /// Sold on deferred payment, not paid by the buyer yet.
    pub pending: String,
    /// Paid, inside the hold.
    pub held: String,
    /// What the next payout run may send.
    pub available: String,
    /// Recorded, not yet confirmed sent (shown when not zero).
    pub in_transit: Option<String>,
    /// Sent.
    pub paid_out: String,
    /// The platform's fee on these sales.
    pub fee: String,
}

/// Units sold of a listing in one currency.
pub struct ListingSalesRow {
    /// Listing id.
    pub listing_id: String,
    /// Its name.
    pub service_name: String,
    /// Units sold.
    pub units: i64,
    /// Orders.
    pub orders: i64,
    /// Revenue, formatted.
    pub revenue: String,
}

/// A buyer among a seller's biggest, per currency.
pub struct BuyerRow {
    /// Upper-case currency.
    pub currency: String,
    /// Masked email (see `dashboard_stats::mask_email`).
    pub who: String,
    /// Their user id (the seller's order API shows it too), to tell masked emails
    /// apart.
    pub buyer_id: String,
    /// Spent, formatted.
    pub spent: String,
    /// Orders.
    pub orders: i64,
}

/// A payout as the dashboard lists it.
pub struct PayoutRow {
    /// `po_…`.
    pub id: String,
    /// Amount, formatted.
    pub amount: String,
    /// Stored status (the badge is styled by it).
    pub status: &'static str,
    /// Status as people read it.
    pub status_label: &'static str,
    /// The dev payout provider: no money moved.
    pub simulated: bool,
    /// Who moved it.
    pub provider: &'static str,
    /// When it was recorded.
    pub created: String,
}

/// Everything the dashboard shows about money.
pub struct SellerInsights {
    /// 30 or 90.
    pub range: i64,
    /// Earnings per currency.
    pub cards: Vec<EarningsCard>,
    /// Days a paid sale is held.
    pub hold_days: u32,
    /// Revenue per day, one chart per currency.
    pub revenue: Vec<BarChart>,
    /// Units sold per listing in the window.
    pub listings: Vec<ListingSalesRow>,
    /// Biggest buyers per currency in the window.
    pub buyers: Vec<BuyerRow>,
    /// The newest payouts.
    pub payouts: Vec<PayoutRow>,
}

/// The dashboard's figures for `seller`, revenue over the last `range` days.
pub async fn seller(
    state: &AppState,
    seller: &str,
    range: i64,
) -> Result<SellerInsights, crate::error::ApiError> {
    let today = crate::clock::now_ms().div_euclid(DAY_MS);
    let first_day = today - range + 1;
    let since = first_day * DAY_MS;
    let earnings = crate::payments::earnings::earnings_of(state, seller).await?;
    let days = dashboard_stats::per_day(&state.db, Party::Seller, seller, since).await?;
    let listings =
        dashboard_stats::units_per_listing(&state.db, seller, since, LISTING_ROWS).await?;
    let buyers = dashboard_stats::top_buyers(&state.db, seller, since, TOP_BUYERS).await?;
    let page = PageQuery {
        limit: Some(PAYOUT_ROWS),
        cursor: None,
    }
    .parse()?;
    let payouts = crate::payouts::store::list(&state.db, seller, &page).await?;
    Ok(SellerInsights {
        range,
        hold_days: earnings.hold_days,
        cards: earnings
            .items
            .iter()
            .map(|e| EarningsCard {
                currency: e.currency.to_ascii_uppercase(),
                code: e.currency.clone(),
                pending: money(e.pending_cents, &e.currency),
                held: money(e.held_cents, &e.currency),
                available: money(e.available_cents, &e.currency),
                in_transit: (e.in_transit_cents != 0)
                    .then(|| money(e.in_transit_cents, &e.currency)),
                paid_out: money(e.paid_out_cents, &e.currency),
                fee: money(e.platform_fee_cents, &e.currency),
            })
            .collect(),
        revenue: per_currency_charts(&days, first_day, today, range),
        listings: listings
            .into_iter()
            .map(|l| ListingSalesRow {
                revenue: money(l.total_cents, &l.currency),
                listing_id: l.listing_id,
                service_name: l.service_name,
                units: l.units,
                orders: l.orders,
            })
            .collect(),
        buyers: buyers
            .into_iter()
            .map(|b| BuyerRow {
                currency: b.currency.to_ascii_uppercase(),
                who: mask_email(&b.email),
                buyer_id: b.buyer_id,
                spent: money(b.total_cents, &b.currency),
                orders: b.orders,
            })
            .collect(),
        payouts: payouts
            .into_iter()
            .take(usize::try_from(PAYOUT_ROWS).unwrap_or(usize::MAX))
            .map(|(_, p)| PayoutRow {
                amount: money(p.amount_cents, &p.currency),
                status: p.status.as_str(),
                status_label: payout_status_label(p.status),
                simulated: p.simulated,
                provider: match p.provider {
                    PayoutProviderKind::Dev => "Dev provider",
                    PayoutProviderKind::Stripe => "Stripe",
                },
                created: when_rfc3339(&p.created_at),
                id: p.id,
            })
            .collect(),
    })
}

/// How a payout's status reads.
pub fn payout_status_label(status: PayoutStatus) -> &'static str {
    match status {
        PayoutStatus::Pending => "Pending",
        PayoutStatus::Paid => "Paid",
        PayoutStatus::Failed => "Failed",
        PayoutStatus::Reversed => "Reversed",
    }
}

/// `YYYY-MM-DD` of a day number.
fn day_label(day: i64) -> String {
    crate::clock::rfc3339(day * DAY_MS)
        .get(..10)
        .unwrap_or_default()
        .to_owned()
}

/// One revenue chart per currency, every day of the window (days without sales
/// are zero bars).
fn per_currency_charts(days: &[DayTotal], first_day: i64, today: i64, range: i64) -> Vec<BarChart> {
    let mut currencies: Vec<&str> = days.iter().map(|d| d.currency.as_str()).collect();
    currencies.dedup();
    currencies
        .into_iter()
        .map(|currency| {
            let data: Vec<Datum> = (first_day..=today)
                .map(|day| Datum {
                    label: day_label(day),
                    value: days
                        .iter()
                        .filter(|d| d.currency == currency && d.day == day)
                        .map(|d| d.total_cents)
                        .sum(),
                })
                .collect();
            let upper = currency.to_ascii_uppercase();
            let owned = currency.to_owned();
            bar_chart(
                ChartText {
                    id: format!("revenue-{currency}"),
                    title: format!("Revenue per day, {upper}, last {range} days"),
                    label_heading: "Day",
                    value_heading: "Revenue",
                    empty_text: format!("No sales in the last {range} days."),
                },
                &data,
                move |v| money(v, &owned),
            )
        })
        .collect()
}

/// The first day of the month `back` months before `date`'s month.
fn month_start(date: Date, back: u32) -> Date {
    let index = date.year() * 12 + i32::from(u8::from(date.month())) - 1 - back as i32;
    let (year, month) = (index.div_euclid(12), index.rem_euclid(12) + 1);
    let month = Month::try_from(u8::try_from(month).unwrap_or(1)).unwrap_or(Month::January);
    Date::from_calendar_date(year, month, 1).unwrap_or(date)
}

/// A buyer's spending per month over the last `SPENDING_MONTHS` (12) months, one chart
/// per currency they spent in.
pub async fn spending(db: &Db, buyer: &str) -> Result<Vec<BarChart>, sqlx::Error> {
    let today = OffsetDateTime::now_utc().date();
    let months: Vec<Date> = (0..SPENDING_MONTHS)
        .rev()
        .map(|back| month_start(today, back))
        .collect();
    let since = months[0].midnight().assume_utc().unix_timestamp() * 1000;
    let days = dashboard_stats::per_day(db, Party::Buyer, buyer, since).await?;
    let mut currencies: Vec<&str> = days.iter().map(|d| d.currency.as_str()).collect();
    currencies.dedup();
    let month_of = |day: i64| day_label(day).get(..7).unwrap_or_default().to_owned();
    Ok(currencies
        .into_iter()
        .map(|currency| {
            let data: Vec<Datum> = months
                .iter()
                .map(|m| {
                    let label = format!("{:04}-{:02}", m.year(), u8::from(m.month()));
                    let value = days
                        .iter()
                        .filter(|d| d.currency == currency && month_of(d.day) == label)
                        .map(|d| d.total_cents)
                        .sum();
                    Datum { label, value }
                })
                .collect();
            let upper = currency.to_ascii_uppercase();
            let owned = currency.to_owned();
            bar_chart(
                ChartText {
                    id: format!("spending-{currency}"),
                    title: format!("Spending per month, {upper}"),
                    label_heading: "Month",
                    value_heading: "Spent",
                    empty_text: "Nothing spent in these months.".to_owned(),
                },
                &data,
                move |v| money(v, &owned),
            )
        })
        .collect())
}

/// Gateway requests per day over the last [`USAGE_DAYS`] days, for one buyer key or
/// every key of a listing, as a chart with `id` and `title`.
pub async fn usage_chart(
    db: &Db,
    scope: UsageScope<'_>,
    id: String,
    title: String,
) -> Result<BarChart, sqlx::Error> {
    let today = crate::clock::now_ms().div_euclid(DAY_MS);
    let first_day = today - USAGE_DAYS + 1;
    let buckets = crate::gateway::store::usage(db, scope, DAY_MS, first_day * DAY_MS).await?;
    let data: Vec<Datum> = (first_day..=today)
        .map(|day| Datum {
            label: day_label(day),
            value: buckets
                .iter()
                .filter(|(start, _)| start.div_euclid(DAY_MS) == day)
                .map(|(_, n)| *n)
                .sum(),
        })
        .collect();
    Ok(bar_chart(
        ChartText {
            id,
            title,
            label_heading: "Day",
            value_heading: "Requests",
            empty_text: format!("No requests in the last {USAGE_DAYS} days."),
        },
        &data,
        crate::money::count,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_step_back_across_years() {
        let d = Date::from_calendar_date(2026, Month::February, 17).unwrap();
        assert_eq!(month_start(d, 0).to_string(), "2026-02-01");
        assert_eq!(month_start(d, 1).to_string(), "2026-01-01");
        assert_eq!(month_start(d, 2).to_string(), "2025-12-01");
        assert_eq!(month_start(d, 11).to_string(), "2025-03-01");
    }

    #[test]
    fn counts_and_days_read_well() {
        assert_eq!(day_label(0), "1970-01-01");
        assert_eq!(day_label(20_423), "2025-12-01");
        assert_eq!(range_days(Some("90")), 90);
        assert_eq!(range_days(Some("7")), 30);
        assert_eq!(range_days(None), 30);
    }

    #[test]
    fn revenue_charts_never_mix_currencies() {
        let row = |currency: &str, day, total_cents| DayTotal {
            currency: currency.into(),
            day,
            total_cents,
            orders: 1,
        };
        let days = [row("eur", 10, 500), row("usd", 9, 100), row("usd", 10, 250)];
        let charts = per_currency_charts(&days, 8, 10, 3);
        assert_eq!(charts.len(), 2);
        assert_eq!(charts[0].total, "€5.00");
        assert_eq!(charts[1].total, "$3.50");
        assert_eq!(charts[1].bars.len(), 3, "every day of the window");
    }
}
