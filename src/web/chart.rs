//! Bar charts drawn on the server as inline SVG: no script, nothing loaded from
//! elsewhere, colours from classes in `static/app.css` (so the page's CSP needs
//! nothing new). Every chart carries its numbers again as a `<table>` inside a
//! `<details>`, for screen readers and for anyone who wants the figures.
//!
//! A chart shows one series in one unit: the caller makes one chart per currency,
//! so amounts in different currencies are never summed or drawn on one scale.
//! Values are integers (minor units, requests); the caller says how they read
//! (`$12.50`, `1,200 requests`), so the axis labels use the money formatting.
//!
//! The geometry is plain arithmetic on a fixed `viewBox` ([`WIDTH`] × [`HEIGHT`]);
//! the SVG scales to the width of the page with CSS.

use std::fmt;

use askama::Template;

/// Width of the drawing, in `viewBox` units.
pub const WIDTH: f64 = 640.0;
/// Height of the drawing, in `viewBox` units.
pub const HEIGHT: f64 = 210.0;
/// Room on the left for the value labels.
const LEFT: f64 = 76.0;
/// Room on the right, so the last date label fits.
const RIGHT: f64 = 10.0;
/// Room above the top grid line.
const TOP: f64 = 10.0;
/// Room below the plot for the date labels and the axis title.
const BOTTOM: f64 = 44.0;
/// Grid intervals on the value axis.
const TICKS: i64 = 4;
/// The widest a bar gets, so one day is not drawn as a slab.
const MAX_BAR: f64 = 40.0;
/// Above this many bars, only the first, middle and last get a date label.
const ALL_LABELS_UP_TO: usize = 7;

/// Width of the plotting area.
pub const PLOT_WIDTH: f64 = WIDTH - LEFT - RIGHT;
/// Height of the plotting area.
pub const PLOT_HEIGHT: f64 = HEIGHT - TOP - BOTTOM;

/// One bar: its label on the category axis (a day, a month) and its value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Datum {
    /// What the bar stands for (`2026-11-28`).
    pub label: String,
    /// Its value (minor units, requests, units). Below zero draws as zero.
    pub value: i64,
}

/// The words of a chart.
pub struct ChartText {
    /// Unique on the page: prefixes the ids the SVG's accessible name points to.
    pub id: String,
    /// What the chart shows (`Revenue per day, USD`); its accessible name.
    pub title: String,
    /// The category axis title and table heading (`Day`).
    pub label_heading: &'static str,
    /// The value table heading (`Revenue`).
    pub value_heading: &'static str,
    /// What the table says when every value is zero (`No sales in these 30 days.`).
    pub empty_text: String,
}

/// A coordinate, written with at most one decimal (`12.5`, `40`).
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd)]
pub struct Px(pub f64);

impl fmt::Display for Px {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tenths = (self.0 * 10.0).round() / 10.0;
        if tenths.fract() == 0.0 {
            write!(f, "{tenths:.0}")
        } else {
            write!(f, "{tenths:.1}")
        }
    }
}

/// A drawn bar.
#[derive(Debug)]
pub struct Bar {
    /// Left edge.
    pub x: Px,
    /// Top edge.
    pub y: Px,
    /// Width.
    pub width: Px,
    /// Height (zero for a zero value).
    pub height: Px,
    /// Its tooltip: `2026-11-28: $12.50`.
    pub tip: String,
}

/// A grid line with its value label.
#[derive(Debug)]
pub struct Tick {
    /// Height of the line.
    pub y: Px,
    /// Its value, formatted.
    pub text: String,
}

/// A label under the category axis.
#[derive(Debug)]
pub struct AxisLabel {
    /// Where it is anchored.
    pub x: Px,
    /// `start`, `middle` or `end` (SVG `text-anchor`).
    pub anchor: &'static str,
    /// The text.
    pub text: String,
}

/// A row of the table fallback.
#[derive(Debug)]
pub struct TableRow {
    /// The category.
    pub label: String,
    /// The value, formatted.
    pub value: String,
}

/// A bar chart ready to render (`{{ chart|safe }}` in a page: its own template
/// escapes every text in it).
#[derive(Template)]
#[template(path = "chart.html")]
pub struct BarChart {
    /// The words.
    pub text: ChartText,
    /// The bars, in the order given.
    pub bars: Vec<Bar>,
    /// Grid lines, bottom (zero) first.
    pub ticks: Vec<Tick>,
    /// Labels under the category axis.
    pub labels: Vec<AxisLabel>,
    /// Rows of the table: the non-zero values only.
    pub rows: Vec<TableRow>,
    /// The sum of the values, formatted.
    pub total: String,
    /// One sentence for the SVG's description (total and the highest bar).
    pub summary: String,
    /// True when every value is zero (or there is none).
    pub empty: bool,
    /// `viewBox` width, for the template.
    pub width: Px,
    /// `viewBox` height, for the template.
    pub height: Px,
    /// Left edge of the plot (value labels end here).
    pub plot_left: Px,
    /// Right edge of the plot.
    pub plot_right: Px,
    /// The baseline (value zero).
    pub baseline: Px,
    /// Where the category axis title sits.
    pub axis_title_x: Px,
    /// Its height.
    pub axis_title_y: Px,
    /// Where date labels sit.
    pub label_y: Px,
}

