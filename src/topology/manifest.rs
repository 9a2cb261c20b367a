//! The manifest of a run: `<run_dir>/objects.jsonl`, an append-only list of
//! every object the run creates (the Docker network and containers, the
//! partition helpers, the local processes), one JSON line each, written and
//! fsync'ed *before* the object is created: whenever the owner dies
//! (`kill -9`, a power cut), everything it may have made is on record.
//!
//! The first line names the run and its owner, the grabstorm process that
//! started it, by pid and start time, so that a later process reusing the
//! pid is not taken for it. A `kept` line says the owner left the run
//! running on purpose (`up`, `--keep`). `grabstorm down` reads the
//! manifests of its state dir: a run whose owner is dead and that was not
//! kept is a crashed run, and is removed.

use super::procfs::proc_info;
use super::state::RUNS_DIR;
use super::BackendKind;
use serde::{Deserialize, Serialize};
use std::io::Write as _;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};

/// File name of the manifest inside a run dir.
pub const MANIFEST_FILE: &str = "objects.jsonl";

/// Why a manifest could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot record into the run manifest {path}: {cause}")]
    Write {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("cannot read the run manifest {path}: {cause}")]
    Read {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("the run manifest {0} does not start with its run line")]
    NoRunLine(PathBuf),
}

/// One line of the manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "snake_case")]
pub enum Record {
    /// The first line: which run, on which backend, started by whom.
    Run {
        run_id: String,
        backend: BackendKind,
        owner: Owner,
    },
    /// A Docker network about to be created, by name.
    Network { name: String },
    /// A Docker container about to be created, by name: a node's, or a
    /// helper working on `node`.
    Container { name: String, node: String },
    /// A local process about to be launched for `node`: the pid file it
    /// writes and the working dir it runs in.
    Process {
        node: String,
        pid_file: PathBuf,
        data_dir: PathBuf,
    },
    /// What the object `name` (container, network, or node process) got
    /// once created: the engine's id, or the pid.
    Handle { name: String, handle: String },
    /// The run was left running on purpose by this process.
    Kept { by: Owner },
}

/// A process, named so that a later one with the same pid is told apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    pub pid: u32,
    /// Start time in clock ticks since boot (`/proc/<pid>/stat`).
    pub start_ticks: u64,
}

impl Owner {
    /// This process.
    pub fn current() -> Owner {
        let pid = std::process::id();
        Owner {
            pid,
            start_ticks: proc_info(pid as i32).map_or(0, |p| p.start_ticks),
        }
    }

    /// Whether this very process still runs (a zombie does not).
    pub fn is_alive(&self) -> bool {
        proc_info(self.pid as i32).is_some_and(|p| p.is_live() && p.start_ticks == self.start_ticks)
    }
}

/// The manifest of one run dir, for appending.
#[derive(Clone, Debug)]
pub struct Manifest {
    path: PathBuf,
}

impl Manifest {
    /// The manifest of the run in `run_dir` (which must exist to record).
    pub fn of(run_dir: &Path) -> Manifest {
        Manifest {
            path: run_dir.join(MANIFEST_FILE),
        }
    }

    /// Starts the manifest of a new run in `run_dir` with its run line,
    /// this process as the owner. The dir is synced too, so the file
    /// itself survives a power cut.
    pub fn create(
        run_dir: &Path,
        run_id: &str,
        backend: BackendKind,
    ) -> Result<Manifest, ManifestError> {
        let manifest = Manifest::of(run_dir);
        manifest.record(&Record::Run {
            run_id: run_id.to_string(),
            backend,
            owner: Owner::current(),
        })?;
        if let Ok(dir) = std::fs::File::open(run_dir) {
            let _ = dir.sync_all();
        }
        Ok(manifest)
    }

    /// Appends one line and syncs it to disk before returning. One
    /// `write` per line: concurrent appends of one run never interleave.
    pub fn record(&self, record: &Record) -> Result<(), ManifestError> {
        let fail = |cause| ManifestError::Write {
            path: self.path.clone(),
            cause,
        };
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&self.path)
            .map_err(fail)?;
        // A line torn by a crash gets its own end first, so that this
        // record does not glue onto it and become unreadable too.
        let len = file.metadata().map_err(fail)?.len();
        let mut last = [b'\n'];
        if len > 0 {
            file.read_exact_at(&mut last, len - 1).map_err(fail)?;
        }
        let mut line = if last[0] == b'\n' {
            Vec::new()
        } else {
            vec![b'\n']
        };
        serde_json::to_writer(&mut line, record).map_err(|e| fail(e.into()))?;
        line.push(b'\n');
        file.write_all(&line).map_err(fail)?;
        file.sync_data().map_err(fail)
    }

    /// Records that this process leaves the run running on purpose.
    pub fn mark_kept(&self) -> Result<(), ManifestError> {
        self.record(&Record::Kept {
            by: Owner::current(),
        })
    }
}

