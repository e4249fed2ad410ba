//! The results: a table on the terminal and the generated part of
//! docs/BENCHMARKS.md (between two markers, so the prose around it stays).

use std::fmt::Write as _;
use std::path::Path;

use super::cpu::Split;

/// Marks where the generated results start in docs/BENCHMARKS.md.
pub const BEGIN: &str = "<!-- udam-bench:results:begin -->";
/// Marks where they end.
pub const END: &str = "<!-- udam-bench:results:end -->";

/// Which system a row measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum System {
    /// UDAM's HTTP API (auth, order, grant, over HTTP).
    Udam,
    /// The seed's transaction, raw SQL.
    SeedTxn,
    /// The single conditional statement, raw SQL.
    SingleStatement,
}

impl System {
    fn label(self) -> &'static str {
        match self {
            System::Udam => "UDAM HTTP API",
            System::SeedTxn => "seed transaction, raw SQL",
            System::SingleStatement => "single statement, raw SQL",
        }
    }
}

/// One measured run.
#[derive(Clone)]
pub struct Row {
    /// Scenario letter and name.
    pub scenario: &'static str,
    /// What ran.
    pub system: System,
    /// Concurrent clients.
    pub clients: usize,
    /// Successful operations per second.
    pub per_sec: f64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 99th percentile latency, ms.
    pub p99_ms: f64,
    /// Failed operations in the measured window.
    pub errors: u64,
    /// The oversell check, when the scenario buys.
    pub check: String,
    /// Orders per committed transaction (all rounds so far), when it buys.
    pub per_commit: Option<f64>,
    /// Where the CPU went during the measured window.
    pub cpu: Split,
}

/// Everything a report shows.
pub struct Report {
    /// UTC date and time of the run.
    pub date: String,
    /// `git describe` of the code measured.
    pub commit: String,
    /// nproc, memory, CPU model.
    pub machine: String,
    /// PostgreSQL version and the settings that matter.
    pub postgres: String,
    /// Warm-up and measured seconds per run.
    pub warmup_secs: f64,
    /// Measured seconds per run.
    pub duration_secs: f64,
    /// Rounds of each run.
    pub rounds: usize,
    /// Server settings used.
    pub server_settings: String,
    /// The runs.
    pub rows: Vec<Row>,
    /// VmHWM of the server over the whole run, KiB.
    pub peak_rss_kib: Option<u64>,
    /// True when any check failed or any run had errors.
    pub failed: bool,
}

impl Report {
    fn find(&self, scenario: &str, system: System, clients: usize) -> Option<&Row> {
        self.rows
            .iter()
            .find(|r| r.scenario == scenario && r.system == system && r.clients == clients)
    }

    /// The ratio rows: (clients, ours, seed txn, single statement).
    pub fn ratios(&self, scenario: &str) -> Vec<(usize, f64, Option<f64>, Option<f64>)> {
        let mut out = Vec::new();
        for r in self
            .rows
            .iter()
            .filter(|r| r.scenario == scenario && r.system == System::Udam)
        {
            out.push((
                r.clients,
                r.per_sec,
                self.find(scenario, System::SeedTxn, r.clients)
                    .map(|s| s.per_sec),
                self.find(scenario, System::SingleStatement, r.clients)
                    .map(|s| s.per_sec),
            ));
        }
        out
    }

