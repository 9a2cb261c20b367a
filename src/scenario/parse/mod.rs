//! The scenario parser: TOML text to a checked [`Scenario`], or diagnostics
//! that read like a compiler's: `file:line:col: error: ...`, the source line
//! with a caret under the culprit, and a "did you mean ...?" for typos.
//!
//! The file is parsed into toml's spanned tree and walked by hand rather than
//! through serde, so that every error (unknown key, wrong type, bad
//! duration, unknown fault, target or expectation, steps out of order, an
//! impossible topology) points at the exact key or value, and so that all of
//! a file's errors are reported at once.
//!
//! The files here, in the order a file is read:
//! - `diagnostic`: one error, located and rendered ([`Diagnostic`]), and
//!   every error of a file ([`ParseErrors`]);
//! - `reader`: the reader of typed values from the spanned tree, which
//!   records the diagnostics; each section below adds its methods to it;
//! - `root`: the top-level keys and the order of the sections;
//! - `topology`, `workload`: the `[topology]` and `[workload]` tables;
//! - `steps`: the `[[step]]` timeline; `actions`: what each step does;
//!   `targets`: the nodes a step may name;
//! - `expectations`: the `[expect]` table.

mod actions;
mod diagnostic;
mod expectations;
mod reader;
mod root;
mod steps;
mod targets;
mod topology;
mod workload;

#[cfg(test)]
mod tests;

pub use actions::DEFAULT_WAIT_TIMEOUT;
pub use diagnostic::{Diagnostic, ParseErrors};
pub use root::DEFAULT_SETTLE;

use super::model::Scenario;
use reader::Reader;
use std::path::Path;
use toml::de::DeTable;

/// Reads and checks a scenario file. The file name in diagnostics is the
/// path as given.
pub fn parse_file(path: &Path) -> Result<Scenario, ParseErrors> {
    let name = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => parse_str(&text, &name),
        Err(e) => Err(ParseErrors(vec![Diagnostic {
            file: name,
            line: 1,
            col: 1,
            message: format!("cannot read the file: {e}"),
            help: None,
            source_line: String::new(),
            width: 1,
        }])),
    }
}

/// Checks scenario text; `file` names it in diagnostics.
pub fn parse_str(text: &str, file: &str) -> Result<Scenario, ParseErrors> {
    let mut reader = Reader::new(text, file);
    let root = match DeTable::parse(text) {
        Ok(root) => root,
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            let message = format!("invalid TOML: {}", e.message().trim_end());
            reader.error(span, message, None);
            return Err(ParseErrors(reader.errors));
        }
    };
    let scenario = reader.scenario(root.get_ref());
    if reader.errors.is_empty() {
        Ok(scenario)
    } else {
        reader.errors.sort_by_key(|d| (d.line, d.col));
        Err(ParseErrors(reader.errors))
    }
}
