//! Where the CPU time of a run went: the load generator (this process), the server,
//! PostgreSQL (every `postgres` process, including other users of a shared
//! server), and the rest of the machine, from /proc in clock ticks.

/// Linux reports process times in USER_HZ, which is 100 on every mainstream build.
const TICKS_PER_SEC: f64 = 100.0;

/// Cumulative CPU ticks at one moment.
#[derive(Clone, Copy, Default)]
pub struct Snapshot {
    bench: u64,
    server: u64,
    postgres: u64,
    busy: u64,
    total: u64,
}

/// CPU seconds per second of wall time (2.0 = both cores of a 2-core machine).
#[derive(Clone, Copy, Default)]
pub struct Split {
    /// The load generator (this process).
    pub bench: f64,
    /// The server measured: `udam serve`, or nginx's processes in its runs.
    pub server: f64,
    /// All `postgres` processes.
    pub postgres: f64,
    /// Everything else that was busy.
    pub other: f64,
    /// Idle.
    pub idle: f64,
}

fn process_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

fn postgres_ticks() -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    dir.filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|name| name.bytes().all(|b| b.is_ascii_digit()))
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim() == "postgres")
        })
        .filter_map(|pid| process_ticks(&pid))
        .sum()
}

fn machine_ticks() -> (u64, u64) {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else {
        return (0, 0);
    };
    let Some(cpu) = stat.lines().next() else {
        return (0, 0);
    };
    let v: Vec<u64> = cpu
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: u64 = v.iter().take(8).sum();
    // idle + iowait
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    (total.saturating_sub(idle), total)
}

/// Reads the counters now. Backends that ended between two snapshots take
/// their ticks with them, which is why raw runs keep their connections open.
pub fn snapshot(server_pid: u32) -> Snapshot {
    let (busy, total) = machine_ticks();
    Snapshot {
        bench: process_ticks("self").unwrap_or(0),
        // With its children: nginx serves from worker processes.
        server: super::gateway_parts::tree_ticks(server_pid),
        postgres: postgres_ticks(),
        busy,
        total,
    }
}

/// The split between two snapshots taken `secs` apart.
pub fn split(a: &Snapshot, b: &Snapshot, secs: f64) -> Split {
    let per = |x: u64, y: u64| (y.saturating_sub(x)) as f64 / TICKS_PER_SEC / secs;
    let cores = std::thread::available_parallelism().map_or(1.0, |n| n.get() as f64);
    let bench = per(a.bench, b.bench);
    let server = per(a.server, b.server);
    let postgres = per(a.postgres, b.postgres);
    let busy_total = b.busy.saturating_sub(a.busy) as f64;
    let all_total = b.total.saturating_sub(a.total) as f64;
    let busy = if all_total > 0.0 {
        busy_total / all_total * cores
    } else {
        0.0
    };
    Split {
        bench,
        server,
        postgres,
        other: (busy - bench - server - postgres).max(0.0),
        idle: (cores - busy).max(0.0),
    }
}
