//! The local backend: `redis-server` and `redis-sentinel` processes on
//! 127.0.0.1 free ports, one directory per run. It carries out a
//! [`Plan`]: the configs come from [`config`](crate::topology::config);
//! this backend only adds where each process binds and keeps its files.
//! The parts:
//!
//! - [`files`]: the run dir layout, and the config lines that place a node.
//! - [`ports`]: free loopback ports.
//! - [`launcher`]: starting a node process, retried on a port clash.
//! - [`process`]: finding, signalling and killing a run's processes.
//!
//! The restart policy is the one of [`Backend::restart`]: a restarted
//! process starts again from its own config, and nothing else.

mod files;
mod launcher;
mod ports;
mod process;

pub use files::{node_config, tail_file, NodeFiles};
pub use process::node_process_state;

use crate::topology::manifest::{Manifest, RecordedRun};
use crate::topology::plan::{Addresses, Plan, PlannedNode};
use crate::topology::spec::TopologySpec;
use crate::topology::state;
use crate::topology::{Backend, BackendKind, Node, NodeKind, ProcessState, Topology};
use anyhow::Context;
use files::is_local_run_dir;
use futures::future::try_join_all;
use launcher::{LaunchError, Launcher};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use ports::free_ports;
use process::{is_node_process, kill_and_wait, node_pid, processes_under, settle};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Why the local backend could not start or touch a node.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error("redis-server was not found on PATH: install it (Debian/Ubuntu: `sudo apt-get install redis-server redis-sentinel`), or use --backend docker")]
    MissingBinary,
    #[error("{node}: port {port} on 127.0.0.1 was taken by another process {attempts} times in a row: free some ports or retry")]
    PortClash {
        node: String,
        port: u16,
        attempts: usize,
    },
    #[error("{node} did not start: {cause}\n--- last lines of {log} ---\n{tail}")]
    StartFailed {
        node: String,
        cause: String,
        log: PathBuf,
        tail: String,
    },
    #[error("partition needs the Docker backend: local processes all share the host's loopback, so one cannot be cut off from its peers while the host still reaches it (start the topology with --backend docker)")]
    PartitionUnsupported,
    #[error("no node named {0:?} in this run")]
    UnknownNode(String),
    #[error("{node} is not running (its process is gone): restart it first")]
    NotRunning { node: String },
    #[error("{node} is still running (pid {pid}): restart only starts a dead node")]
    StillRunning { node: String, pid: i32 },
}

impl LocalError {
    /// `node` did not start because of `cause`; carries the tail of its log.
    fn start_failed(node: &str, files: &NodeFiles, cause: String) -> LocalError {
        LocalError::StartFailed {
            node: node.to_string(),
            cause,
            log: files.log.clone(),
            tail: tail_file(&files.log, 15),
        }
    }
}

/// Local processes on loopback.
pub struct LocalBackend {
    /// Every run dir of this state dir lives in its `runs/`.
    state_dir: PathBuf,
}

impl LocalBackend {
    /// A backend keeping its run dirs under `<state_dir>/runs`.
    pub fn new(state_dir: &Path) -> LocalBackend {
        LocalBackend {
            state_dir: state_dir.to_path_buf(),
        }
    }

    /// The canonical runs root, created if absent.
    fn runs_root(&self) -> anyhow::Result<PathBuf> {
        state::runs_root(&self.state_dir)
    }

