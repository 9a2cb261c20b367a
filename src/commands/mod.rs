//! Commands: one file per subcommand, each the top-level flow of that
//! command (its arguments, what it starts, what it prints, its exit code).
//! They glue the engine modules together and hold no engine logic themselves.

pub mod audit;
pub mod bench;
pub mod check;
pub mod down;
pub mod fault;
pub mod journal;
pub mod load;
pub mod run;
pub mod runs;
pub mod status;
pub mod tui;
pub mod up;

use crate::cli::{Cli, Command};
use std::process::ExitCode;

/// Exit status for bad input or environment (file errors, no Docker, bad spec).
pub const EXIT_USAGE: u8 = 2;
/// Exit status when the run worked but an expectation or check failed.
pub const EXIT_FAILED: u8 = 1;

/// Runs the parsed command line.
pub async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    let g = &cli.global;
    match cli.command {
        Some(Command::Up(a)) => up::run(g, a).await,
        Some(Command::Status(a)) => status::run(g, a).await,
        Some(Command::Down(a)) => down::run(g, a).await,
        Some(Command::Load(a)) => load::run(g, *a).await,
        Some(Command::Audit(a)) => audit::run(g, a).await,
        Some(Command::Fault(a)) => fault::run(g, a).await,
        Some(Command::Bench(a)) => bench::run(g, a).await,
        Some(Command::Tui(a)) => tui::run(g, *a).await,
        Some(Command::Check(a)) => check::run(g, a).await,
        Some(Command::Run(a)) => run::run(g, *a).await,
        Some(Command::Journal(a)) => journal::run(g, a).await,
        Some(Command::Runs(a)) => runs::run(g, a).await,
        None => tui::run(g, Default::default()).await,
    }
}
