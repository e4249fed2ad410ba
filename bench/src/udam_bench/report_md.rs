//! The tables of a report, in Markdown (docs/BENCHMARKS.md) and on the terminal.
//!
//! Every ratio is given twice: against the baseline at the same client count, and
//! against the baseline's best row in the same table. A raw baseline that opens
//! one connection per client queues 64 backends on one row lock at 64 clients, so
//! its row there is its worst; comparing only at equal client counts flatters us.

use std::fmt::Write as _;

use super::report::{Report, System, per_commit};

/// UDAM at one client count against one baseline.
pub struct Ratio {
    /// The scenario.
    pub scenario: &'static str,
    /// The baseline.
    pub baseline: System,
    /// Client count of UDAM's row.
    pub clients: usize,
    /// UDAM's operations per second.
    pub ours: f64,
    /// The baseline at the same client count.
    pub same: Option<f64>,
    /// The baseline's best row: (operations per second, client count).
    pub best: Option<(f64, usize)>,
}

fn times(ours: f64, base: Option<f64>) -> String {
    base.filter(|v| *v > 0.0)
        .map_or("–".to_owned(), |v| format!("{:.2}×", ours / v))
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or("unknown".to_owned(), |k| {
        format!("{:.1} MiB", k as f64 / 1024.0)
    })
}

impl Report {
    /// UDAM's rows of `scenario` against `baseline`, at the same clients and at
    /// the baseline's best.
    pub fn ratios(&self, scenario: &'static str, baseline: System) -> Vec<Ratio> {
        let base_rows = || {
            self.rows
                .iter()
                .filter(move |r| r.scenario == scenario && r.system == baseline)
        };
        let best = base_rows()
            .max_by(|a, b| a.per_sec.total_cmp(&b.per_sec))
            .map(|r| (r.per_sec, r.clients));
        self.rows
            .iter()
            .filter(|r| r.scenario == scenario && r.system == System::Udam)
            .map(|r| Ratio {
                scenario,
                baseline,
                clients: r.clients,
                ours: r.per_sec,
                same: base_rows()
                    .find(|b| b.clients == r.clients)
                    .map(|b| b.per_sec),
                best,
            })
            .collect()
    }

