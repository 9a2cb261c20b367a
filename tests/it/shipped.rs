//! The scenarios shipped in the binary, used from a directory with no
//! `scenarios/` in it: `scenarios` lists every file of the source tree's
//! `scenarios/`, `show` prints one byte for byte, `check NAME` and `run
//! NAME` find them, a file on disk wins over a name, and an unknown name
//! exits 2 listing the names.

use crate::support::{grabstorm_bin, state_dir, text};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn shipped_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

fn name_of(p: &Path) -> String {
    p.file_stem().unwrap().to_string_lossy().into_owned()
}

/// Runs grabstorm with `cwd` as its working directory and a private state dir.
fn in_dir(cwd: &Path, args: &[&str]) -> Output {
    let state = state_dir();
    Command::new(grabstorm_bin())
        .current_dir(cwd)
        .args(args)
        .env("GRABSTORM_STATE_DIR", state.path())
        .output()
        .unwrap()
}

#[test]
fn shipped_scenarios_list_show_and_check_from_any_directory() {
    let cwd = tempfile::tempdir().unwrap();
    let files = shipped_files();
    assert!(files.len() >= 20);

    // The list: every file, with the lesson its `teaches` key gives.
    let out = in_dir(cwd.path(), &["scenarios"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let listed: Vec<&str> = stdout
        .lines()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    let mut names: Vec<String> = files.iter().map(|f| name_of(f)).collect();
    names.sort();
    assert_eq!(listed, names, "{stdout}");
    assert!(
        stdout.lines().any(|l| l.starts_with("failover-segfault ")
            && l.ends_with("acknowledged writes still in flight to the replicas can be lost.")),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("split-brain ") && l.ends_with("discarded. (needs Docker)")),
        "{stdout}"
    );
    let json = in_dir(cwd.path(), &["scenarios", "--json"]);
    assert_eq!(json.status.code(), Some(0));
    let rows: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), files.len());
    let split = rows.iter().find(|r| r["name"] == "split-brain").unwrap();
    assert_eq!(split["backend"], "docker");
    assert!(split["teaches"]
        .as_str()
        .unwrap()
        .contains("partitioned master"));

    // `show` prints each file exactly.
    for f in &files {
        let out = in_dir(cwd.path(), &["scenarios", "show", &name_of(f)]);
        assert_eq!(out.status.code(), Some(0));
        assert_eq!(out.stdout, std::fs::read(f).unwrap(), "{}", f.display());
    }

    // `check NAME` (with or without .toml) passes for every one.
    let mut args = vec!["check".to_string()];
    args.extend(names.iter().cloned());
    args.push("seckill-oversell.toml".into());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = in_dir(cwd.path(), &args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).matches(": ok: ").count(),
        files.len() + 1,
        "{}",
        text(&out.stdout)
    );
    let out = in_dir(cwd.path(), &["check", "--json", "split-brain"]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["files"][0]["file"], "split-brain");
    assert_eq!(v["files"][0]["errors"], serde_json::json!([]));
}

#[test]
fn an_unknown_scenario_name_exits_2_with_the_names() {
    let cwd = tempfile::tempdir().unwrap();
    for args in [
        &["run", "failover-segfalt", "--headless"][..],
        &["check", "failover-segfalt"],
        &["scenarios", "show", "failover-segfalt"],
    ] {
        let out = in_dir(cwd.path(), args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains("did you mean failover-segfault?"),
            "{args:?}: {stderr}"
        );
        for f in shipped_files() {
            assert!(
                stderr.contains(&format!("\n  {}\n", name_of(&f))),
                "{args:?}: {stderr}"
            );
        }
    }
    let out = in_dir(cwd.path(), &["check", "--json", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert!(v["files"][0]["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("split-brain-min-replicas"));
}

#[test]
fn a_file_on_disk_wins_over_a_shipped_name() {
    let cwd = tempfile::tempdir().unwrap();
    // A broken file named like a shipped scenario: check reads the file.
    std::fs::write(cwd.path().join("split-brain"), "title = 1\n").unwrap();
    let out = in_dir(cwd.path(), &["check", "split-brain"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("split-brain:1:9: error: wrong type for `title`"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_shipped_scenario_runs_by_name_headless_with_a_json_verdict() {
    let cwd = tempfile::tempdir().unwrap();
    let out = cwd.path().join("out");
    let o = in_dir(
        cwd.path(),
        &[
            "run",
            "seckill-oversell",
            "--json",
            "--backend",
            "local",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let v: serde_json::Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o.stdout)));
    assert_eq!(v["scenario"], "seckill-oversell");
    assert_eq!(v["passed"], true);
    assert_eq!(v["expectations"][0]["name"], "oversold");
    assert_eq!(v["expectations"][0]["ok"], true);
    let report = PathBuf::from(v["report"].as_str().unwrap());
    assert_eq!(report, out.join("report.json"));
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(r["script"]["file"], "seckill-oversell");
    assert_eq!(r["expectations"], v["expectations"]);
}