    /// The results as Markdown.
    pub fn markdown(&self, hot_scenario: &str) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "## Latest full run\n");
        let _ = writeln!(s, "- Date: {}", self.date);
        let _ = writeln!(s, "- Commit: `{}`", self.commit);
        let _ = writeln!(s, "- Machine: {}", self.machine);
        let _ = writeln!(s, "- Database: {}", self.postgres);
        let _ = writeln!(
            s,
            "- Each run: {:.0} s warm-up, then {:.0} s measured; {} rounds of every run, interleaved; each row is the round with the median throughput (errors are summed over all rounds, and every round's oversell check must pass); load generator, server and database on the same machine, loopback only",
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
            "\nPeak resident memory of the server (VmHWM) over the whole run, every scenario and round included: {}\n",
            self.peak_rss_kib.map_or("unknown".to_owned(), |k| format!(
                "{:.1} MiB",
                k as f64 / 1024.0
            ))
        );
        let _ = writeln!(s, "### Ratios on one hot listing\n");
        let _ = writeln!(
            s,
            "| Clients | UDAM HTTP purchases/s | Seed txn raw/s | UDAM ÷ seed txn | Single stmt raw/s | UDAM ÷ single stmt |"
        );
        let _ = writeln!(s, "|---:|---:|---:|---:|---:|---:|");
        for (clients, ours, seed, single) in self.ratios(hot_scenario) {
            let cell = |x: Option<f64>| x.map_or("–".to_owned(), |v| format!("{v:.0}"));
            let ratio = |x: Option<f64>| {
                x.filter(|v| *v > 0.0)
                    .map_or("–".to_owned(), |v| format!("{:.2}×", ours / v))
            };
            let _ = writeln!(
                s,
                "| {clients} | {ours:.0} | {} | **{}** | {} | **{}** |",
                cell(seed),
                ratio(seed),
                cell(single),
                ratio(single)
            );
        }
        let _ = writeln!(
            s,
            "\n### Where the CPU went (cores busy, of {})\n",
            std::thread::available_parallelism().map_or(1, |n| n.get())
        );
        let _ = writeln!(
            s,
            "| Scenario | System | Clients | load generator | udam server | postgres | other | idle |"
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
    pub fn terminal(&self, hot_scenario: &str) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{:<34} {:<28} {:>7} {:>9} {:>8} {:>8} {:>6} {:>7}  check",
            "scenario", "system", "clients", "ops/s", "p50 ms", "p99 ms", "errors", "/commit"
        );
        for r in &self.rows {
            let _ = writeln!(
                s,
                "{:<34} {:<28} {:>7} {:>9.0} {:>8.2} {:>8.2} {:>6} {:>7}  {}",
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
        for (clients, ours, seed, single) in self.ratios(hot_scenario) {
            let ratio = |x: Option<f64>| {
                x.filter(|v| *v > 0.0)
                    .map_or("–".to_owned(), |v| format!("{:.2}×", ours / v))
            };
            let _ = writeln!(
                s,
                "hot listing, {clients:>2} clients: UDAM {ours:.0}/s = {} the seed txn raw, {} the single statement raw",
                ratio(seed),
                ratio(single)
            );
        }
        let _ = writeln!(
            s,
            "server peak RSS (VmHWM): {}",
            self.peak_rss_kib.map_or("unknown".to_owned(), |k| format!(
                "{:.1} MiB",
                k as f64 / 1024.0
            ))
        );
        s
    }
}

fn per_commit(x: Option<f64>) -> String {
    x.map_or("–".to_owned(), |v| format!("{v:.1}"))
}

/// Collapses the rounds of each (scenario, system, clients) into the round with
/// the median throughput; errors are summed, and a failed check in any round
/// replaces the median round's check.
pub fn medians(rows: Vec<Row>) -> Vec<Row> {
    let mut keys: Vec<(&'static str, System, usize)> = Vec::new();
    for r in &rows {
        let key = (r.scenario, r.system, r.clients);
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    keys.into_iter()
        .filter_map(|key| {
            let mut group: Vec<&Row> = rows
                .iter()
                .filter(|r| (r.scenario, r.system, r.clients) == key)
                .collect();
            group.sort_by(|a, b| a.per_sec.total_cmp(&b.per_sec));
            let mut median = (*group.get(group.len() / 2)?).clone();
            median.errors = group.iter().map(|r| r.errors).sum();
            if let Some(bad) = group.iter().find(|r| r.check.starts_with("FAILED")) {
                median.check = bad.check.clone();
            }
            Some(median)
        })
        .collect()
}

/// Replaces the generated part of `path` (or appends it, or creates the file).
pub fn write_markdown(path: &Path, generated: &str) -> anyhow::Result<()> {
    let block = format!("{BEGIN}\n{generated}{END}\n");
    let text = match std::fs::read_to_string(path) {
        Ok(old) => match (old.find(BEGIN), old.find(END)) {
            (Some(b), Some(e)) if e > b => {
                format!(
                    "{}{block}{}",
                    &old[..b],
                    old[e + END.len()..].trim_start_matches('\n')
                )
            }
            _ => format!("{}\n{block}", old.trim_end()),
        },
        Err(_) => format!("# Benchmarks\n\n{block}"),
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, text)?;
    Ok(())
}

/// nproc, memory and CPU model of this machine.
pub fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_kib: u64 = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    format!(
        "{cores} cores (nproc), {:.1} GiB memory, {model}",
        mem_kib as f64 / 1024.0 / 1024.0
    )
}

/// `git describe --always --dirty` of the working tree, or "unknown".
pub fn commit() -> String {
    std::process::Command::new("git")
        .args(["describe", "--always", "--dirty", "--abbrev=12"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Now, as `2026-11-28 18:22 UTC`.
pub fn date() -> String {
    let now = time::OffsetDateTime::now_utc();
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    now.format(&format).unwrap_or_default()
}
