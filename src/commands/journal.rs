//! `grabstorm journal DIR`: prints a run's journal as JSON lines, one per
//! acknowledged write (the fields of [`JournalRecord`]), for people and
//! tools that want to look at it.
//!
//! [`JournalRecord`]: crate::audit::journal::JournalRecord

use crate::audit::journal;
use crate::cli::GlobalArgs;
use crate::commands::EXIT_USAGE;
use anyhow::Context;
use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Debug, Clone, Default)]
pub struct JournalArgs {
    /// A run directory (its `journal.bin` is read), or a journal file.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

pub async fn run(_global: &GlobalArgs, args: JournalArgs) -> anyhow::Result<ExitCode> {
    let path = if args.dir.is_dir() {
        journal::in_dir(&args.dir)
    } else {
        args.dir.clone()
    };
    let records = match journal::records(&path) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("grabstorm journal: {e:#}");
            return Ok(ExitCode::from(EXIT_USAGE));
        }
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for rec in records {
        let rec = rec.with_context(|| format!("reading journal {}", path.display()))?;
        let line = serde_json::to_string(&rec).context("journal record as JSON")?;
        if let Err(e) = writeln!(out, "{line}") {
            // `grabstorm journal DIR | head` closes the pipe early: not an error.
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                return Ok(ExitCode::SUCCESS);
            }
            return Err(e).context("writing to stdout");
        }
    }
    match out.flush() {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e).context("writing to stdout"),
        _ => Ok(ExitCode::SUCCESS),
    }
}