    fn all_ratios(&self, pairs: &[(&'static str, System)]) -> Vec<Ratio> {
        pairs
            .iter()
            .flat_map(|(scenario, baseline)| self.ratios(scenario, *baseline))
            .filter(|r| r.best.is_some())
            .collect()
    }

    fn peaks_line(&self) -> String {
        self.peaks
            .iter()
            .map(|(server, kib)| format!("{server}: {}", mib(*kib)))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// The results as Markdown; `pairs` names the (scenario, baseline) ratios.
    pub fn markdown(&self, pairs: &[(&'static str, System)]) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "## Latest full run\n");
        if let Some(banner) = &self.banner {
            let _ = writeln!(s, "> **WARNING: {banner}**\n");
        }
        let _ = writeln!(s, "- Date: {}", self.date);
        let _ = writeln!(s, "- Commit: `{}`", self.commit);
        let _ = writeln!(s, "- Machine: {}", self.machine);
        let _ = writeln!(s, "- Database: {}", self.postgres);
        if let Some(sqlite) = &self.sqlite {
            let _ = writeln!(
                s,
                "- SQLite scenarios: a second `udam serve` on a database file, seeded through SQLite; {sqlite}"
            );
        }
        let _ = writeln!(
            s,
            "- Each run: {:.0} s warm-up, then {:.0} s measured; {} rounds of every run, interleaved; each row is the round with the median throughput (errors are summed over all rounds, and every round's oversell check must pass); load generator, servers and database on the same machine, loopback only",
            self.warmup_secs, self.duration_secs, self.rounds
        );
        let _ = writeln!(s, "- Server settings: {}\n", self.server_settings);
        let _ = writeln!(
            s,
            "| Scenario | System | Clients | ops/s | p50 ms | p99 ms | Errors | Orders per commit | Oversell check |"
        );
        let _ = writeln!(s, "|---|---|---:|---:|---:|---:|---:|---:|---|");
        for r in &self.rows {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {:.0} | {:.2} | {:.2} | {} | {} | {} |",
                r.scenario,
                r.system.label(),
                r.clients,
                r.per_sec,
                r.p50_ms,
                r.p99_ms,
                r.errors,
                per_commit(r.per_commit),
                r.check
            );
        }
        let _ = writeln!(
            s,
            "\nPeak resident memory (VmHWM) over the whole run, every scenario and round included: {}\n",
            self.peaks_line()
        );
        let _ = writeln!(s, "### Ratios\n");
        let _ = writeln!(
            s,
            "Each UDAM row against the baseline at the same client count, and against the baseline's best row in this table.\n"
        );
        let _ = writeln!(
            s,
            "| Scenario | Baseline | Clients | UDAM ops/s | baseline, same clients | UDAM ÷ same | baseline's best (clients) | UDAM ÷ best |"
        );
        let _ = writeln!(s, "|---|---|---:|---:|---:|---:|---:|---:|");
        for r in self.all_ratios(pairs) {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {:.0} | {} | {} | {} | **{}** |",
                r.scenario,
                r.baseline.label(),
                r.clients,
                r.ours,
                r.same.map_or("–".to_owned(), |v| format!("{v:.0}")),
                times(r.ours, r.same),
                r.best
                    .map_or("–".to_owned(), |(v, c)| format!("{v:.0} ({c})")),
                times(r.ours, r.best.map(|(v, _)| v)),
            );
        }
        let _ = writeln!(
            s,
            "\n### Where the CPU went (cores busy, of {})\n",
            std::thread::available_parallelism().map_or(1, |n| n.get())
        );
        let _ = writeln!(
            s,
            "| Scenario | System | Clients | load generator | server (udam, or nginx) | postgres | other | idle |"
        );
        let _ = writeln!(s, "|---|---|---:|---:|---:|---:|---:|---:|");
        for r in &self.rows {
            let c = &r.cpu;
            let _ = writeln!(
                s,
                "| {} | {} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |",
                r.scenario,
                r.system.label(),
                r.clients,
                c.bench,
                c.server,
                c.postgres,
                c.other,
                c.idle
            );
        }
        s
    }

    /// The results as a plain terminal table.
    pub fn terminal(&self, pairs: &[(&'static str, System)]) -> String {
        let mut s = String::new();
        if let Some(banner) = &self.banner {
            let _ = writeln!(s, "{0}\nWARNING: {banner}\n{0}", "!".repeat(78));
        }
        let _ = writeln!(
            s,
            "{:<40} {:<36} {:>7} {:>9} {:>8} {:>8} {:>6} {:>7}  check",
            "scenario", "system", "clients", "ops/s", "p50 ms", "p99 ms", "errors", "/commit"
        );
        for r in &self.rows {
            let _ = writeln!(
                s,
                "{:<40} {:<36} {:>7} {:>9.0} {:>8.2} {:>8.2} {:>6} {:>7}  {}",
                r.scenario,
                r.system.label(),
                r.clients,
                r.per_sec,
                r.p50_ms,
                r.p99_ms,
                r.errors,
                per_commit(r.per_commit),
                r.check
            );
        }
        let _ = writeln!(s);
        for r in self.all_ratios(pairs) {
            let _ = writeln!(
                s,
                "{}, {:>2} clients: UDAM {:.0}/s = {} {} at {} clients, {} its best ({})",
                r.scenario,
                r.clients,
                r.ours,
                times(r.ours, r.same),
                r.baseline.label(),
                r.clients,
                times(r.ours, r.best.map(|(v, _)| v)),
                r.best.map_or("–".to_owned(), |(v, c)| format!(
                    "{v:.0}/s at {c} clients"
                )),
            );
        }
        let _ = writeln!(s, "peak RSS (VmHWM): {}", self.peaks_line());
        s
    }
}
