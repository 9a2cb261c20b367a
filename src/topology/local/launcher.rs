//! Launching node processes: `redis-server` (or `redis-sentinel`) from the
//! node's config, in its own process group, waiting until its pid file
//! appears (Redis writes it once it listens), and starting over on a fresh
//! port when the chosen one was taken meanwhile. Nodes daemonize (Redis's
//! own `daemonize yes`: a new session, stdio detached, logs to the log
//! file), so they outlive the `grabstorm up` that started them and never
//! receive the terminal's Ctrl-C. Each launch is on record in the run's
//! manifest before it happens, with its pid after.

use super::files::{node_config, read_from, NodeFiles};
use super::ports::free_ports;
use super::LocalError;
use crate::topology::manifest::{Manifest, Record};
use crate::topology::plan::{Addresses, Plan, PlannedNode};
use crate::topology::{Node, NodeKind};
use anyhow::Context;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Time a node gets to write its pid file (it does so once it listens).
const LAUNCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Attempts per node when its port turns out to be taken meanwhile.
const PORT_ATTEMPTS: usize = 3;

/// Finds an executable on PATH.
fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The topology's record of a node listening on loopback `port` as `pid`.
fn local_node(name: &str, kind: NodeKind, port: u16, pid: i32) -> Node {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    Node {
        name: name.to_string(),
        kind,
        host_addr: addr,
        internal_addr: addr.to_string(),
        handle: pid.to_string(),
    }
}

/// Starts node processes.
pub(super) struct Launcher {
    server: PathBuf,
    /// `redis-sentinel` if installed; else `redis-server --sentinel` is used.
    sentinel: Option<PathBuf>,
    /// The run's manifest: each process is on record before it is launched.
    manifest: Manifest,
}

/// One failed launch.
pub(super) enum LaunchError {
    PortTaken,
    Failed(String),
}

impl Launcher {
    /// The launcher of the nodes of the run in `run_dir`, with the Redis
    /// binaries found on PATH.
    pub(super) fn find(run_dir: &Path) -> Result<Launcher, LocalError> {
        Ok(Launcher {
            server: find_on_path("redis-server").ok_or(LocalError::MissingBinary)?,
            sentinel: find_on_path("redis-sentinel"),
            manifest: Manifest::of(run_dir),
        })
    }

    /// Launches one node of `plan` whose peers are at `addrs`, rendering
    /// its config for whatever port it ends up on.
    pub(super) async fn start(
        &self,
        plan: &Plan,
        run_dir: &Path,
        node: &PlannedNode,
        addrs: &Addresses,
    ) -> anyhow::Result<Node> {
        let files = NodeFiles::new(run_dir, &node.name, node.kind);
        let mut addrs = addrs.clone();
        let first = addrs.get(&node.name).map_or(0, |a| a.port());
        let clustered = plan.spec.is_cluster() && node.kind == NodeKind::Redis;
        let (port, pid) = self
            .launch_with_retries(&node.name, node.kind, &files, first, |port| {
                addrs.insert(node.name.clone(), SocketAddr::from(([127, 0, 0, 1], port)));
                // A fresh bus port on every attempt: a clash on it is
                // retried like one on the client port.
                let bus = match clustered {
                    true => Some(free_ports(1)?[0]),
                    false => None,
                };
                Ok(node_config(plan, &node.name, &files, &addrs, bus)?)
            })
            .await?;
        Ok(local_node(&node.name, node.kind, port, pid))
    }

    /// Writes the config for `port` and launches; on a port clash picks a
    /// fresh port and tries again. Returns the port and pid.
    async fn launch_with_retries(
        &self,
        name: &str,
        kind: NodeKind,
        files: &NodeFiles,
        first_port: u16,
        mut config_for: impl FnMut(u16) -> anyhow::Result<String>,
    ) -> anyhow::Result<(u16, i32)> {
        std::fs::create_dir_all(&files.data)
            .with_context(|| format!("{name}: cannot create {}", files.data.display()))?;
        let mut port = first_port;
        for attempt in 1..=PORT_ATTEMPTS {
            std::fs::write(&files.config, config_for(port)?)
                .with_context(|| format!("{name}: cannot write {}", files.config.display()))?;
            match self.launch(name, kind, files).await {
                Ok(pid) => return Ok((port, pid)),
                Err(LaunchError::PortTaken) if attempt < PORT_ATTEMPTS => {
                    tracing::warn!(
                        node = name,
                        port,
                        "port taken meanwhile, retrying with another"
                    );
                    port = free_ports(1)?[0];
                }
                Err(LaunchError::PortTaken) => {
                    return Err(LocalError::PortClash {
                        node: name.to_string(),
                        port,
                        attempts: PORT_ATTEMPTS,
                    }
                    .into())
                }
                Err(LaunchError::Failed(cause)) => {
                    return Err(LocalError::start_failed(name, files, cause).into())
                }
            }
        }
        unreachable!("the last attempt returns")
    }

