//! One measured run at a time: the load, the CPU split over its window, and the
//! checks after it (oversell, answers against orders), gathered into rows. A
//! failed check or any error marks the whole run failed.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::StatusCode;
use sqlx::postgres::PgPool;

use super::db::BenchDb;
use super::report::{Row, System};
use super::{Args, cpu, load, raw};

/// The server a run measures (UDAM on either backend, or nginx) and the database
/// its buying runs are checked against.
#[derive(Clone, Copy)]
pub struct On<'a> {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its process (with its children, for the CPU split).
    pub pid: u32,
    /// Its database, for the checks after buying runs.
    pub db: Option<&'a BenchDb>,
}

/// Which tasks' purchases count in the oversell check (a mixed run's other tasks
/// do not buy).
pub type Buys = fn(usize) -> bool;

/// The state of a whole bench run.
pub struct Ctx<'a> {
    /// Warm-up before each measured window.
    pub warmup: Duration,
    /// The measured window.
    pub duration: Duration,
    /// The PostgreSQL bench database, which the raw runs use too.
    pub pg: &'a PgPool,
    /// Its URL, for the raw runs' own connections.
    pub pg_url: &'a str,
    /// True once any check failed or any run had an error.
    pub failed: bool,
    /// Every run of every round.
    pub rows: Vec<Row>,
    /// Purchases answered as sold and errors so far, per listing set (by first id):
    /// listings reused across runs are checked against every run so far.
    answered: HashMap<String, (i64, i64)>,
}

/// Samples where the CPU goes over the measured window of a run that starts now.
fn sample_cpu(
    server_pid: u32,
    warmup: Duration,
    duration: Duration,
) -> tokio::task::JoinHandle<cpu::Split> {
    let start = tokio::time::Instant::now();
    tokio::spawn(async move {
        tokio::time::sleep_until(start + warmup).await;
        let a = cpu::snapshot(server_pid);
        let t = Instant::now();
        tokio::time::sleep_until(start + warmup + duration).await;
        let b = cpu::snapshot(server_pid);
        cpu::split(&a, &b, t.elapsed().as_secs_f64())
    })
}

impl<'a> Ctx<'a> {
    /// A run with nothing measured yet.
    pub fn new(args: &'a Args, pg: &'a PgPool, pg_url: &'a str) -> Self {
        Self {
            warmup: Duration::from_secs_f64(args.warmup),
            duration: Duration::from_secs_f64(args.duration),
            pg,
            pg_url,
            failed: false,
            rows: Vec::new(),
            answered: HashMap::new(),
        }
    }

    /// Counts this run's answers into `key`'s totals and compares them with what
    /// the database sold: every sale answered, and no more sold than answered plus
    /// the errors (an error may or may not have sold).
    fn check_text(
        &mut self,
        key: String,
        (sold, problem): (i64, Option<String>),
        left: i64,
        (ok, errors): (u64, u64),
    ) -> anyhow::Result<String> {
        let seen = self.answered.entry(key).or_default();
        seen.0 += i64::try_from(ok)?;
        seen.1 += i64::try_from(errors)?;
        let (answered, unsure) = *seen;
        let text = match problem {
            Some(p) => format!("FAILED: {p}"),
            None if sold < answered || sold > answered + unsure => {
                format!("FAILED: {sold} sold but {answered} purchases answered as sold")
            }
            None => format!("ok: {sold} sold + {left} left = listed"),
        };
        if text.starts_with("FAILED") {
            self.failed = true;
        }
        Ok(text)
    }

    /// One run of `make` against `on`, every answer expected to be `expect`,
    /// measured over the usual window, recorded as UDAM's row.
    pub async fn http(
        &mut self,
        on: On<'_>,
        scenario: &'static str,
        clients: usize,
        expect: StatusCode,
        make: load::MakeRequest,
        check: Option<(&[String], i64)>,
    ) -> anyhow::Result<()> {
        let duration = self.duration;
        let expect = (load::always(expect), (|_| true) as Buys);
        self.http_for(
            on,
            (scenario, System::Udam),
            clients,
            expect,
            make,
            check,
            duration,
        )
        .await
    }

