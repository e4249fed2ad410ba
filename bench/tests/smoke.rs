//! A smoke run of the bench, so that it cannot silently rot: every default
//! scenario for about a second each (PostgreSQL from `UDAM_TEST_PG_URL`, SQLite in
//! a file, nginx for the browse), asserting only that the run completes with no
//! error and every check passing. No figure is asserted: this is not a timed test.
//!
//! It runs the `udam` binary that the same `cargo nextest run --workspace
//! --all-targets` built beside `udam-bench` (or `UDAM_BIN` when set).

use std::path::{Path, PathBuf};
use std::process::Command;

/// Every default scenario's rows, by the label the report gives them.
const ROWS: &[&str] = &[
    "(a) buy 1 unit, one hot listing",
    "(b) buy 1 unit, 10,000 listings",
    "(c) anonymous browse, first page",
    "(d) GET /tokens, 50 tokens",
    "(h) SQLite: buy 1 unit, one hot listing",
    "(i) SQLite: buy 1 unit, 10,000 listings",
    "seed transaction, raw SQL",
    "single statement, raw SQL",
    "nginx, same bytes as a static file",
];

fn udam_binary(bench: &Path) -> PathBuf {
    if let Some(bin) = std::env::var_os("UDAM_BIN") {
        return PathBuf::from(bin);
    }
    // `target/debug/udam-bench` → `target/debug/udam`: both are built by one
    // workspace build, into the same folder.
    let udam = bench.with_file_name(format!("udam{}", std::env::consts::EXE_SUFFIX));
    assert!(
        udam.exists(),
        "{} is missing: build the workspace (`cargo nextest run --workspace --all-targets`, \
         as scripts/test.sh does) or set UDAM_BIN",
        udam.display()
    );
    udam
}

#[test]
fn smoke_every_default_scenario_completes_with_zero_errors() {
    let bench = Path::new(env!("CARGO_BIN_EXE_udam-bench"));
    let udam = udam_binary(bench);
    let pg = std::env::var("UDAM_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let output = Command::new(bench)
        .arg("--server-bin")
        .arg(&udam)
        .args(["--pg-url", &pg])
        .args(["--rounds", "1", "--warmup", "0.2", "--duration", "0.8"])
        .args(["--clients", "4"])
        // A throwaway test cluster may run with fsync off; the run then warns and
        // writes nothing, which is all a smoke run wants anyway.
        .args(["--allow-no-fsync", "--no-write"])
        .output()
        .expect("udam-bench starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the smoke run failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    for row in ROWS {
        assert!(
            stdout.contains(row),
            "no row for {row} in the report:\n{stdout}"
        );
    }
    assert!(!stdout.contains("FAILED"), "a check failed:\n{stdout}");
    assert!(
        stderr.contains("nothing written"),
        "a smoke run must not write results:\n{stderr}"
    );
}
