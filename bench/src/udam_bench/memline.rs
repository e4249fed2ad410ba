//! The server's resident memory sampled every few seconds over a whole run, so that
//! a leak or a ratchet shows as a rising line rather than hiding in one peak figure.

use std::time::Duration;

use tokio::sync::watch;

/// How often resident memory is read.
pub const EVERY: Duration = Duration::from_secs(3);

/// A running sampler; [`Sampler::finish`] stops it and returns the line.
pub struct Sampler {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Vec<(u64, u64)>>,
}

/// Starts reading `/proc/<pid>/status` VmRSS every [`EVERY`].
pub fn start(pid: u32) -> Sampler {
    let (stop, mut stopped) = watch::channel(false);
    let task = tokio::spawn(async move {
        let begun = tokio::time::Instant::now();
        let mut every = tokio::time::interval(EVERY);
        let mut line = Vec::new();
        loop {
            tokio::select! {
                _ = every.tick() => {
                    if let Some(kib) = rss_kib(pid) {
                        line.push((begun.elapsed().as_secs(), kib));
                    }
                }
                _ = stopped.changed() => return line,
            }
        }
    });
    Sampler { stop, task }
}

impl Sampler {
    /// Stops sampling; the samples as `(seconds since start, VmRSS KiB)`.
    pub async fn finish(self) -> Vec<(u64, u64)> {
        let _ = self.stop.send(true);
        self.task.await.unwrap_or_default()
    }
}

/// The line as text: `t=0s 20.1 MiB, t=3s 39.5 MiB, …`.
pub fn render(line: &[(u64, u64)]) -> String {
    line.iter()
        .map(|(t, kib)| format!("t={t}s {:.1} MiB", *kib as f64 / 1024.0))
        .collect::<Vec<_>>()
        .join(", ")
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}
