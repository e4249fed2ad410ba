//! SQLite's one writer: every write transaction of the process runs on a single
//! connection, and queued write jobs share its transactions.
//!
//! SQLite lets one connection write at a time, whatever the number of connections.
//! With a pool of writers, the losers of the file lock wait in SQLite's busy
//! handler, which *sleeps* (up to 100 ms a time) instead of queueing: under load
//! the tail of a write was a second (issue 16, item 6). Here the process has one
//! write connection ([`Writer::pool`], a pool of exactly one), so writers of this
//! process queue for it in arrival order and never sleep on the file lock; the busy
//! timeout stays for writers of *other* processes on the same file. Every write of
//! the process takes it: batched jobs ([`crate::db::Db::write`]), transactions
//! ([`crate::db::Db::begin_write`]) and single statements ([`crate::db::Db::writes`]);
//! the read pool ([`crate::db::Db::pool`]) only reads, and refuses writes (`PRAGMA
//! query_only`). (From the read pool, a sign-in's session insert would wait out a
//! purchase batch in the busy handler, sleeping, as the webhook worker's claim did:
//! docs/BENCHMARKS.md, "SQLite writes".)
//!
//! Jobs submitted through [`crate::db::Db::write`] go further: the jobs that queue
//! while a batch is in the database become the next batch, one `BEGIN IMMEDIATE` …
//! `COMMIT` for all of them (the micro-batcher of [`super::batcher`], with one key).
//! Each job runs inside a `SAVEPOINT`: a job that fails is rolled back to it and
//! answered with its own error, and its batch-mates commit as if it had never run.
//! A batch whose transaction fails (its `BEGIN`, a savepoint statement, its
//! `COMMIT`) answers every job with [`WriteError::NotWritten`] (nothing of it was
//! written) or, when `COMMIT` itself failed, [`WriteError::Unknown`]; either way the
//! `udam_db_write_batch_failures_total` counter says so.
//!
//! A job is a chain of calls, each handed to the connection's thread (sqlx runs
//! every SQLite connection on one) and its answer handed back to the task that
//! sends the next: two thread switches per call, most of a purchase's time under
//! load (docs/BENCHMARKS.md, "Fewer hand-offs per purchase"). So batches run on a
//! thread of their own (`WriterThread`), where that task never waits behind HTTP
//! requests, a kept job's `RELEASE` travels with the next job's `SAVEPOINT`, and
//! jobs send several statements per call where they can.
//!
//! Deadlock rule: a job runs while the batch holds the only write connection, so a
//! job must write through the transaction it is given, never through
//! [`crate::db::Db::begin_write`], [`crate::db::Db::write`] or the read pool.

use std::sync::Arc;

use std::future::Future;
use std::pin::Pin;

use sqlx::{AnyPool, Executor};
use tokio::sync::oneshot;

use super::Tx;
use super::batcher::{Batcher, Pending};

/// A boxed, sendable future borrowing for `'a`: what a write job returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Most jobs one transaction serves; more wait for the next batch.
const MAX_BATCH: usize = 256;

/// Gauge of write jobs submitted and not yet answered (queued or in a batch).
pub const JOBS_IN_FLIGHT: &str = "udam_db_write_jobs_in_flight";

/// Counts a job in [`JOBS_IN_FLIGHT`] for as long as its caller waits (a caller
/// that goes away stops counting too).
struct InFlight;

impl InFlight {
    fn start() -> Self {
        metrics::gauge!(JOBS_IN_FLIGHT).increment(1.0);
        Self
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        metrics::gauge!(JOBS_IN_FLIGHT).decrement(1.0);
    }
}

/// Why a write job's effects are not (known to be) in the database.
#[derive(Debug)]
pub enum WriteError<E> {
    /// The job itself failed; its effects were rolled back, its batch-mates' not.
    Job(E),
    /// The batch's transaction failed before committing: nothing of the job was
    /// written, so it may be run again.
    NotWritten,
    /// The commit failed or the writer died: whether the job's effects committed is
    /// unknown, so it must not be repeated blindly.
    Unknown,
}