    /// The node `name` of `topology`, or [`LocalError::UnknownNode`].
    fn node<'a>(topology: &'a Topology, name: &str) -> anyhow::Result<&'a Node> {
        Ok(topology
            .node(name)
            .ok_or_else(|| LocalError::UnknownNode(name.to_string()))?)
    }

    /// Sends `sig` to the node's process; returns its pid.
    fn signal(topology: &Topology, name: &str, sig: Signal) -> anyhow::Result<i32> {
        let node = Self::node(topology, name)?;
        let pid = node_pid(topology, node).ok_or_else(|| LocalError::NotRunning {
            node: name.to_string(),
        })?;
        kill(Pid::from_raw(pid), sig)
            .with_context(|| format!("{name}: cannot send {sig} to pid {pid}"))?;
        Ok(pid)
    }

    /// Launches every node of `plan` in `run_dir` on free loopback ports:
    /// the master, then its replicas and the sentinels.
    async fn start_all(&self, plan: &Plan, run_dir: &Path) -> anyhow::Result<Topology> {
        let launcher = Launcher::find(run_dir)?;
        let ports = free_ports(plan.nodes.len())?;
        let mut addrs: Addresses = plan
            .nodes
            .iter()
            .zip(&ports)
            .map(|(n, p)| (n.name.clone(), SocketAddr::from(([127, 0, 0, 1], *p))))
            .collect();

        // The master first: replicas and sentinels need its final port.
        let (master, rest) = plan.nodes.split_first().context("a plan has a master")?;
        let master = launcher.start(plan, run_dir, master, &addrs).await?;
        addrs.insert(master.name.clone(), master.host_addr);
        let addrs = &addrs;
        let (replicas, sentinels): (Vec<&PlannedNode>, Vec<&PlannedNode>) =
            rest.iter().partition(|n| n.kind == NodeKind::Redis);
        let replicas = try_join_all(
            replicas
                .into_iter()
                .map(|n| launcher.start(plan, run_dir, n, addrs)),
        );
        let sentinels = try_join_all(
            sentinels
                .into_iter()
                .map(|n| launcher.start(plan, run_dir, n, addrs)),
        );
        // Replicas before sentinels: a sentinel whose first connection to a
        // node is refused retries only after a second (its ping period), and
        // flags the node down meanwhile.
        let replicas = replicas.await?;
        let sentinels = sentinels.await?;

        let nodes = std::iter::once(master)
            .chain(replicas)
            .chain(sentinels)
            .collect();
        Ok(Topology {
            run_id: plan.run_id.clone(),
            backend: BackendKind::Local,
            spec: plan.spec.clone(),
            nodes,
            image: None,
            network_id: None,
            run_dir: run_dir.to_path_buf(),
            aliases: Default::default(),
            sentinel_ids: plan.sentinel_ids(),
            shards: Default::default(),
            password: plan.password.clone(),
        })
    }

    /// Kills every process under `run_dir` and removes the dir.
    async fn remove_run_dir(&self, run_dir: &Path, extra_pids: &[i32]) -> anyhow::Result<Vec<i32>> {
        let mut pids: Vec<i32> = processes_under(run_dir)
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        for &p in extra_pids {
            if !pids.contains(&p) {
                pids.push(p);
            }
        }
        kill_and_wait(&pids).await;
        if run_dir.exists() {
            std::fs::remove_dir_all(run_dir)
                .with_context(|| format!("cannot remove run dir {}", run_dir.display()))?;
        }
        Ok(pids)
    }
}

