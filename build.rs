//! Build script: embeds the shipped scenarios. Every `scenarios/*.toml` is
//! listed, by name (the file stem), in `$OUT_DIR/shipped_scenarios.rs` as an
//! `include_str!` of the file, so the binary carries the files themselves and
//! the directory is the one list (`src/scenario/shipped.rs` includes it).

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    // A directory here means: rerun when any file in it changes, or one is added or removed.
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.expect("a scenarios/ entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .map(|p| {
            let name = p
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_else(|| panic!("{}: a scenario name must be UTF-8", p.display()))
                .to_string();
            let path = p.to_str().expect("a UTF-8 path").to_string();
            (name, path)
        })
        .collect();
    files.sort();
    let mut out = String::from("&[\n");
    for (name, path) in &files {
        writeln!(out, "    ({name:?}, include_str!({path:?})),").unwrap();
    }
    out.push(']');
    let target = Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("shipped_scenarios.rs");
    std::fs::write(&target, out).unwrap_or_else(|e| panic!("{}: {e}", target.display()));
}
