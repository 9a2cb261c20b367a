//! `grabstorm check FILE|NAME...`: validates scenario files, or shipped
//! scenarios by name, without starting anything. Errors go to stderr like
//! a compiler's (`file:line:col: error:`, the line, a caret, a suggestion),
//! or with `--json` one object on stdout with every file's verdict and
//! errors; exit 0 when every file is valid, 2 if not (or a name is unknown).

use super::EXIT_USAGE;
use crate::cli::GlobalArgs;
use crate::scenario::{self, Diagnostic, LoadError};
use clap::Args;
use serde::Serialize;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Debug, Clone, Default)]
pub struct CheckArgs {
    /// Scenario files to validate, or names of shipped scenarios
    /// (`grabstorm scenarios` lists them); a path that exists wins.
    #[arg(required = true, value_name = "FILE|NAME")]
    pub files: Vec<PathBuf>,
    /// Print one JSON object: `{ok, files: [{file, ok, title, steps,
    /// expectations, errors: [{file, line, col, message, help, ...}]}]}`.
    #[arg(long)]
    pub json: bool,
}

/// One file's verdict, as `--json` prints it.
#[derive(Serialize)]
struct FileCheck {
    file: String,
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    steps: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expectations: Option<usize>,
    /// Why it is not a scenario: the parser's diagnostics, or one saying
    /// no such file or shipped scenario exists (line and col 0).
    errors: Vec<Diagnostic>,
}

#[derive(Serialize)]
struct CheckOutput {
    ok: bool,
    files: Vec<FileCheck>,
}

pub async fn run(_global: &GlobalArgs, args: CheckArgs) -> anyhow::Result<ExitCode> {
    let mut checks = Vec::with_capacity(args.files.len());
    for file in &args.files {
        let name = file.display().to_string();
        let check = match scenario::load(file) {
            Ok(s) => {
                if !args.json {
                    println!(
                        "{name}: ok: {:?} ({} step(s), {} expectation(s))",
                        s.title,
                        s.steps.len(),
                        s.expect.len()
                    );
                }
                FileCheck {
                    file: name,
                    ok: true,
                    title: Some(s.title),
                    steps: Some(s.steps.len()),
                    expectations: Some(s.expect.len()),
                    errors: Vec::new(),
                }
            }
            Err(e) => {
                if !args.json {
                    eprintln!("{e}\n");
                }
                let errors = match e {
                    LoadError::Invalid(errors) => errors.0,
                    LoadError::Unknown(u) => vec![Diagnostic {
                        file: name.clone(),
                        line: 0,
                        col: 0,
                        message: u.to_string().trim_end().to_string(),
                        help: None,
                        source_line: String::new(),
                        width: 0,
                    }],
                };
                FileCheck {
                    file: name,
                    ok: false,
                    title: None,
                    steps: None,
                    expectations: None,
                    errors,
                }
            }
        };
        checks.push(check);
    }
    let failed = checks.iter().filter(|c| !c.ok).count();
    if args.json {
        let out = CheckOutput {
            ok: failed == 0,
            files: checks,
        };
        println!("{}", serde_json::to_string(&out)?);
    } else if failed > 0 {
        eprintln!("{failed} of {} file(s) have errors", args.files.len());
    }
    Ok(if failed > 0 {
        ExitCode::from(EXIT_USAGE)
    } else {
        ExitCode::SUCCESS
    })
}
