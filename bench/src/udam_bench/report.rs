//! The results: the rows of a run, the round kept of each, and the generated part
//! of docs/BENCHMARKS.md (between two markers, so the prose around it stays); the
//! tables themselves are drawn in `report_md.rs`.

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
    /// nginx serving the same bytes as a static file.
    NginxStatic,
}

impl System {
    /// The name in the tables.
    pub fn label(self) -> &'static str {
        match self {
            System::Udam => "UDAM HTTP API",
            System::SeedTxn => "seed transaction, raw SQL",
            System::SingleStatement => "single statement, raw SQL",
            System::NginxStatic => "nginx, same bytes as a static file",
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
    /// SQLite version and journal mode, when the SQLite scenarios ran.
    pub sqlite: Option<String>,
    /// A loud warning shown above the tables (e.g. fsync off); a run with one
    /// writes nothing.
    pub banner: Option<String>,
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
    /// VmHWM of each server (PostgreSQL, SQLite) over the whole run, KiB.
    pub peaks: Vec<(&'static str, Option<u64>)>,
    /// True when any check failed or any run had errors.
    pub failed: bool,
}

/// Orders per commit as the tables show it.
pub fn per_commit(x: Option<f64>) -> String {
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