/// The top of the value axis: the smallest `TICKS × step` at or above `max`, with a
/// step of 1, 2, 2.5 or 5 times a power of ten (so the grid reads `0, 250, 500, …`).
pub fn nice_top(max: i64) -> i64 {
    if max <= 0 {
        return 0;
    }
    let raw = max / TICKS + i64::from(max % TICKS != 0);
    let mut magnitude: i64 = 1;
    while magnitude.saturating_mul(10) <= raw {
        magnitude = magnitude.saturating_mul(10);
    }
    // 2.5 only where it stays a whole number.
    let quarter = if magnitude >= 10 {
        magnitude / 2 * 5
    } else {
        magnitude * 5
    };
    let step = [
        magnitude,
        magnitude.saturating_mul(2),
        quarter,
        magnitude.saturating_mul(5),
        magnitude.saturating_mul(10),
    ]
    .into_iter()
    .find(|s| *s >= raw)
    .unwrap_or(raw);
    step.saturating_mul(TICKS)
}

/// Lays out `data` as bars, formatting values with `format`.
pub fn bar_chart(text: ChartText, data: &[Datum], format: impl Fn(i64) -> String) -> BarChart {
    let max = data.iter().map(|d| d.value).max().unwrap_or(0).max(0);
    let top = nice_top(max);
    let baseline = TOP + PLOT_HEIGHT;
    let count = data.len().max(1) as f64;
    let slot = PLOT_WIDTH / count;
    let width = (slot * 0.8).clamp(0.5, MAX_BAR);
    let center = |i: usize| LEFT + slot * i as f64 + slot / 2.0;
    let bars = data
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let height = bar_height(d.value, top);
            Bar {
                x: Px(center(i) - width / 2.0),
                y: Px(baseline - height),
                width: Px(width),
                height: Px(height),
                tip: format!("{}: {}", d.label, format(d.value)),
            }
        })
        .collect();
    let ticks = (0..=TICKS)
        .filter(|i| top > 0 || *i == 0)
        .map(|i| Tick {
            y: Px(baseline - PLOT_HEIGHT * i as f64 / TICKS as f64),
            text: format(top / TICKS * i),
        })
        .collect();
    let labels = label_positions(data.len())
        .into_iter()
        .map(|(i, anchor)| AxisLabel {
            x: Px(match anchor {
                "start" => center(i) - width / 2.0,
                "end" => center(i) + width / 2.0,
                _ => center(i),
            }),
            anchor,
            text: data[i].label.clone(),
        })
        .collect();
    let total: i64 = data.iter().map(|d| d.value).sum();
    let highest = data.iter().filter(|d| d.value > 0).max_by_key(|d| d.value);
    let summary = match highest {
        Some(h) => format!(
            "{} in all over {} {}; highest {} on {}.",
            format(total),
            data.len(),
            plural(data.len(), text.label_heading),
            format(h.value),
            h.label
        ),
        None => text.empty_text.clone(),
    };
    BarChart {
        rows: data
            .iter()
            .filter(|d| d.value != 0)
            .map(|d| TableRow {
                label: d.label.clone(),
                value: format(d.value),
            })
            .collect(),
        empty: highest.is_none(),
        total: format(total),
        summary,
        text,
        bars,
        ticks,
        labels,
        width: Px(WIDTH),
        height: Px(HEIGHT),
        plot_left: Px(LEFT),
        plot_right: Px(WIDTH - RIGHT),
        baseline: Px(baseline),
        axis_title_x: Px(LEFT + PLOT_WIDTH / 2.0),
        axis_title_y: Px(HEIGHT - 4.0),
        label_y: Px(baseline + 18.0),
    }
}

/// A bar's height: in proportion to `top`, at least one unit when above zero (so a
/// small day still shows), nothing at or below zero.
fn bar_height(value: i64, top: i64) -> f64 {
    if value <= 0 || top <= 0 {
        return 0.0;
    }
    (PLOT_HEIGHT * value as f64 / top as f64).max(1.0)
}

/// Which bars get a label, and how it is anchored: all of a few; of many, the first
/// (anchored at its start), the middle and the last (anchored at its end).
fn label_positions(count: usize) -> Vec<(usize, &'static str)> {
    match count {
        0 => Vec::new(),
        1 => vec![(0, "middle")],
        n if n <= ALL_LABELS_UP_TO => (0..n).map(|i| (i, "middle")).collect(),
        n => vec![(0, "start"), (n / 2, "middle"), (n - 1, "end")],
    }
}

/// `day` → `days` for the summary sentence.
fn plural(count: usize, heading: &str) -> String {
    let word = heading.to_lowercase();
    if count == 1 { word } else { format!("{word}s") }
}

impl BarChart {
    /// The accessible name's element id.
    pub fn title_id(&self) -> String {
        format!("{}-title", self.text.id)
    }

