//! The `grabstorm` binary: parse arguments, set up logging, run a command,
//! turn errors into a message and an exit status.

use clap::Parser;
use grabstorm::cli::Cli;
use grabstorm::commands;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let _log_guard = match grabstorm::logging::init(&cli) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("grabstorm: cannot set up logging: {e:#}");
            return ExitCode::from(commands::EXIT_USAGE);
        }
    };
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    if let Some(n) = cli.global.threads {
        builder.worker_threads(n.into());
    }
    let runtime = match builder.build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("grabstorm: cannot start the async runtime: {e}");
            return ExitCode::from(commands::EXIT_USAGE);
        }
    };
    let result = runtime.block_on(commands::dispatch(cli));
    // Give spawned cleanup tasks a moment, then drop the runtime.
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("grabstorm: {e:#}");
            ExitCode::from(commands::EXIT_USAGE)
        }
    }
}
