//! `grabstorm scenarios`: the scenarios shipped in the binary, each with
//! its one-line lesson; `scenarios show NAME` prints one's file exactly as
//! shipped (to copy and edit). `grabstorm run NAME` and `grabstorm check
//! NAME` take the same names from any directory.

use super::EXIT_USAGE;
use crate::cli::GlobalArgs;
use crate::scenario::shipped::{self, UnknownScenario};
use clap::{Args, Subcommand};
use serde::Serialize;
use std::process::ExitCode;

#[derive(Args, Debug, Clone, Default)]
pub struct ScenariosArgs {
    #[command(subcommand)]
    pub action: Option<ScenariosAction>,
    /// Print JSON: the list as `[{name, title, teaches, mode, backend,
    /// duration}]`, or `show`'s scenario as `{name, title, teaches, text}`.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Subcommand, Debug, Clone)]
pub enum ScenariosAction {
    /// Print a shipped scenario's file, byte for byte
    /// (`grabstorm scenarios show split-brain > mine.toml` to start your own).
    Show {
        /// A shipped scenario's name, as `grabstorm scenarios` lists it
        /// (`.toml` may follow).
        #[arg(value_name = "NAME")]
        name: String,
    },
}

/// One shipped scenario, as `--json` lists it.
#[derive(Serialize)]
struct Listed {
    name: &'static str,
    title: String,
    teaches: String,
    mode: String,
    backend: &'static str,
    duration: String,
}

#[derive(Serialize)]
struct Shown {
    name: &'static str,
    title: String,
    teaches: String,
    text: &'static str,
}

pub async fn run(_global: &GlobalArgs, args: ScenariosArgs) -> anyhow::Result<ExitCode> {
    match args.action {
        None => list(args.json),
        Some(ScenariosAction::Show { name }) => show(&name, args.json),
    }
}

fn list(json: bool) -> anyhow::Result<ExitCode> {
    let mut rows = Vec::new();
    for s in shipped::all() {
        // The build embeds only files a test has checked; a broken one is a bug.
        let parsed = s
            .parse()
            .map_err(|e| anyhow::anyhow!("the shipped scenario {} does not check:\n{e}", s.name))?;
        rows.push(Listed {
            name: s.name,
            title: parsed.title,
            teaches: parsed.teaches,
            mode: parsed.topology.mode.to_string(),
            backend: parsed.backend.name(),
            duration: crate::words::duration(parsed.duration),
        });
    }
    if json {
        println!("{}", serde_json::to_string(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(0);
    for r in &rows {
        // A scenario that partitions cannot run on local processes.
        let needs = match r.backend {
            "docker" => " (needs Docker)",
            _ => "",
        };
        println!("{:<width$}  {}{needs}", r.name, r.teaches);
    }
    eprintln!(
        "\n{} scenarios. `grabstorm run NAME` plays one (--headless for a verdict), `grabstorm scenarios show NAME` prints its file.",
        rows.len()
    );
    Ok(ExitCode::SUCCESS)
}

fn show(name: &str, json: bool) -> anyhow::Result<ExitCode> {
    let Some(s) = shipped::find(name) else {
        eprint!(
            "grabstorm: {}",
            UnknownScenario {
                given: name.to_string()
            }
        );
        return Ok(ExitCode::from(EXIT_USAGE));
    };
    if json {
        let parsed = s
            .parse()
            .map_err(|e| anyhow::anyhow!("the shipped scenario {} does not check:\n{e}", s.name))?;
        let out = Shown {
            name: s.name,
            title: parsed.title,
            teaches: parsed.teaches,
            text: s.text,
        };
        println!("{}", serde_json::to_string(&out)?);
    } else {
        print!("{}", s.text);
    }
    Ok(ExitCode::SUCCESS)
}
