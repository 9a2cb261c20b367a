//! The state file: `<state_dir>/current.json`, the [`Topology`] of the run
//! that `grabstorm up` left running, so `status`, `fault`, `load --attach`
//! and `down` find it. It records what was started (nodes, addresses,
//! handles) and the run's password, never roles: those are read live.
//! Files holding the password are readable by their owner only.

use super::Topology;
use anyhow::Context;
use std::path::{Path, PathBuf};

/// File name of the state file inside the state dir.
pub const STATE_FILE: &str = "current.json";
/// Dir inside the state dir that holds one dir per run, of both backends:
/// `<state_dir>/runs/<run_id>`.
pub const RUNS_DIR: &str = "runs";

/// Why the state file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("no running topology: start one with `grabstorm up` (no state file at {0})")]
    NoTopology(PathBuf),
    #[error("the state file {path} is unreadable ({cause}): remove the leftovers with `grabstorm down --all`")]
    Corrupt { path: PathBuf, cause: String },
}

/// Path of the state file in `state_dir`.
pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join(STATE_FILE)
}

/// Writes the running topology, atomically (temp file + rename), so a
/// reader never sees half a file.
pub fn save(state_dir: &Path, topology: &Topology) -> anyhow::Result<()> {
    std::fs::create_dir_all(state_dir)
        .with_context(|| format!("cannot create state dir {}", state_dir.display()))?;
    let target = path(state_dir);
    let tmp = state_dir.join(format!(".{STATE_FILE}.{}.tmp", std::process::id()));
    let json = serde_json::to_vec_pretty(topology).context("cannot encode the topology")?;
    write_private(&tmp, &json)?;
    std::fs::rename(&tmp, &target)
        .with_context(|| format!("cannot write state file {}", target.display()))?;
    Ok(())
}

/// Writes `bytes` to `path`, readable and writable by the owner only
/// (mode 0600, also when the file existed).
pub fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .and_then(|()| file.write_all(bytes))
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Creates `dir` (and its parents) and makes it the owner's only (mode 0700).
pub fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)))
        .with_context(|| format!("cannot create directory {}", dir.display()))
}

/// Reads the running topology.
pub fn load(state_dir: &Path) -> Result<Topology, StateError> {
    let p = path(state_dir);
    let text = match std::fs::read_to_string(&p) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(StateError::NoTopology(p))
        }
        Err(e) => {
            return Err(StateError::Corrupt {
                path: p,
                cause: e.to_string(),
            })
        }
    };
    serde_json::from_str(&text).map_err(|e| StateError::Corrupt {
        path: p,
        cause: e.to_string(),
    })
}

/// Removes the state file; absent is fine.
pub fn clear(state_dir: &Path) -> anyhow::Result<()> {
    let p = path(state_dir);
    match std::fs::remove_file(&p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot remove state file {}", p.display())),
    }
}

/// `<state_dir>/runs`, created if absent, in canonical form: `/proc/<pid>/cwd`
/// shows resolved paths, and the state-dir label of Docker objects must name
/// one state dir one way only.
pub fn runs_root(state_dir: &Path) -> anyhow::Result<PathBuf> {
    let root = state_dir.join(RUNS_DIR);
    std::fs::create_dir_all(&root).with_context(|| format!("cannot create {}", root.display()))?;
    root.canonicalize()
        .with_context(|| format!("cannot resolve {}", root.display()))
}

/// The state dir a run dir (`<state_dir>/runs/<run_id>`) belongs to.
pub fn state_dir_of(run_dir: &Path) -> Option<&Path> {
    run_dir.parent()?.parent()
}

/// A fresh run id: UTC time of day plus random digits, e.g. `20261124-231805-3f9a`.
/// Sorts by start time; short enough for container names.
pub fn new_run_id() -> String {
    use rand::Rng;
    let u = crate::words::date::Utc::of(std::time::SystemTime::now());
    let suffix: u16 = rand::rng().random();
    format!(
        "{:04}{:02}{:02}-{:02}{:02}{:02}-{suffix:04x}",
        u.year, u.month, u.day, u.hour, u.minute, u.second
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::{BackendKind, TopologySpec};

    #[test]
    fn save_load_clear_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let err = load(dir.path()).unwrap_err();
        assert!(err
            .to_string()
            .starts_with("no running topology: start one with `grabstorm up`"));
        let t = Topology {
            run_id: "r1".into(),
            backend: BackendKind::Local,
            spec: TopologySpec::default(),
            nodes: vec![],
            image: None,
            network_id: None,
            run_dir: dir.path().join("runs/r1"),
            aliases: Default::default(),
            sentinel_ids: Default::default(),
            shards: Default::default(),
            password: Some("secret".into()),
        };
        save(dir.path(), &t).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path(dir.path()))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let back = load(dir.path()).unwrap();
        assert_eq!(back.run_id, "r1");
        assert_eq!(back.password.as_deref(), Some("secret"));
        assert_eq!(back.run_dir, t.run_dir);
        clear(dir.path()).unwrap();
        clear(dir.path()).unwrap();
        assert!(matches!(load(dir.path()), Err(StateError::NoTopology(_))));
    }

    #[test]
    fn a_corrupt_state_file_says_how_to_recover() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(path(dir.path()), "{not json").unwrap();
        let err = load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("grabstorm down --all"), "{err}");
    }

    #[test]
    fn run_ids_are_dated() {
        let id = new_run_id();
        assert_eq!(id.len(), "20261124-231805-3f9a".len(), "{id}");
    }
}
