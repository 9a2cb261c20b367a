//! The layout of a local run dir: `<state_dir>/runs/<run_id>/<node>/` holds
//! the node's config (`redis.conf` or `sentinel.conf`, writable because
//! Sentinel and `CONFIG REWRITE` rewrite it), its log (`node.log`), its pid
//! file (`node.pid`) and its data dir (`data/`, the process's working dir);
//! the config lines that point a node at those files; and reading its log.

use crate::topology::config;
use crate::topology::plan::{Addresses, Plan, PlanError};
use crate::topology::NodeKind;
use std::path::{Path, PathBuf};

/// Where one node's files live inside the run dir.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeFiles {
    pub dir: PathBuf,
    pub config: PathBuf,
    pub log: PathBuf,
    pub pid: PathBuf,
    pub data: PathBuf,
}

impl NodeFiles {
    pub fn new(run_dir: &Path, name: &str, kind: NodeKind) -> NodeFiles {
        let dir = run_dir.join(name);
        let config = dir.join(match kind {
            NodeKind::Redis => "redis.conf",
            NodeKind::Sentinel => "sentinel.conf",
        });
        NodeFiles {
            log: dir.join("node.log"),
            pid: dir.join("node.pid"),
            data: dir.join("data"),
            config,
            dir,
        }
    }
}

/// The lines that place a local node: it binds loopback only, keeps its
/// files in its node dir, and daemonizes; a Cluster node's bus listens on
/// `bus_port` (a free loopback port: the default, port + 10000, may be
/// taken or above 65535).
pub(super) fn placement(files: &NodeFiles, bus_port: Option<u16>) -> Vec<String> {
    let mut lines = vec![
        "bind 127.0.0.1".into(),
        // Detach into its own session so the node outlives `grabstorm up` and
        // ignores the terminal's Ctrl-C; Redis writes the pid file once it listens.
        "daemonize yes".into(),
        format!("pidfile \"{}\"", files.pid.display()),
        format!("logfile \"{}\"", files.log.display()),
        format!("dir \"{}\"", files.data.display()),
        // `ps` shows the config path, so leftovers are recognisable by eye too.
        "proc-title-template \"{title} {listen-addr} {server-mode} {config-file}\"".into(),
    ];
    lines.extend(bus_port.map(|p| format!("cluster-port {p}")));
    lines
}

/// The config file of `node` as the local backend starts it.
pub fn node_config(
    plan: &Plan,
    node: &str,
    files: &NodeFiles,
    addrs: &Addresses,
    bus_port: Option<u16>,
) -> Result<String, PlanError> {
    config::render(plan, node, addrs, &placement(files, bus_port))
}

/// The last `lines` lines of a file (empty when it cannot be read).
pub fn tail_file(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The part of a file after `offset` bytes.
pub(super) fn read_from(path: &Path, offset: u64) -> String {
    let bytes = std::fs::read(path).unwrap_or_default();
    String::from_utf8_lossy(bytes.get(offset as usize..).unwrap_or_default()).into_owned()
}

/// True for a run dir of this backend (node subdirs with a config or log),
/// or an empty one; Docker runs keep other files in the same `runs/` dir.
pub(super) fn is_local_run_dir(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    let entries: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    entries.is_empty()
        || entries.iter().any(|e| {
            ["node.log", "redis.conf", "sentinel.conf"]
                .iter()
                .any(|f| e.join(f).is_file())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files() -> NodeFiles {
        NodeFiles::new(Path::new("/state/runs/r1"), "redis-2", NodeKind::Redis)
    }

    #[test]
    fn node_files_live_in_the_node_dir_of_the_run() {
        let f = files();
        assert_eq!(f.config, Path::new("/state/runs/r1/redis-2/redis.conf"));
        assert_eq!(f.data, Path::new("/state/runs/r1/redis-2/data"));
        assert_eq!(f.pid, Path::new("/state/runs/r1/redis-2/node.pid"));
        let s = NodeFiles::new(Path::new("/x"), "sentinel-1", NodeKind::Sentinel);
        assert_eq!(s.config, Path::new("/x/sentinel-1/sentinel.conf"));
    }
}