/// How the transaction of a job's batch ended.
#[derive(Clone, Copy)]
enum Fate {
    Committed,
    RolledBack,
    Unknown,
}

/// What a job did: whether its effects stay, and how to answer its caller once
/// the batch's fate is known.
struct Ran {
    kept: bool,
    answer: Box<dyn FnOnce(Fate) + Send>,
}

/// A type-erased job, as queued.
type Job = Box<dyn for<'t> FnOnce(&'t mut Tx) -> BoxFuture<'t, Ran> + Send>;

/// Which step of a batch failed, for the failure counter's `stage` label.
#[derive(Clone, Copy)]
enum Stage {
    Begin,
    Savepoint,
    Commit,
}

impl Stage {
    fn as_str(self) -> &'static str {
        match self {
            Self::Begin => "begin",
            Self::Savepoint => "savepoint",
            Self::Commit => "commit",
        }
    }
}

/// The write connection and the queue of jobs waiting for it.
pub struct Writer {
    /// A pool of exactly one connection: the process's only SQLite writer.
    pub pool: AnyPool,
    jobs: Arc<Batcher<(), Option<Job>, ()>>,
    thread: WriterThread,
}

/// The thread batches run on: a single-threaded runtime of their own, so the task
/// that drives a batch's statements is never queued behind other work. It ends
/// when the writer is dropped.
struct WriterThread {
    runtime: tokio::runtime::Handle,
    /// Dropped with the writer, which lets the thread's runtime finish.
    _stop: oneshot::Sender<()>,
}

impl WriterThread {
    fn start() -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("udam-sqlite-writer".to_owned())
            .spawn(move || {
                // Either outcome means the writer is gone.
                let _ = runtime.block_on(stopped);
            })?;
        Ok(Self {
            runtime: handle,
            _stop: stop,
        })
    }
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("pool", &self.pool)
            .finish_non_exhaustive()
    }
}

impl Writer {
    /// A writer over `pool` (which must hold at most one connection), with its thread.
    pub fn new(pool: AnyPool) -> std::io::Result<Self> {
        Ok(Self {
            pool,
            // One batch in the database at a time: there is one connection.
            jobs: Arc::new(Batcher::new(1, MAX_BATCH)),
            thread: WriterThread::start()?,
        })
    }

    /// Runs `job` in a shared write transaction; see the module doc.
    pub async fn write<T, E, F>(&self, job: F) -> Result<T, WriteError<E>>
    where
        T: Send + 'static,
        E: Send + 'static,
        F: for<'t> FnOnce(&'t mut Tx) -> BoxFuture<'t, Result<T, E>> + Send + 'static,
    {
        let _in_flight = InFlight::start();
        let (answer_to, answer) = oneshot::channel::<Result<T, WriteError<E>>>();
        let erased = erase(move |tx| {
            Box::pin(async move {
                let result = job(tx).await;
                let kept = result.is_ok();
                let answer = Box::new(move |fate: Fate| {
                    let out = match (result, fate) {
                        (Err(err), _) => Err(WriteError::Job(err)),
                        (Ok(done), Fate::Committed) => Ok(done),
                        (Ok(_), Fate::RolledBack) => Err(WriteError::NotWritten),
                        (Ok(_), Fate::Unknown) => Err(WriteError::Unknown),
                    };
                    // A caller that went away no longer needs its answer.
                    let _ = answer_to.send(out);
                });
                Ran {
                    kept,
                    answer: answer as Box<dyn FnOnce(Fate) + Send>,
                }
            })
        });
        let pool = self.pool.clone();
        let runtime = self.thread.runtime.clone();
        // The batch runs on the writer's thread; this task only waits for it. Should
        // that thread be gone (the writer dropped at shutdown), the batch is dropped
        // unrun and its callers learn nothing was confirmed.
        let serve = move |(), batch| {
            let batch = runtime.spawn(serve(pool.clone(), batch));
            async move {
                let _ = batch.await;
            }
        };
        let served = self.jobs.submit((), Some(erased), serve).await;
        match answer.await {
            Ok(out) => out,
            // Dropped unrun: its batch could not begin.
            Err(_) if served.is_some() => Err(WriteError::NotWritten),
            // The serving task panicked.
            Err(_) => Err(WriteError::Unknown),
        }
    }
}

