//! The shipped scenarios, carried in the binary: every `scenarios/*.toml`
//! of the source tree, embedded byte for byte by `build.rs` (the directory
//! is the one list), named by its file stem. A scenario argument
//! ([`load`]) is a path when one exists, else the name of a shipped
//! scenario (`failover-segfault` or `failover-segfault.toml`), so `run` and
//! `check` work from any directory and files of one's own still do.

use super::names::closest;
use super::{parse_file, parse_str, ParseErrors, Scenario};
use std::fmt;
use std::path::{Path, PathBuf};

/// Name and text of every shipped scenario, sorted by name.
const SHIPPED: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/shipped_scenarios.rs"));

/// One shipped scenario: its name and the file's text, unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shipped {
    pub name: &'static str,
    pub text: &'static str,
}

impl Shipped {
    /// The scenario, parsed (every shipped file is valid: a test says so).
    pub fn parse(&self) -> Result<Scenario, ParseErrors> {
        parse_str(self.text, self.name)
    }
}

/// Every shipped scenario, by name.
pub fn all() -> impl Iterator<Item = Shipped> {
    SHIPPED.iter().map(|&(name, text)| Shipped { name, text })
}

/// The names of the shipped scenarios, sorted.
pub fn names() -> Vec<&'static str> {
    all().map(|s| s.name).collect()
}

/// The shipped scenario called `name` (`.toml` may follow it).
pub fn find(name: &str) -> Option<Shipped> {
    let name = name.strip_suffix(".toml").unwrap_or(name);
    all().find(|s| s.name == name)
}

/// A scenario argument that is neither an existing file nor a shipped name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownScenario {
    pub given: String,
}

impl fmt::Display for UnknownScenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is neither a scenario file nor a shipped scenario",
            self.given
        )?;
        let stem = Path::new(&self.given)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        if let Some(near) = closest(&stem, names()) {
            write!(f, " (did you mean {near}?)")?;
        }
        writeln!(
            f,
            "; the shipped scenarios (`grabstorm scenarios` says what each teaches):"
        )?;
        for name in names() {
            writeln!(f, "  {name}")?;
        }
        Ok(())
    }
}

impl std::error::Error for UnknownScenario {}

/// Where a scenario argument leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    File(PathBuf),
    Shipped(Shipped),
}

/// Resolves a scenario argument: an existing path wins, then a shipped name.
pub fn resolve(arg: &Path) -> Result<Source, UnknownScenario> {
    if arg.exists() {
        return Ok(Source::File(arg.to_path_buf()));
    }
    let given = arg.to_string_lossy().into_owned();
    // A name, not a path: "scenarios/x.toml" from elsewhere stays a missing file.
    let bare = arg.components().count() == 1;
    match bare.then(|| find(&given)).flatten() {
        Some(s) => Ok(Source::Shipped(s)),
        None => Err(UnknownScenario { given }),
    }
}

/// Why a scenario argument gave no scenario.
#[derive(Debug)]
pub enum LoadError {
    /// No such file and no such shipped scenario (bad usage).
    Unknown(UnknownScenario),
    /// The file or shipped text does not check.
    Invalid(ParseErrors),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Unknown(u) => u.fmt(f),
            LoadError::Invalid(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for LoadError {}

/// Reads and checks the scenario an argument names: the file at that path
/// if it exists, else the shipped scenario of that name (diagnostics then
/// name it as given).
pub fn load(arg: &Path) -> Result<Scenario, LoadError> {
    match resolve(arg).map_err(LoadError::Unknown)? {
        Source::File(path) => parse_file(&path).map_err(LoadError::Invalid),
        Source::Shipped(s) => parse_str(s.text, &arg.to_string_lossy()).map_err(LoadError::Invalid),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn on_disk() -> BTreeMap<String, String> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
        std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .map(|p| {
                let name = p.file_stem().unwrap().to_string_lossy().into_owned();
                (name, std::fs::read_to_string(&p).unwrap())
            })
            .collect()
    }

    #[test]
    fn every_scenario_file_is_embedded_and_nothing_else() {
        let disk = on_disk();
        let embedded: BTreeMap<String, String> = all()
            .map(|s| (s.name.to_string(), s.text.to_string()))
            .collect();
        assert_eq!(
            disk.keys().collect::<Vec<_>>(),
            embedded.keys().collect::<Vec<_>>(),
            "scenarios/*.toml and the embedded list differ"
        );
        for (name, text) in &disk {
            assert_eq!(&embedded[name], text, "{name}: embedded text differs");
        }
        assert!(disk.len() >= 20, "only {} scenario files?", disk.len());
        let names = names();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
    }

    #[test]
    fn every_shipped_scenario_parses_and_says_what_it_teaches() {
        for s in all() {
            let parsed = s
                .parse()
                .unwrap_or_else(|e| panic!("{}: does not check:\n{e}", s.name));
            assert!(!parsed.teaches.trim().is_empty(), "{}: no lesson", s.name);
        }
    }

    #[test]
    fn arguments_resolve_to_files_first_then_shipped_names() {
        assert_eq!(
            resolve(Path::new("failover-segfault")),
            Ok(Source::Shipped(find("failover-segfault").unwrap()))
        );
        assert_eq!(
            resolve(Path::new("failover-segfault.toml")).unwrap(),
            Source::Shipped(find("failover-segfault").unwrap())
        );
        // An existing path wins over the name.
        let dir = tempfile::tempdir().unwrap();
        let mine = dir.path().join("failover-segfault");
        std::fs::write(&mine, "title = \"mine\"").unwrap();
        assert_eq!(resolve(&mine), Ok(Source::File(mine.clone())));
        // A path that does not exist is not looked up by its stem.
        let missing = resolve(Path::new("elsewhere/failover-segfault.toml")).unwrap_err();
        assert_eq!(missing.given, "elsewhere/failover-segfault.toml");
        let unknown = resolve(Path::new("failover-segfalt"))
            .unwrap_err()
            .to_string();
        assert!(
            unknown.contains("did you mean failover-segfault?"),
            "{unknown}"
        );
        for name in names() {
            assert!(unknown.contains(&format!("\n  {name}\n")), "{unknown}");
        }
    }

    #[test]
    fn a_shipped_scenario_is_named_as_given_in_its_report() {
        let s = load(Path::new("split-brain")).unwrap();
        assert_eq!(s.file, "split-brain");
        assert!(matches!(
            load(Path::new("nope")),
            Err(LoadError::Unknown(_))
        ));
    }
}
