//! Commands: one file per subcommand, each the top-level flow of that
//! command (its arguments, what it starts, what it prints, its exit code).
//! They glue the engine modules together and hold no engine logic themselves;
//! [`exit`] is the one rule for what their exit statuses mean.

pub mod audit;
pub mod bench;
pub mod check;
pub mod completions;
pub mod down;
pub mod exit;
pub mod fault;
pub mod journal;
pub mod load;
pub mod man;
pub mod reshard;
pub mod ring;
pub mod run;
pub mod runs;
pub mod scale;
pub mod scenarios;
pub mod status;
pub mod tui;
pub mod up;

use crate::cli::{Cli, Command};
use crate::shutdown::{Shutdown, StopSignal};
use std::future::Future;
use std::process::ExitCode;

pub use exit::{Exit, ExitAs};

/// Exit status for bad usage or input (a flag, a file, a refused request).
pub const EXIT_USAGE: u8 = Exit::Usage.code();
/// Exit status when the run worked but an expectation or check failed.
pub const EXIT_FAILED: u8 = Exit::Failed.code();
/// Exit status when the lab could not run (no Docker, Redis unreachable).
pub const EXIT_LAB_DOWN: u8 = Exit::LabDown.code();

/// The topology a command reads or breaks, and the backend that runs it:
/// the one `--sentinel`/`--cluster` names (found now, from what it
/// reports), else the one a `grabstorm up` left in `state_dir`.
pub async fn topology_of(
    state_dir: &std::path::Path,
    external: Option<crate::topology::external::ExternalTarget>,
) -> anyhow::Result<(
    crate::topology::Topology,
    std::sync::Arc<dyn crate::topology::Backend>,
)> {
    use anyhow::Context;
    let topology = match external {
        Some(target) => crate::topology::external::discover(&target)
            .await
            .context("attaching to the topology")?,
        None => crate::topology::state::load(state_dir)?,
    };
    let (backend, _) = crate::topology::select::backend_of(topology.backend, state_dir).await?;
    Ok((topology, backend))
}

/// Runs the parsed command line. Commands that start something take the
/// [`Shutdown`] and end their run on a signal; the short read-only ones
/// are simply dropped on a signal; `down` finishes what it removes. `main`
/// turns a signal into the exit status.
pub async fn dispatch(cli: Cli, shutdown: &Shutdown) -> anyhow::Result<ExitCode> {
    let command = run_command(cli, shutdown);
    // A hangup usually means the terminal is gone: from then on output
    // goes nowhere instead of failing (and panicking) mid-shutdown.
    let hangup = async {
        if shutdown.requested().await == StopSignal::Hangup {
            crate::tui::terminal::silence_if_terminal_died();
        }
        std::future::pending::<()>().await
    };
    tokio::select! {
        r = command => r,
        _ = hangup => unreachable!("the hangup watch never ends"),
    }
}

async fn run_command(cli: Cli, shutdown: &Shutdown) -> anyhow::Result<ExitCode> {
    let g = &cli.global;
    match cli.command {
        Some(Command::Up(a)) => up::run(g, a, shutdown).await,
        Some(Command::Status(a)) => until_signal(status::run(g, a), shutdown).await,
        Some(Command::Down(a)) => down::run(g, a).await,
        Some(Command::Load(a)) => load::run(g, *a, shutdown).await,
        Some(Command::Audit(a)) => until_signal(audit::run(g, a), shutdown).await,
        Some(Command::Fault(a)) => fault::run(g, a, shutdown).await,
        Some(Command::Reshard(a)) => reshard::run(g, a, shutdown).await,
        Some(Command::Scale(a)) => scale::run(g, a, shutdown).await,
        Some(Command::Bench(a)) => bench::run(g, a, shutdown).await,
        Some(Command::Tui(a)) => tui::run(g, *a, shutdown).await,
        Some(Command::Check(a)) => until_signal(check::run(g, a), shutdown).await,
        Some(Command::Run(a)) => run::run(g, *a, shutdown).await,
        Some(Command::Journal(a)) => until_signal(journal::run(g, a), shutdown).await,
        Some(Command::Runs(a)) => until_signal(runs::run(g, a), shutdown).await,
        Some(Command::Scenarios(a)) => until_signal(scenarios::run(g, a), shutdown).await,
        Some(Command::Ring(a)) => ring::run(g, *a, shutdown).await,
        Some(Command::Completions(a)) => completions::run(g, a),
        Some(Command::Man(a)) => man::run(g, a),
        None => tui::run(g, *cli.dashboard, shutdown).await,
    }
}

/// Runs a command that starts nothing until it ends or a signal arrives.
async fn until_signal(
    command: impl Future<Output = anyhow::Result<ExitCode>>,
    shutdown: &Shutdown,
) -> anyhow::Result<ExitCode> {
    tokio::select! {
        r = command => r,
        sig = shutdown.requested() => Ok(ExitCode::from(sig.exit_code())),
    }
}

/// Writes a generated document to stdout; a closed pipe (`| head`) is no
/// error.
fn write_stdout(bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(anyhow::Error::new(e).context("cannot write to stdout"))
        }
        _ => Ok(()),
    }
}
