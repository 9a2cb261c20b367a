//! The `grabstorm` binary: parse arguments, set up logging, register the
//! stop signals, run a command, turn errors into a message and an exit
//! status ([`commands::Exit`]; 128 + the signal when a signal stopped it).

use grabstorm::cli::Cli;
use grabstorm::commands;
use grabstorm::shutdown::Shutdown;
use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse_args();
    if cli.command.as_ref().is_some_and(|c| c.only_prints()) {
        // `grabstorm status | head`: a reader that stops early ends the
        // command quietly, as it ends `cat`, instead of a panic on the
        // next print. Only for commands that start and hold nothing.
        // SAFETY: before any thread starts; SIG_DFL is always valid.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
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
            return commands::Exit::LabDown.into();
        }
    };
    let (result, signal) = runtime.block_on(async {
        // Once, before anything starts: every command gets the same handling.
        let (shutdown, _listener) = match Shutdown::install() {
            Ok(installed) => installed,
            Err(e) => {
                let e = anyhow::Error::new(e).context("cannot register the stop signals");
                return (Err(e), None);
            }
        };
        let result = commands::dispatch(cli, &shutdown).await;
        (result, shutdown.signal())
    });
    // Give spawned cleanup tasks a moment, then drop the runtime.
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    if let Err(e) = &result {
        // The terminal may be gone (SIGHUP): a failed write must not panic.
        let _ = writeln!(std::io::stderr(), "grabstorm: {e:#}");
    }
    match (result, signal) {
        (_, Some(sig)) => ExitCode::from(sig.exit_code()),
        (Ok(code), None) => code,
        (Err(e), None) => commands::Exit::of(&e).into(),
    }
}
