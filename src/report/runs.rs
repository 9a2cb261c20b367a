//! Run directories under `<state dir>/runs`: each holds one run's journal,
//! `run.json` and reports. This file owns which of them are kept (the last
//! [`KEEP_DEFAULT`], pruned when a new run starts), how a live run is told
//! apart (it holds a lock on its directory: see [`LiveRun`]) and the listing
//! `grabstorm runs` prints. A run directory is one named by a run id that
//! holds a journal: the topologies' own directories (node files, beside
//! them under `runs/`) are the backends' and never touched here, nor are
//! directories given with `--out`, which live elsewhere.

use crate::audit::journal::FILE_NAME;
use crate::report::model::Report;
use serde::Serialize;
use std::fs::File;
use std::path::{Path, PathBuf};

/// Run directories kept when a new run starts.
pub const KEEP_DEFAULT: usize = 20;

/// Where the run directories of a state dir are.
pub fn runs_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("runs")
}

/// A run in progress: holds an exclusive lock on its directory until it is
/// dropped (or the process dies, crashed runs included), so that no prune,
/// from this process or another, removes it.
#[derive(Debug)]
pub struct LiveRun {
    _lock: File,
}

/// Marks `run_dir` live, then prunes the older runs of `state_dir` so that
/// [`KEEP_DEFAULT`] are left counting this one. A failed prune is logged,
/// never fatal.
pub fn begin(state_dir: &Path, run_dir: &Path) -> std::io::Result<LiveRun> {
    let lock = File::open(run_dir)?;
    lock.try_lock().map_err(|e| {
        std::io::Error::other(format!(
            "{} is in use by another run: {e}",
            run_dir.display()
        ))
    })?;
    // The new run has no journal yet, so it is not among those listed.
    let this_one = usize::from(run_dir.parent() == Some(runs_dir(state_dir).as_path()));
    match prune(state_dir, KEEP_DEFAULT - this_one) {
        Ok(removed) => {
            for r in removed {
                tracing::info!(run = %r.id, bytes = r.bytes, "old run directory removed");
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot prune old run directories"),
    }
    Ok(LiveRun { _lock: lock })
}

/// How a kept run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    /// Its report's verdict is OK.
    Ok,
    /// Its report's verdict failed.
    Failed,
    /// Still running (its directory is locked).
    Running,
    /// No report and nobody running it: stopped or crashed before the end.
    Unfinished,
}

impl std::fmt::Display for RunOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RunOutcome::Ok => "OK",
            RunOutcome::Failed => "FAILED",
            RunOutcome::Running => "running",
            RunOutcome::Unfinished => "unfinished",
        })
    }
}

/// One kept run directory.
#[derive(Clone, Debug, Serialize)]
pub struct RunEntry {
    pub id: String,
    pub dir: PathBuf,
    /// When it started, UTC (from the run id).
    pub started: String,
    /// The workload of its report (None without a report).
    pub workload: Option<String>,
    pub verdict: RunOutcome,
    /// Bytes of its files.
    pub bytes: u64,
}

/// The start time a run id `YYYYMMDD-HHMMSS-xxxx` carries, or None when
/// `name` is not a run id.
fn started_of(name: &str) -> Option<String> {
    let b = name.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    let shaped = b.len() >= 17 && b[8] == b'-' && b[15] == b'-' && digits(0..8) && digits(9..15);
    shaped.then(|| {
        let s = |r: std::ops::Range<usize>| &name[r];
        format!(
            "{}-{}-{} {}:{}:{}",
            s(0..4),
            s(4..6),
            s(6..8),
            s(9..11),
            s(11..13),
            s(13..15)
        )
    })
}

fn bytes_in(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => bytes_in(&e.path()),
            _ => e.metadata().map(|m| m.len()).unwrap_or(0),
        })
        .sum()
}

fn is_live(dir: &Path) -> bool {
    // A lock we cannot take is someone's live run; a lock we can take is
    // released as soon as `probe` is dropped.
    File::open(dir).is_ok_and(|probe| probe.try_lock().is_err())
}

/// The run directories of `state_dir`, oldest first.
pub fn list(state_dir: &Path) -> std::io::Result<Vec<RunEntry>> {
    let dir = runs_dir(state_dir);
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut runs = Vec::new();
    for e in entries {
        let e = e?;
        let id = e.file_name().to_string_lossy().into_owned();
        let Some(started) = started_of(&id) else {
            continue;
        };
        let path = e.path();
        // `journal.jsonl`: runs from before the binary journal.
        let journaled = [FILE_NAME, "journal.jsonl"]
            .iter()
            .any(|f| path.join(f).is_file());
        if !e.file_type()?.is_dir() || !journaled {
            continue;
        }
        let report: Option<Report> = std::fs::read_to_string(path.join("report.json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok());
        let verdict = match &report {
            Some(r) if r.verdict.ok => RunOutcome::Ok,
            Some(_) => RunOutcome::Failed,
            None if is_live(&path) => RunOutcome::Running,
            None => RunOutcome::Unfinished,
        };
        runs.push(RunEntry {
            id,
            started,
            workload: report.map(|r| r.workload.to_string()),
            verdict,
            bytes: bytes_in(&path),
            dir: path,
        });
    }
    // Run ids open with their start time: name order is start order.
    runs.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(runs)
}

/// Removes all but the newest `keep` run directories of `state_dir`,
/// never a live one; returns what it removed.
pub fn prune(state_dir: &Path, keep: usize) -> std::io::Result<Vec<RunEntry>> {
    let runs = list(state_dir)?;
    let old = runs.len().saturating_sub(keep);
    let mut removed = Vec::new();
    for run in runs.into_iter().take(old) {
        if run.verdict == RunOutcome::Running || is_live(&run.dir) {
            continue;
        }
        std::fs::remove_dir_all(&run.dir)?;
        removed.push(run);
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_run_ids_have_a_start_time() {
        assert_eq!(
            started_of("20261201-064758-3fa2").as_deref(),
            Some("2026-12-01 06:47:58")
        );
        assert_eq!(started_of("out"), None);
        assert_eq!(started_of("2026120-064758-3fa2"), None);
        assert_eq!(started_of("20261201_064758-3fa2"), None);
    }

    #[test]
    fn prune_keeps_the_newest_and_the_live_ones() {
        let state = tempfile::tempdir().unwrap();
        let runs = runs_dir(state.path());
        let ids: Vec<String> = (0..5).map(|i| format!("20260101-00000{i}-abcd")).collect();
        for id in &ids {
            std::fs::create_dir_all(runs.join(id)).unwrap();
            std::fs::write(runs.join(id).join("journal.bin"), b"12345").unwrap();
        }
        std::fs::create_dir_all(runs.join("mine")).unwrap();
        let live = begin(state.path(), &runs.join(&ids[0])).unwrap();
        let removed = prune(state.path(), 2).unwrap();
        let removed: Vec<&str> = removed.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(removed, [&ids[1], &ids[2]]);
        let left: Vec<String> = list(state.path())
            .unwrap()
            .into_iter()
            .map(|r| format!("{} {} {}", r.id, r.verdict, r.bytes))
            .collect();
        assert_eq!(
            left,
            [
                format!("{} running 5", ids[0]),
                format!("{} unfinished 5", ids[3]),
                format!("{} unfinished 5", ids[4])
            ]
        );
        assert!(runs.join("mine").exists());
        drop(live);
        assert_eq!(prune(state.path(), 2).unwrap().len(), 1);
    }
}
