//! `udam-bench`: measures UDAM's HTTP API against the seed's SQL, side by side, on
//! a fresh PostgreSQL database, and writes docs/BENCHMARKS.md.
//!
//! Run it through `scripts/bench.sh`, which finds or starts PostgreSQL and builds
//! both binaries in release mode first.

mod udam_bench;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = udam_bench::Args::parse();
    // Two worker threads: the load generator gets at most the machine's cores, and
    // competes with the server and PostgreSQL for them, as a real client would.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(udam_bench::main(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("error: a check failed or a run had errors; see the table above");
            ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
