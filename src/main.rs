//! The `udam` command line.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use udam::config::Config;

/// mimalloc instead of the system allocator. A request allocates and frees many small
/// buffers (headers, rows, JSON) across the runtime's threads; glibc's malloc and its
/// consolidation took about a fifth of the server's CPU on `GET /tokens`.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// UDAM, the Unified Data Marketplace server.
#[derive(Parser)]
#[command(name = "udam", version, about, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    config: Config,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server (the default when no command is given).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print a new master key entry (`ID:BASE64`) for UDAM_MASTER_KEYS.
    Keygen {
        /// The key's id (letters, digits, `-`, `_`); default: `k` + today's date.
        #[arg(long)]
        id: Option<String>,
    },
    /// Re-seal every stored secret under the first key of UDAM_MASTER_KEYS.
    RotateKeys,
    /// Fill an EMPTY database with demo sellers, listings and a buyer, and print
    /// their sign-in details (refuses when any user exists).
    Demo,
    /// The money ledger.
    Ledger {
        #[command(subcommand)]
        command: LedgerCommand,
    },
    /// Administrative tasks.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Seller payouts.
    Payouts {
        #[command(subcommand)]
        command: PayoutsCommand,
    },
}

#[derive(Subcommand)]
enum PayoutsCommand {
    /// Pay every seller their available money above the minimum, once (under the
    /// database lease: a run elsewhere makes this one do nothing), and retry pending
    /// payouts.
    Run,
}

#[derive(Subcommand)]
enum LedgerCommand {
    /// Recompute every account from the journal and check it against orders, grants,
    /// balances and settlements; print each discrepancy and exit non-zero if any.
    Verify,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Make an existing user an administrator (the only way to get that role).
    Grant {
        /// The user's email.
        email: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    udam::telemetry::init(cli.config.log_format);
    udam::failpoint::arm_from_env();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // One clear line, no backtrace: the chain of contexts says what and why.
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = cli.config;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config).await,
        Command::Migrate => {
            udam::server::open_database(&config).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Keygen { id } => {
            let id = id.unwrap_or_else(|| {
                let today = time::OffsetDateTime::now_utc().date();
                format!("k{}", today.to_string().replace('-', ""))
            });
            println!("{}", udam::crypto::generate_key_spec(&id)?);
            Ok(())
        }
        Command::RotateKeys => {
            let ring = udam::server::load_keyring(&config)?;
            let db = udam::server::open_database(&config).await?;
            let report = udam::listings::rotate::rotate_all(&db, &ring, true).await?;
            let hooks = udam::webhooks::rotate::reseal_secrets(&db, &ring).await?;
            println!(
                "re-sealed {} key(s) and {} webhook secret(s) under {}; {} changed meanwhile; \
                 {} could not be opened",
                report.resealed,
                hooks.resealed,
                ring.current_key_id(),
                report.skipped + hooks.skipped,
                report.failed + hooks.failed
            );
            if report.failed + hooks.failed > 0 {
                anyhow::bail!(
                    "some keys could not be opened; is an old key missing from the ring?"
                );
            }
            Ok(())
        }
        Command::Demo => demo(config).await,
        Command::Ledger {
            command: LedgerCommand::Verify,
        } => ledger_verify(config).await,
        Command::Payouts {
            command: PayoutsCommand::Run,
        } => payouts_run(config).await,
        Command::Admin {
            command: AdminCommand::Grant { email },
        } => {
            let db = udam::server::open_database(&config).await?;
            let email = email.trim().to_lowercase();
            if udam::accounts::grant_admin(&db, &email).await? {
                println!("{email} is now an administrator");
                Ok(())
            } else {
                anyhow::bail!("no user with email {email}; register first")
            }
        }
    }
}

async fn ledger_verify(config: Config) -> anyhow::Result<()> {
    let db = udam::server::open_database(&config).await?;
    let report = udam::ledger::verify(&db).await?;
    for discrepancy in &report.discrepancies {
        println!("{discrepancy}");
    }
    let found = report.discrepancies.len();
    anyhow::ensure!(found == 0, "{found} ledger discrepancies");
    println!(
        "ledger clean: {} journal transactions, {} accounts",
        report.transactions, report.accounts
    );
    Ok(())
}

async fn payouts_run(config: Config) -> anyhow::Result<()> {
    let db = udam::server::open_database(&config).await?;
    let sender = udam::payouts::run::sender(&config)?;
    let holder = udam::ids::new_id("run");
    let report = udam::payouts::run_once(&db, &config.payouts, sender.as_ref(), &holder).await;
    db.close().await;
    let report = report?;
    if report.ran {
        println!(
            "payout run: {} recorded, {} sent, {} failed (pending, retried next run), \
             {} refused for good (available again)",
            report.recorded, report.sent, report.failed, report.refused
        );
    } else {
        println!("payout run skipped: another process holds the payout lease");
    }
    Ok(())
}

async fn demo(config: Config) -> anyhow::Result<()> {
    let db = udam::server::open_database(&config).await?;
    let bind = config.bind;
    let state = udam::server::build_state(config, db, bind).await?;
    let report = udam::web::demo::seed(&state).await?;
    println!(
        "demo data created: {} listings and these accounts (passwords are shown only now):",
        report.listings
    );
    for account in &report.accounts {
        println!(
            "  {:<6}  {:<24}  password: {}",
            account.role, account.email, account.password
        );
    }
    println!(
        "start the server with `udam` (or `cargo run --release`) and open {}",
        state.public_url()
    );
    state.db.close().await;
    Ok(())
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let server = udam::server::Server::bind(config).await?;
    let addr = server.local_addr()?;
    // Printed on stdout as one stable line: people read it, and tests parse it.
    println!("udam listening on http://{addr}");
    tracing::info!(%addr, "listening");
    if let Some(metrics) = server.metrics_addr() {
        println!("udam metrics on http://{metrics}/metrics");
        tracing::info!(%metrics, "metrics listening");
    }
    server.run(udam::server::shutdown_signal()).await
}