/// Gives a job closure the higher-ranked type the queue stores.
fn erase<F>(f: F) -> Job
where
    F: for<'t> FnOnce(&'t mut Tx) -> BoxFuture<'t, Ran> + Send + 'static,
{
    Box::new(f)
}

/// Tests: a batch whose `BEGIN` fails (`FAILPOINTS=db::write_batch_begin=return`).
fn begin_fails() -> Result<(), sqlx::Error> {
    #[cfg(feature = "failpoints")]
    ::fail::fail_point!("db::write_batch_begin", |_| Err(sqlx::Error::PoolTimedOut));
    Ok(())
}

fn count_failure(stage: Stage, err: &sqlx::Error, jobs: usize) {
    metrics::counter!("udam_db_write_batch_failures_total", "stage" => stage.as_str()).increment(1);
    tracing::error!(stage = stage.as_str(), jobs, error = %err, "a write batch failed");
}

/// Runs one batch: `BEGIN IMMEDIATE`, each job in a savepoint, `COMMIT`, then the
/// answers. A batch of one needs no savepoint: its own rollback is the batch's.
async fn serve(pool: AnyPool, mut batch: Vec<Pending<Option<Job>, ()>>) {
    let size = batch.len();
    metrics::histogram!("udam_db_write_batch_size").record(size as f64);
    metrics::counter!("udam_db_write_batches_total").increment(1);
    let begun = match begin_fails() {
        Ok(()) => pool.begin_with("BEGIN IMMEDIATE").await,
        Err(err) => Err(err),
    };
    let mut tx = match begun {
        Ok(tx) => tx,
        Err(err) => {
            count_failure(Stage::Begin, &err, size);
            // Dropping the jobs unrun answers them `NotWritten`.
            for p in batch {
                p.reply(());
            }
            return;
        }
    };
    let solo = size == 1;
    let mut answers: Vec<Box<dyn FnOnce(Fate) + Send>> = Vec::with_capacity(size);
    let mut kept_any = false;
    let mut broken = false;
    // Whether the previous job's savepoint is still open: a kept job's savepoint is
    // released together with the next job's opening (one statement, one hand-off to
    // SQLite's thread instead of two), or by the COMMIT, which releases every
    // savepoint.
    let mut open = false;
    for p in &mut batch {
        // A job whose caller left while the batch waited for the write lock is
        // dropped unrun: it has written nothing, and nobody would learn that it
        // committed (issue 12, defect 6).
        if broken || p.is_gone() {
            continue;
        }
        let Some(job) = p.req.take() else { continue };
        let opening = if open {
            "RELEASE write_job; SAVEPOINT write_job"
        } else {
            "SAVEPOINT write_job"
        };
        if !solo && let Err(err) = (&mut *tx).execute(opening).await {
            count_failure(Stage::Savepoint, &err, size);
            broken = true;
            continue;
        }
        let ran = job(&mut tx).await;
        metrics::counter!("udam_db_write_jobs_total", "kept" => if ran.kept { "1" } else { "0" })
            .increment(1);
        kept_any |= ran.kept;
        answers.push(ran.answer);
        if solo {
            continue;
        }
        open = ran.kept;
        if ran.kept {
            continue;
        }
        if let Err(err) = (&mut *tx)
            .execute("ROLLBACK TO write_job; RELEASE write_job")
            .await
        {
            count_failure(Stage::Savepoint, &err, size);
            broken = true;
        }
    }
    let fate = if broken || !kept_any {
        // Nothing to keep, or a savepoint failed and the batch's state is unknown:
        // nothing of it is written.
        let _ = tx.rollback().await;
        if broken {
            Fate::RolledBack
        } else {
            // Every job failed on its own; none waits on a commit.
            Fate::Committed
        }
    } else {
        match tx.commit().await {
            Ok(()) => Fate::Committed,
            Err(err) => {
                count_failure(Stage::Commit, &err, size);
                Fate::Unknown
            }
        }
    };
    for answer in answers {
        answer(fate);
    }
    for p in batch {
        p.reply(());
    }
}