    /// Launches a node from its config and waits for its pid file.
    pub(super) async fn launch(
        &self,
        name: &str,
        kind: NodeKind,
        files: &NodeFiles,
    ) -> Result<i32, LaunchError> {
        let _ = std::fs::remove_file(&files.pid);
        self.manifest
            .record(&Record::Process {
                node: name.to_string(),
                pid_file: files.pid.clone(),
                data_dir: files.data.clone(),
            })
            .map_err(|e| LaunchError::Failed(e.to_string()))?;
        let log_len = std::fs::metadata(&files.log).map(|m| m.len()).unwrap_or(0);
        let mut cmd = match (kind, &self.sentinel) {
            (NodeKind::Sentinel, Some(bin)) => {
                let mut c = tokio::process::Command::new(bin);
                c.arg(&files.config);
                c
            }
            (NodeKind::Sentinel, None) => {
                let mut c = tokio::process::Command::new(&self.server);
                c.arg(&files.config).arg("--sentinel");
                c
            }
            (NodeKind::Redis, _) => {
                let mut c = tokio::process::Command::new(&self.server);
                c.arg(&files.config);
                c
            }
        };
        // Errors before Redis daemonizes (a bad config line) go to stderr: keep them in the log.
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&files.log)
            .map_err(|e| {
                LaunchError::Failed(format!("cannot open {}: {e}", files.log.display()))
            })?;
        let log2 = log
            .try_clone()
            .map_err(|e| LaunchError::Failed(e.to_string()))?;
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log2))
            .current_dir(&files.data)
            // Its own process group from the start: Ctrl-C in the terminal never reaches it.
            .process_group(0);
        let status = tokio::time::timeout(LAUNCH_TIMEOUT, async { cmd.status().await })
            .await
            .map_err(|_| LaunchError::Failed("the launcher did not return within 5s".into()))?
            .map_err(|e| {
                LaunchError::Failed(format!("cannot run {}: {e}", self.server.display()))
            })?;
        if !status.success() {
            return Err(LaunchError::Failed(format!(
                "it exited with {status} before listening"
            )));
        }
        let deadline = Instant::now() + LAUNCH_TIMEOUT;
        loop {
            if let Some(pid) = std::fs::read_to_string(&files.pid)
                .ok()
                .and_then(|s| s.trim().parse::<i32>().ok())
            {
                self.manifest
                    .record(&Record::Handle {
                        name: name.to_string(),
                        handle: pid.to_string(),
                    })
                    .map_err(|e| LaunchError::Failed(e.to_string()))?;
                return Ok(pid);
            }
            let new_log = read_from(&files.log, log_len);
            if new_log.contains("Address already in use") {
                return Err(LaunchError::PortTaken);
            }
            if let Some(line) = new_log
                .lines()
                .find(|l| l.contains("# Fatal") || l.contains("FATAL") || l.contains("Can't"))
            {
                return Err(LaunchError::Failed(line.trim().to_string()));
            }
            if Instant::now() > deadline {
                return Err(LaunchError::Failed(format!(
                    "no pid file {} within {LAUNCH_TIMEOUT:?}",
                    files.pid.display()
                )));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::config;
    use crate::topology::local::files::placement;
    use crate::topology::local::process::{is_node_process, kill_and_wait};
    use crate::topology::TopologySpec;
    use std::net::TcpListener;

    /// replaced by a fresh one (needs `redis-server` on PATH).
    #[tokio::test]
    async fn a_port_taken_meanwhile_is_retried_with_another() {
        let Some(server) = find_on_path("redis-server") else {
            panic!("redis-server must be installed for this test");
        };
        let dir = tempfile::tempdir().unwrap();
        let run_dir = dir.path().canonicalize().unwrap();
        let squatter = TcpListener::bind("127.0.0.1:0").unwrap();
        let taken = squatter.local_addr().unwrap().port();
        let files = NodeFiles::new(&run_dir, "redis-1", NodeKind::Redis);
        let launcher = Launcher {
            server,
            sentinel: None,
            manifest: Manifest::of(&run_dir),
        };
        let plan = Plan::with_password(&TopologySpec::default(), "r1", None);
        let (port, pid) = launcher
            .launch_with_retries("redis-1", NodeKind::Redis, &files, taken, |p| {
                let addrs = [("redis-1".to_string(), SocketAddr::from(([127, 0, 0, 1], p)))];
                Ok(config::render(
                    &plan,
                    "redis-1",
                    &addrs.into(),
                    &placement(&files, None),
                )?)
            })
            .await
            .unwrap();
        assert_ne!(port, taken);
        assert!(is_node_process(pid, &files.data));
        assert!(std::fs::read_to_string(&files.log)
            .unwrap()
            .contains("Address already in use"));
        kill_and_wait(&[pid]).await;
        assert!(!is_node_process(pid, &files.data));
    }
}