    /// The description's element id.
    pub fn desc_id(&self) -> String {
        format!("{}-desc", self.text.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text() -> ChartText {
        ChartText {
            id: "c".into(),
            title: "Revenue per day, USD".into(),
            label_heading: "Day",
            value_heading: "Revenue",
            empty_text: "No sales.".into(),
        }
    }

    fn days(values: &[i64]) -> Vec<Datum> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| Datum {
                label: format!("day {i}"),
                value: *v,
            })
            .collect()
    }

    fn plain(v: i64) -> String {
        v.to_string()
    }

    #[test]
    fn tops_are_round_and_cover_the_maximum() {
        assert_eq!(nice_top(0), 0);
        assert_eq!(nice_top(-5), 0);
        assert_eq!(nice_top(1), 4);
        assert_eq!(nice_top(3), 4);
        assert_eq!(nice_top(5), 8);
        assert_eq!(nice_top(1000), 1000);
        assert_eq!(nice_top(1001), 2000);
        assert_eq!(nice_top(2350), 4000);
        assert!(nice_top(i64::MAX / 2) >= i64::MAX / 2);
        for max in 1..5000 {
            let top = nice_top(max);
            assert!(top >= max && top % TICKS == 0, "{max} -> {top}");
        }
    }

    #[test]
    fn bars_scale_to_the_top_of_the_axis() {
        let chart = bar_chart(text(), &days(&[0, 500, 1000]), plain);
        assert_eq!(chart.bars.len(), 3);
        assert_eq!(chart.bars[0].height, Px(0.0));
        assert!(
            (chart.bars[2].height.0 - PLOT_HEIGHT).abs() < 1e-9,
            "1000 of 1000"
        );
        assert!((chart.bars[1].height.0 - PLOT_HEIGHT / 2.0).abs() < 1e-9);
        for bar in &chart.bars {
            assert!(
                (bar.y.0 + bar.height.0 - chart.baseline.0).abs() < 1e-9,
                "on the baseline"
            );
            assert!(bar.x.0 >= LEFT && bar.x.0 + bar.width.0 <= WIDTH - RIGHT);
        }
        // Left to right, without overlapping.
        assert!(
            chart
                .bars
                .windows(2)
                .all(|w| w[0].x.0 + w[0].width.0 <= w[1].x.0)
        );
        let ticks: Vec<&str> = chart.ticks.iter().map(|t| t.text.as_str()).collect();
        assert_eq!(ticks, ["0", "250", "500", "750", "1000"]);
        assert_eq!(chart.total, "1500");
        assert_eq!(chart.rows.len(), 2, "zero days are left out of the table");
        assert!(!chart.empty);
    }

    #[test]
    fn an_empty_series_draws_an_empty_axis() {
        for data in [days(&[]), days(&[0; 30])] {
            let chart = bar_chart(text(), &data, plain);
            assert!(chart.empty);
            assert!(chart.bars.iter().all(|b| b.height == Px(0.0)));
            assert_eq!(chart.ticks.len(), 1, "only the zero line");
            assert!(chart.rows.is_empty());
            assert_eq!(chart.summary, "No sales.");
            let html = chart.render().expect("renders");
            assert!(html.contains("No sales."), "{html}");
        }
    }

    #[test]
    fn one_bar_is_centred_and_not_a_slab() {
        let chart = bar_chart(text(), &days(&[7]), plain);
        let bar = &chart.bars[0];
        assert_eq!(bar.width, Px(MAX_BAR));
        let middle = bar.x.0 + bar.width.0 / 2.0;
        assert!((middle - (LEFT + PLOT_WIDTH / 2.0)).abs() < 1e-9);
        assert_eq!(chart.labels.len(), 1);
        assert_eq!(chart.labels[0].anchor, "middle");
    }

    #[test]
    fn many_bars_fit_and_get_three_labels() {
        let values: Vec<i64> = (0..90).map(|i| i * 3).collect();
        let chart = bar_chart(text(), &days(&values), plain);
        assert_eq!(chart.bars.len(), 90);
        let last = chart.bars.last().unwrap();
        assert!(last.x.0 + last.width.0 <= WIDTH - RIGHT + 1e-9);
        let labels: Vec<&str> = chart.labels.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(labels, ["day 0", "day 45", "day 89"]);
        // A tiny non-zero value still shows.
        let chart = bar_chart(text(), &days(&[1, 1_000_000]), plain);
        assert_eq!(chart.bars[0].height, Px(1.0));
    }

    #[test]
    fn text_is_escaped_and_the_table_is_there() {
        let mut t = text();
        t.title = "<script>alert(1)</script> & co".into();
        let data = vec![Datum {
            label: "\"><b>x".into(),
            value: 5,
        }];
        let html = bar_chart(t, &data, plain).render().expect("renders");
        assert!(
            !html.contains("<script>") && !html.contains("<b>"),
            "{html}"
        );
        assert!(html.contains("&#60;script&#62;"), "{html}");
        assert!(html.contains("<table") && html.contains("<svg"), "{html}");
    }

    #[test]
    fn coordinates_print_short() {
        assert_eq!(Px(12.0).to_string(), "12");
        assert_eq!(Px(12.25).to_string(), "12.3");
        assert_eq!(Px(0.04).to_string(), "0");
    }
}