/// A run as its manifest records it.
#[derive(Clone, Debug)]
pub struct RecordedRun {
    pub run_dir: PathBuf,
    pub run_id: String,
    pub backend: BackendKind,
    pub owner: Owner,
    /// Left running on purpose (`up`, `--keep`).
    pub kept: bool,
    /// Every line after the run line, in order.
    pub records: Vec<Record>,
}

impl RecordedRun {
    /// The run recorded in `run_dir`; `None` when it has no manifest. A
    /// line that cannot be parsed (the last one, cut short by a crash) is
    /// skipped.
    pub fn read(run_dir: &Path) -> Result<Option<RecordedRun>, ManifestError> {
        let path = run_dir.join(MANIFEST_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(cause) => return Err(ManifestError::Read { path, cause }),
        };
        let mut records = text.lines().filter_map(|line| {
            let parsed = serde_json::from_str::<Record>(line);
            if let Err(e) = &parsed {
                tracing::warn!(manifest = %path.display(), "skipping an unreadable line ({e}): {line}");
            }
            parsed.ok()
        });
        let Some(Record::Run {
            run_id,
            backend,
            owner,
        }) = records.next()
        else {
            return Err(ManifestError::NoRunLine(path));
        };
        let records: Vec<Record> = records.collect();
        Ok(Some(RecordedRun {
            run_dir: run_dir.to_path_buf(),
            run_id,
            backend,
            owner,
            kept: records.iter().any(|r| matches!(r, Record::Kept { .. })),
            records,
        }))
    }

    /// Names of the containers recorded, each once, in order.
    pub fn containers(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for r in &self.records {
            if let Record::Container { name, .. } = r {
                if !names.contains(&name.as_str()) {
                    names.push(name);
                }
            }
        }
        names
    }

    /// Every pid recorded for a node process, with the node and the working
    /// dir the process runs in (to check a pid still names that process).
    pub fn processes(&self) -> Vec<(&str, i32, &Path)> {
        let mut found = Vec::new();
        for r in &self.records {
            let Record::Handle { name, handle } = r else {
                continue;
            };
            let Ok(pid) = handle.parse::<i32>() else {
                continue;
            };
            let dir = self.records.iter().rev().find_map(|p| match p {
                Record::Process { node, data_dir, .. } if node == name => Some(data_dir),
                _ => None,
            });
            if let Some(dir) = dir {
                found.push((name.as_str(), pid, dir.as_path()));
            }
        }
        found
    }
}

/// Every recorded run of `state_dir` (run dirs holding a manifest), by run
/// id (which sorts by start time). A manifest that cannot be read is
/// reported and skipped.
pub fn runs_of(state_dir: &Path) -> Vec<RecordedRun> {
    let Ok(entries) = std::fs::read_dir(state_dir.join(RUNS_DIR)) else {
        return Vec::new();
    };
    let mut runs: Vec<RecordedRun> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .filter_map(|dir| match RecordedRun::read(&dir) {
            Ok(run) => run,
            Err(e) => {
                tracing::warn!("{e}");
                None
            }
        })
        .collect();
    runs.sort_by(|a, b| a.run_id.cmp(&b.run_id));
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_reads_back_what_was_recorded_and_skips_a_torn_line() {
        let dir = tempfile::tempdir().unwrap();
        let run_dir = dir.path().join(RUNS_DIR).join("r1");
        std::fs::create_dir_all(&run_dir).unwrap();
        let m = Manifest::create(&run_dir, "r1", BackendKind::Local).unwrap();
        let data = run_dir.join("redis-1/data");
        m.record(&Record::Process {
            node: "redis-1".into(),
            pid_file: run_dir.join("redis-1/node.pid"),
            data_dir: data.clone(),
        })
        .unwrap();
        m.record(&Record::Handle {
            name: "redis-1".into(),
            handle: "4242".into(),
        })
        .unwrap();
        m.record(&Record::Container {
            name: "c1".into(),
            node: "redis-1".into(),
        })
        .unwrap();
        // A crash in the middle of a write leaves half a line.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(run_dir.join(MANIFEST_FILE))
            .unwrap();
        f.write_all(b"{\"record\":\"contai").unwrap();

        let run = RecordedRun::read(&run_dir).unwrap().unwrap();
        assert_eq!(run.run_id, "r1");
        assert_eq!(run.backend, BackendKind::Local);
        assert_eq!(run.owner, Owner::current());
        assert!(run.owner.is_alive());
        assert!(!run.kept);
        assert_eq!(run.processes(), vec![("redis-1", 4242, data.as_path())]);
        assert_eq!(run.containers(), vec!["c1"]);

        m.mark_kept().unwrap();
        let runs = runs_of(dir.path());
        assert_eq!(runs.len(), 1);
        assert!(runs[0].kept);
    }

    #[test]
    fn an_owner_with_another_start_time_is_not_alive() {
        let me = Owner::current();
        let impostor = Owner {
            start_ticks: me.start_ticks + 1,
            ..me
        };
        assert!(!impostor.is_alive());
        assert!(RecordedRun::read(Path::new("/nonexistent/run"))
            .unwrap()
            .is_none());
    }
}
