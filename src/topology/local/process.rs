//! The processes of a local run, found and signalled through `/proc`. A
//! process belongs to a run when it is a Redis process whose working
//! directory lies under that run's dir (and its process title names its
//! config there): that is how `down --all` finds leftovers of crashed runs
//! without any state file. A node's own process is its recorded pid or the
//! one in its pid file, whichever is still that node's.

use super::files::NodeFiles;
use crate::topology::procfs::{proc_cwd, proc_info};
use crate::topology::{Node, ProcessState, Topology};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Time allowed for killed processes to disappear during `down`.
const KILL_WAIT: Duration = Duration::from_secs(3);

/// A live (not zombie) Redis process whose working dir is `data_dir`.
pub(super) fn is_node_process(pid: i32, data_dir: &Path) -> bool {
    match proc_info(pid) {
        Some(p) if p.is_live() && p.comm.starts_with("redis") => {
            proc_cwd(pid).is_some_and(|cwd| cwd == data_dir)
        }
        _ => false,
    }
}

/// Live Redis processes whose working dir lies under `root`, with that dir.
pub(super) fn processes_under(root: &Path) -> Vec<(i32, PathBuf)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| {
            let info = proc_info(pid)?;
            // Only Redis processes: never a shell that happens to sit in a run dir.
            if info.state == 'Z' || !info.comm.starts_with("redis") {
                return None;
            }
            let cwd = proc_cwd(pid)?;
            cwd.starts_with(root).then_some((pid, cwd))
        })
        .collect()
}

/// The pid of a node's process, if it is alive: its recorded handle, else
/// the pid file (a restart by another grabstorm process changes the pid).
pub(super) fn node_pid(topology: &Topology, node: &Node) -> Option<i32> {
    let files = NodeFiles::new(&topology.run_dir, &node.name, node.kind);
    let from_file = std::fs::read_to_string(&files.pid)
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok());
    [node.handle.parse::<i32>().ok(), from_file]
        .into_iter()
        .flatten()
        .find(|&pid| is_node_process(pid, &files.data))
}

/// Process state of a local node, read from `/proc` (no backend needed).
pub fn node_process_state(topology: &Topology, node: &Node) -> ProcessState {
    match node_pid(topology, node).and_then(proc_info) {
        Some(p) if p.state == 'T' || p.state == 't' => ProcessState::Paused,
        Some(_) => ProcessState::Running,
        None => ProcessState::Exited,
    }
}

/// Sends SIGKILL to every pid and waits (bounded) until they are gone.
pub(super) async fn kill_and_wait(pids: &[i32]) {
    for &pid in pids {
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
    let deadline = Instant::now() + KILL_WAIT;
    while Instant::now() < deadline {
        let alive = pids
            .iter()
            .any(|&p| proc_info(p).is_some_and(|i| i.is_live()));
        if !alive {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits up to a second until the process state letter satisfies `done`
/// (signals are delivered asynchronously).
pub(super) async fn settle(pid: i32, done: impl Fn(char) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline {
        match proc_info(pid) {
            Some(p) if !done(p.state) => tokio::time::sleep(Duration::from_millis(2)).await,
            _ => return,
        }
    }
}
