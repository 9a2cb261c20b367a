//! Logging: `tracing` to a file (`--log FILE`, or `grabstorm.log` in the
//! state dir for the dashboard) or to stderr for headless commands. The
//! dashboard owns the terminal, so it never logs there.

use crate::cli::{Cli, Command};
use std::path::PathBuf;
use tracing_subscriber::EnvFilter;

/// Keeps the log file open; drop it at exit.
pub struct LogGuard;

/// The state directory: `--state-dir`, `$GRABSTORM_STATE_DIR`,
/// `$XDG_STATE_HOME/grabstorm`, or `~/.local/state/grabstorm`.
pub fn state_dir(explicit: Option<&PathBuf>) -> PathBuf {
    if let Some(d) = explicit {
        return d.clone();
    }
    if let Some(d) = std::env::var_os("XDG_STATE_HOME") {
        return PathBuf::from(d).join("grabstorm");
    }
    dirs::home_dir()
        .map(|h| h.join(".local/state/grabstorm"))
        .unwrap_or_else(|| std::env::temp_dir().join("grabstorm-state"))
}

pub fn init(cli: &Cli) -> anyhow::Result<LogGuard> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let owns_terminal = matches!(
        cli.command,
        None | Some(Command::Tui(_)) | Some(Command::Run(_))
    );
    let file = match (&cli.global.log, owns_terminal) {
        (Some(f), _) => Some(f.clone()),
        (None, true) => Some(state_dir(cli.global.state_dir.as_ref()).join("grabstorm.log")),
        (None, false) => None,
    };
    match file {
        Some(path) => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)?;
            tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_ansi(false)
                .with_writer(std::sync::Mutex::new(f))
                .init();
        }
        None => {
            let filter =
                EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
            tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_writer(std::io::stderr)
                // A failed write would be reported with `eprintln!`, which
                // panics once the terminal is gone (SIGHUP).
                .log_internal_errors(false)
                .init();
        }
    }
    Ok(LogGuard)
}
