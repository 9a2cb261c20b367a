//! `grabstorm runs`: lists the kept run directories of the state dir (id,
//! start time, workload, verdict, size; `--json`), and `grabstorm runs
//! prune [--keep N]` removes the older ones. The rules (which are kept,
//! which are live) are [`crate::report::runs`]'s.

use crate::cli::GlobalArgs;
use crate::limits;
use crate::report::runs::{self, RunEntry};
use crate::words::bytes;
use anyhow::Context;
use clap::{Args, Subcommand};
use std::process::ExitCode;

#[derive(Args, Debug, Clone, Default)]
pub struct RunsArgs {
    #[command(subcommand)]
    pub action: Option<RunsAction>,
    /// Print JSON: the list, or what `prune` removed as `{keep, removed:
    /// [...], freed_bytes}`.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Subcommand, Debug, Clone)]
pub enum RunsAction {
    /// Remove all but the newest run directories (never a running one).
    Prune {
        /// Run directories to keep (0 to 100000).
        #[arg(long, default_value_t = runs::KEEP_DEFAULT, value_name = "N",
              allow_hyphen_values = true,
              value_parser = |s: &str| limits::RUNS_KEPT.parse::<usize>(s))]
        keep: usize,
    },
}

pub async fn run(global: &GlobalArgs, args: RunsArgs) -> anyhow::Result<ExitCode> {
    let state_dir = crate::logging::state_dir(global.state_dir.as_ref());
    let shown = runs::runs_dir(&state_dir);
    match args.action {
        None => {
            let list =
                runs::list(&state_dir).with_context(|| format!("listing {}", shown.display()))?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else if list.is_empty() {
                println!("no run directories in {}", shown.display());
            } else {
                print!("{}", table(&list));
            }
        }
        Some(RunsAction::Prune { keep }) => {
            let removed = runs::prune(&state_dir, keep)
                .with_context(|| format!("pruning {}", shown.display()))?;
            let freed: u64 = removed.iter().map(|r| r.bytes).sum();
            if args.json {
                let out = serde_json::json!({
                    "keep": keep,
                    "removed": removed,
                    "freed_bytes": freed,
                });
                println!("{out}");
                return Ok(ExitCode::SUCCESS);
            }
            if removed.is_empty() {
                println!(
                    "nothing to remove: {} keeps at most {keep} runs",
                    shown.display()
                );
            }
            for r in &removed {
                println!("removed {} ({}, {})", r.id, r.verdict, bytes(r.bytes));
            }
            if !removed.is_empty() {
                println!("removed {} run(s), {} freed", removed.len(), bytes(freed));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn table(list: &[RunEntry]) -> String {
    let mut out = format!(
        "{:<22} {:<20} {:<10} {:<10} {:>10}\n",
        "RUN", "STARTED (UTC)", "WORKLOAD", "VERDICT", "SIZE"
    );
    for r in list {
        out += &format!(
            "{:<22} {:<20} {:<10} {:<10} {:>10}\n",
            r.id,
            r.started,
            r.workload.as_deref().unwrap_or("unknown"),
            r.verdict.to_string(),
            bytes(r.bytes)
        );
    }
    out
}
