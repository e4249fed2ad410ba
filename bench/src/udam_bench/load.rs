//! The HTTP load generator: N tasks, each with its own keep-alive HTTP/1.1
//! connection (as wrk does), sending one request at a time for a fixed warm-up and
//! then a fixed measured duration.
//!
//! It uses hyper's bare connection API rather than a pooled client: on two shared
//! cores every microsecond the generator spends is taken from the server it
//! measures, and a bare connection does no URL parsing, pooling or redirect work.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::stats::Samples;

/// Builds the `i`-th request of task `task`.
pub type MakeRequest = Arc<dyn Fn(usize, u64) -> Request<Full<Bytes>> + Send + Sync>;

/// The status a successful answer to task `task`'s requests has.
pub type Expect = Arc<dyn Fn(usize) -> StatusCode + Send + Sync>;

/// Every task expects `status`.
pub fn always(status: StatusCode) -> Expect {
    Arc::new(move |_| status)
}

/// One load run.
pub struct Load {
    /// The server.
    pub addr: SocketAddr,
    /// Concurrent connections, one task each.
    pub clients: usize,
    /// Untimed run-in.
    pub warmup: Duration,
    /// Timed part.
    pub duration: Duration,
    /// The status a successful answer has, per task.
    pub expect: Expect,
    /// The requests.
    pub make: MakeRequest,
}

/// What one load run saw.
pub struct Outcome {
    /// Latencies of the measured successes.
    pub samples: Samples,
    /// Measured answers with another status, and transport errors.
    pub errors: u64,
    /// Successes over the whole run, warm-up included (for the oversell check).
    pub ok_total: u64,
    /// Errors over the whole run, warm-up included.
    pub errors_total: u64,
    /// Successes and errors over the whole run, per task (a mixed run checks
    /// only the tasks that buy).
    pub totals_by_task: Vec<(u64, u64)>,
    /// A few distinct error descriptions, for the report.
    pub error_examples: Vec<String>,
}

struct TaskResult {
    latencies_us: Vec<u32>,
    measured_errors: u64,
    ok_total: u64,
    errors_total: u64,
    first_error: Option<String>,
}

/// Runs the load and gathers the results.
pub async fn run(load: &Load) -> anyhow::Result<Outcome> {
    let start = Instant::now();
    let measure_from = start + load.warmup;
    let stop_at = measure_from + load.duration;
    let mut tasks = Vec::with_capacity(load.clients);
    for task in 0..load.clients {
        let make = load.make.clone();
        let addr = load.addr;
        let expect = (load.expect)(task);
        tasks.push(tokio::spawn(async move {
            drive(addr, task, make, expect, measure_from, stop_at).await
        }));
    }
    let mut samples = Vec::new();
    let mut outcome = Outcome {
        samples: Samples::default(),
        errors: 0,
        ok_total: 0,
        errors_total: 0,
        totals_by_task: Vec::with_capacity(load.clients),
        error_examples: Vec::new(),
    };
    for task in tasks {
        let r = task.await?;
        samples.extend(r.latencies_us);
        outcome.errors += r.measured_errors;
        outcome.ok_total += r.ok_total;
        outcome.errors_total += r.errors_total;
        outcome.totals_by_task.push((r.ok_total, r.errors_total));
        if let Some(e) = r.first_error
            && outcome.error_examples.len() < 3
            && !outcome.error_examples.contains(&e)
        {
            outcome.error_examples.push(e);
        }
    }
    outcome.samples = Samples::new(samples, load.duration);
    Ok(outcome)
}

type Sender = http1::SendRequest<Full<Bytes>>;

async fn connect(addr: SocketAddr) -> anyhow::Result<Sender> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        // The connection ends when the task drops its sender; errors show up there.
        let _ = conn.await;
    });
    Ok(sender)
}

async fn drive(
    addr: SocketAddr,
    task: usize,
    make: MakeRequest,
    expect: StatusCode,
    measure_from: Instant,
    stop_at: Instant,
) -> TaskResult {
    let mut result = TaskResult {
        latencies_us: Vec::with_capacity(65_536),
        measured_errors: 0,
        ok_total: 0,
        errors_total: 0,
        first_error: None,
    };
    let mut sender: Option<Sender> = None;
    let mut seq = 0u64;
    loop {
        let now = Instant::now();
        if now >= stop_at {
            break;
        }
        let measured = now >= measure_from;
        let answer = send_one(addr, &mut sender, make(task, seq)).await;
        seq += 1;
        let took = now.elapsed();
        match answer {
            Ok((status, _)) if status == expect => {
                result.ok_total += 1;
                if measured {
                    result
                        .latencies_us
                        .push(u32::try_from(took.as_micros()).unwrap_or(u32::MAX));
                }
            }
            other => {
                result.errors_total += 1;
                if measured {
                    result.measured_errors += 1;
                }
                if result.first_error.is_none() {
                    result.first_error = Some(match other {
                        Ok((status, body)) => format!(
                            "{status}: {}",
                            String::from_utf8_lossy(&body[..body.len().min(200)])
                        ),
                        Err(err) => format!("transport: {err:#}"),
                    });
                }
                // A transport error leaves the connection unusable; open a new one.
                if sender.as_ref().is_none_or(|s| s.is_closed()) {
                    sender = None;
                }
            }
        }
    }
    result
}

async fn send_one(
    addr: SocketAddr,
    sender: &mut Option<Sender>,
    request: Request<Full<Bytes>>,
) -> anyhow::Result<(StatusCode, Bytes)> {
    if sender.as_ref().is_none_or(|s| s.is_closed()) {
        *sender = Some(connect(addr).await?);
    }
    let Some(s) = sender.as_mut() else {
        anyhow::bail!("no connection");
    };
    let answer = async {
        s.ready().await?;
        let response = s.send_request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        anyhow::Ok((status, body))
    }
    .await;
    if answer.is_err() {
        *sender = None;
    }
    answer
}
