//! `grabstorm check FILE...`: validates scenario files without starting
//! anything. Errors go to stderr like a compiler's (`file:line:col: error:`,
//! the line, a caret, a suggestion); exit 0 when every file is valid, 2 if not.

use super::EXIT_USAGE;
use crate::cli::GlobalArgs;
use crate::scenario;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Debug, Clone, Default)]
pub struct CheckArgs {
    /// Scenario files to validate.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

pub async fn run(_global: &GlobalArgs, args: CheckArgs) -> anyhow::Result<ExitCode> {
    let mut failed = 0usize;
    for file in &args.files {
        match scenario::parse_file(file) {
            Ok(s) => println!(
                "{}: ok: {:?} ({} step(s), {} expectation(s))",
                file.display(),
                s.title,
                s.steps.len(),
                s.expect.len()
            ),
            Err(errors) => {
                failed += 1;
                for d in &errors.0 {
                    eprintln!("{d}\n");
                }
            }
        }
    }
    if failed > 0 {
        eprintln!("{failed} of {} file(s) have errors", args.files.len());
        return Ok(ExitCode::from(EXIT_USAGE));
    }
    Ok(ExitCode::SUCCESS)
}