    /// [`Self::http`] with the system the row names, a status per task, which tasks
    /// buy, and a measured window of its own.
    #[allow(clippy::too_many_arguments)]
    pub async fn http_for(
        &mut self,
        on: On<'_>,
        (scenario, system): (&'static str, System),
        clients: usize,
        (expect, buys): (load::Expect, Buys),
        make: load::MakeRequest,
        check: Option<(&[String], i64)>,
        duration: Duration,
    ) -> anyhow::Result<()> {
        eprintln!(
            "running {scenario}, {}, {clients} client(s)…",
            system.label()
        );
        let sampler = sample_cpu(on.pid, self.warmup, duration);
        let outcome = load::run(&load::Load {
            addr: on.addr,
            clients,
            warmup: self.warmup,
            duration,
            expect,
            make,
        })
        .await?;
        let cpu = sampler.await?;
        for e in &outcome.error_examples {
            eprintln!("  error example: {e}");
        }
        let (check, per_commit) = match check {
            None => ("–".to_owned(), None),
            Some((ids, listed)) => {
                let db = on
                    .db
                    .ok_or_else(|| anyhow::anyhow!("a buying run needs its database"))?;
                let per_commit = db.orders_per_commit(ids).await?;
                let (sold, problem) = db.check_listings(ids, listed).await?;
                let left = listed * i64::try_from(ids.len())? - sold;
                let answers = outcome
                    .totals_by_task
                    .iter()
                    .enumerate()
                    .filter(|(task, _)| buys(*task))
                    .fold((0, 0), |(ok, err), (_, (o, e))| (ok + o, err + e));
                let text = self.check_text(ids[0].clone(), (sold, problem), left, answers)?;
                (text, per_commit)
            }
        };
        if outcome.errors > 0 {
            self.failed = true;
        }
        self.rows.push(Row {
            scenario,
            system,
            clients,
            per_sec: outcome.samples.per_second(),
            p50_ms: outcome.samples.quantile_ms(0.5),
            p99_ms: outcome.samples.quantile_ms(0.99),
            errors: outcome.errors,
            check,
            per_commit,
            cpu,
        });
        Ok(())
    }

    /// One raw run of `method` at `clients` connections: on a fresh hot listing
    /// with `listed` units when `listings` is `None`, else on those listings (each
    /// with `listed` units before the first run on them).
    pub async fn raw(
        &mut self,
        (scenario, method): (&'static str, raw::Method),
        clients: usize,
        listings: Option<&Arc<Vec<String>>>,
        listed: i64,
        server_pid: u32,
    ) -> anyhow::Result<()> {
        eprintln!(
            "running {scenario}, {}, {clients} client(s)…",
            method.label()
        );
        let listings = match listings {
            Some(ids) => ids.clone(),
            None => {
                let id = udam::ids::new_id("raw");
                raw::create_listing(self.pg, &id, listed).await?;
                Arc::new(vec![id])
            }
        };
        let run = raw::run(
            self.pg_url,
            method,
            listings.clone(),
            clients,
            self.warmup,
            self.duration,
        );
        let sampler = sample_cpu(server_pid, self.warmup, self.duration);
        let outcome = run.await?;
        let cpu = sampler.await?;
        if let Some(e) = &outcome.error_example {
            eprintln!("  error example: {e}");
        }
        let (sold, problem) = raw::check(self.pg, &listings, listed).await?;
        let left = listed * i64::try_from(listings.len())? - sold;
        let check = self.check_text(
            format!("raw {}", listings[0]),
            (sold, problem),
            left,
            (outcome.ok_total, outcome.errors_total),
        )?;
        if outcome.errors > 0 {
            self.failed = true;
        }
        self.rows.push(Row {
            scenario,
            system: match method {
                raw::Method::SeedTxn => System::SeedTxn,
                raw::Method::SingleStatement => System::SingleStatement,
            },
            clients,
            per_sec: outcome.samples.per_second(),
            p50_ms: outcome.samples.quantile_ms(0.5),
            p99_ms: outcome.samples.quantile_ms(0.99),
            errors: outcome.errors,
            check,
            per_commit: Some(1.0),
            cpu,
        });
        Ok(())
    }
}