#[async_trait::async_trait]
impl Backend for LocalBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Local
    }

    async fn up(&self, spec: &TopologySpec, run_id: &str) -> anyhow::Result<Topology> {
        let run_dir = self.runs_root()?.join(run_id);
        // Node configs hold the run's password.
        state::create_private_dir(&run_dir)?;
        Manifest::create(&run_dir, run_id, BackendKind::Local)?;
        let plan = Plan::new(spec, run_id)?;
        match self.start_all(&plan, &run_dir).await {
            Ok(t) => Ok(t),
            Err(e) => {
                if let Err(cleanup) = self.remove_run_dir(&run_dir, &[]).await {
                    tracing::warn!("cleanup after a failed start: {cleanup:#}");
                }
                Err(e)
            }
        }
    }

    async fn down(&self, topology: &Topology) -> anyhow::Result<()> {
        let pids: Vec<i32> = topology
            .nodes
            .iter()
            .filter_map(|n| node_pid(topology, n))
            .collect();
        self.remove_run_dir(&topology.run_dir, &pids).await?;
        Ok(())
    }

    async fn remove_recorded(&self, run: &RecordedRun) -> anyhow::Result<Vec<String>> {
        let run_dir = run.run_dir.canonicalize().unwrap_or(run.run_dir.clone());
        // By working dir (what runs there now, restarted nodes too), and by
        // the pids on record, each checked to still be that node's process.
        let mut procs: Vec<(i32, String)> = processes_under(&run_dir)
            .into_iter()
            .map(|(pid, cwd)| {
                let node = cwd
                    .strip_prefix(&run_dir)
                    .unwrap_or(&cwd)
                    .components()
                    .next();
                let node = node.map_or(String::new(), |c| c.as_os_str().to_string_lossy().into());
                (pid, node)
            })
            .collect();
        for (node, pid, data_dir) in run.processes() {
            if is_node_process(pid, data_dir) && !procs.iter().any(|(p, _)| *p == pid) {
                procs.push((pid, node.to_string()));
            }
        }
        let pids: Vec<i32> = procs.iter().map(|(p, _)| *p).collect();
        self.remove_run_dir(&run_dir, &pids).await?;
        let mut removed: Vec<String> = procs
            .iter()
            .map(|(pid, node)| format!("killed pid {pid} ({node})"))
            .collect();
        removed.push(format!("removed run dir {}", run_dir.display()));
        Ok(removed)
    }

    async fn down_all(&self) -> anyhow::Result<Vec<String>> {
        let root = self.runs_root()?;
        let mut removed = Vec::new();
        let procs = processes_under(&root);
        for (pid, cwd) in &procs {
            let what = cwd.strip_prefix(&root).unwrap_or(cwd);
            removed.push(format!("killed pid {pid} ({})", what.display()));
        }
        kill_and_wait(&procs.iter().map(|(p, _)| *p).collect::<Vec<_>>()).await;
        for entry in std::fs::read_dir(&root)
            .with_context(|| format!("cannot list {}", root.display()))?
            .flatten()
        {
            let path = entry.path();
            if path.is_dir() && is_local_run_dir(&path) {
                std::fs::remove_dir_all(&path)
                    .with_context(|| format!("cannot remove {}", path.display()))?;
                removed.push(format!("removed run dir {}", path.display()));
            }
        }
        Ok(removed)
    }

    async fn state(&self, topology: &Topology, node: &str) -> anyhow::Result<ProcessState> {
        Ok(node_process_state(topology, Self::node(topology, node)?))
    }

    /// SIGKILL, then waits (bounded) until the process is gone, so that a
    /// `state` right after says `Exited`.
    async fn kill(&self, topology: &Topology, node: &str) -> anyhow::Result<()> {
        let n = Self::node(topology, node)?;
        let pid = node_pid(topology, n).ok_or_else(|| LocalError::NotRunning {
            node: node.to_string(),
        })?;
        kill(Pid::from_raw(pid), Signal::SIGKILL)
            .with_context(|| format!("{node}: cannot send SIGKILL to pid {pid}"))?;
        kill_and_wait(&[pid]).await;
        Ok(())
    }

    /// SIGSTOP, then waits (bounded) until the kernel reports it stopped.
    async fn pause(&self, topology: &Topology, node: &str) -> anyhow::Result<()> {
        let pid = Self::signal(topology, node, Signal::SIGSTOP)?;
        settle(pid, |s| s == 'T' || s == 't').await;
        Ok(())
    }

    /// SIGCONT, then waits (bounded) until it runs again.
    async fn resume(&self, topology: &Topology, node: &str) -> anyhow::Result<()> {
        let pid = Self::signal(topology, node, Signal::SIGCONT)?;
        settle(pid, |s| s != 'T' && s != 't').await;
        Ok(())
    }

    /// Starts the node again from its own config, as rewritten by Redis or
    /// Sentinel: a stale master comes back as a master, and Sentinel
    /// converts it (the policy: [`Backend::restart`]).
    async fn restart(&self, topology: &mut Topology, name: &str) -> anyhow::Result<()> {
        let node = Self::node(topology, name)?.clone();
        if let Some(pid) = node_pid(topology, &node) {
            return Err(LocalError::StillRunning {
                node: name.to_string(),
                pid,
            }
            .into());
        }
        let files = NodeFiles::new(&topology.run_dir, name, node.kind);
        let launcher = Launcher::find(&topology.run_dir)?;
        let pid = match launcher.launch(name, node.kind, &files).await {
            Ok(pid) => pid,
            Err(LaunchError::PortTaken) => {
                return Err(LocalError::start_failed(
                    name,
                    &files,
                    format!(
                        "its port {} is now taken by another process",
                        node.host_addr.port()
                    ),
                )
                .into())
            }
            Err(LaunchError::Failed(cause)) => {
                return Err(LocalError::start_failed(name, &files, cause).into())
            }
        };
        if let Some(n) = topology.node_mut(name) {
            n.handle = pid.to_string();
        }
        Ok(())
    }

    async fn partition(
        &self,
        _topology: &Topology,
        _node: &str,
        _from: &[String],
    ) -> anyhow::Result<std::time::Instant> {
        Err(LocalError::PartitionUnsupported.into())
    }

    async fn heal(&self, _topology: &Topology, _node: &str) -> anyhow::Result<bool> {
        Err(LocalError::PartitionUnsupported.into())
    }

    async fn heal_all(&self, _topology: &Topology) -> anyhow::Result<Vec<String>> {
        Err(LocalError::PartitionUnsupported.into())
    }

    /// A free loopback port and a free bus port, the config of the one
    /// renderer, launched as `up` launches a Cluster node.
    async fn add_node(&self, topology: &mut Topology, name: &str) -> anyhow::Result<()> {
        if topology.node(name).is_some() {
            anyhow::bail!("{name} is already a node of the run");
        }
        let plan = Plan::for_added_node(topology, name);
        let planned = plan.node(name)?.clone();
        let launcher = Launcher::find(&topology.run_dir)?;
        let port = free_ports(1)?[0];
        let addrs: Addresses = [(name.to_string(), SocketAddr::from(([127, 0, 0, 1], port)))]
            .into_iter()
            .collect();
        match launcher
            .start(&plan, &topology.run_dir, &planned, &addrs)
            .await
        {
            Ok(node) => {
                topology.nodes.push(node);
                Ok(())
            }
            Err(e) => {
                let dir = NodeFiles::new(&topology.run_dir, name, NodeKind::Redis).dir;
                let _ = std::fs::remove_dir_all(dir);
                Err(e)
            }
        }
    }

    /// Kills its process (waiting until it is gone) and removes its dir.
    async fn remove_node(&self, topology: &mut Topology, name: &str) -> anyhow::Result<()> {
        let node = Self::node(topology, name)?.clone();
        let files = NodeFiles::new(&topology.run_dir, name, node.kind);
        let mut pids: Vec<i32> = processes_under(&files.dir)
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        pids.extend(node_pid(topology, &node).filter(|p| !pids.contains(p)));
        kill_and_wait(&pids).await;
        if let Some(pid) = node_pid(topology, &node) {
            anyhow::bail!("{name}: its process (pid {pid}) is still running after SIGKILL");
        }
        if files.dir.exists() {
            std::fs::remove_dir_all(&files.dir)
                .with_context(|| format!("cannot remove {}", files.dir.display()))?;
        }
        topology.nodes.retain(|n| n.name != name);
        Ok(())
    }

    async fn log_tail(&self, topology: &Topology, node: &str, lines: usize) -> String {
        match topology.node(node) {
            Some(n) => tail_file(&NodeFiles::new(&topology.run_dir, node, n.kind).log, lines),
            None => String::new(),
        }
    }
}
