//! The local backend: `redis-server` and `redis-sentinel` processes on
//! 127.0.0.1 free ports, one directory per run. It carries out a [`Plan`]:
//! the configs come from [`config`](super::config), this file only adds
//! where each process binds and keeps its files.
//!
//! Layout of a run: `<state_dir>/runs/<run_id>/<node>/` holds the node's
//! config (`redis.conf` or `sentinel.conf`, writable because Sentinel and
//! `CONFIG REWRITE` rewrite it), its log (`node.log`), its pid file
//! (`node.pid`) and its data dir (`data/`, the process's working dir).
//!
//! Nodes daemonize (Redis's own `daemonize yes`: a new session, stdio
//! detached, logs to the log file), so they outlive the `grabstorm up` that
//! started them and never receive the terminal's Ctrl-C. A process belongs
//! to a run when its working directory lies under that run's dir (and its
//! process title names its config there): that is how `down --all` finds
//! leftovers of crashed runs without any state file. Each launch is also on
//! record in the run's manifest, before it happens, with its pid after.

use super::config;
use super::manifest::{Manifest, Record, RecordedRun};
use super::plan::{Addresses, Plan, PlanError, PlannedNode};
use super::procfs::{proc_cwd, proc_info};
use super::spec::TopologySpec;
use super::{Backend, BackendKind, Node, NodeKind, ProcessState, Topology};
use anyhow::Context;
use futures::future::try_join_all;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Time a node gets to write its pid file (it does so once it listens).
const LAUNCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Attempts per node when its port turns out to be taken meanwhile.
const PORT_ATTEMPTS: usize = 3;
/// Time allowed for killed processes to disappear during `down`.
const KILL_WAIT: Duration = Duration::from_secs(3);

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
/// files in its node dir, and daemonizes.
fn placement(files: &NodeFiles) -> Vec<String> {
    vec![
        "bind 127.0.0.1".into(),
        // Detach into its own session so the node outlives `grabstorm up` and
        // ignores the terminal's Ctrl-C; Redis writes the pid file once it listens.
        "daemonize yes".into(),
        format!("pidfile \"{}\"", files.pid.display()),
        format!("logfile \"{}\"", files.log.display()),
        format!("dir \"{}\"", files.data.display()),
        // `ps` shows the config path, so leftovers are recognisable by eye too.
        "proc-title-template \"{title} {listen-addr} {server-mode} {config-file}\"".into(),
    ]
}

/// The config file of `node` as the local backend starts it.
pub fn node_config(
    plan: &Plan,
    node: &str,
    files: &NodeFiles,
    addrs: &Addresses,
) -> Result<String, PlanError> {
    config::render(plan, node, addrs, &placement(files))
}

/// Finds an executable on PATH.
fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Free ports on 127.0.0.1, all distinct: the listeners are held until every
/// port is picked. Racy against other processes by nature; a clash is
/// detected at launch and retried with a fresh port.
fn free_ports(n: usize) -> anyhow::Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()
        .context("cannot bind a port on 127.0.0.1")?;
    listeners
        .iter()
        .map(|l| Ok(l.local_addr()?.port()))
        .collect()
}

/// The last `lines` lines of a file (empty when it cannot be read).
pub fn tail_file(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A live (not zombie) Redis process whose working dir is `data_dir`.
fn is_node_process(pid: i32, data_dir: &Path) -> bool {
    match proc_info(pid) {
        Some(p) if p.is_live() && p.comm.starts_with("redis") => {
            proc_cwd(pid).is_some_and(|cwd| cwd == data_dir)
        }
        _ => false,
    }
}

/// Live Redis processes whose working dir lies under `root`, with that dir.
fn processes_under(root: &Path) -> Vec<(i32, PathBuf)> {
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
fn node_pid(topology: &Topology, node: &Node) -> Option<i32> {
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

/// True for a run dir of this backend (node subdirs with a config or log),
/// or an empty one; Docker runs keep other files in the same `runs/` dir.
fn is_local_run_dir(dir: &Path) -> bool {
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

/// Sends SIGKILL to every pid and waits (bounded) until they are gone.
async fn kill_and_wait(pids: &[i32]) {
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
async fn settle(pid: i32, done: impl Fn(char) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline {
        match proc_info(pid) {
            Some(p) if !done(p.state) => tokio::time::sleep(Duration::from_millis(2)).await,
            _ => return,
        }
    }
}

/// Local processes on loopback.
pub struct LocalBackend {
    /// Every run dir of this state dir lives in its `runs/`.
    state_dir: PathBuf,
}

impl LocalBackend {
    pub fn new(state_dir: &Path) -> LocalBackend {
        LocalBackend {
            state_dir: state_dir.to_path_buf(),
        }
    }

    /// The canonical runs root, created if absent.
    fn runs_root(&self) -> anyhow::Result<PathBuf> {
        super::state::runs_root(&self.state_dir)
    }

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

    async fn start_all(&self, plan: &Plan, run_dir: &Path) -> anyhow::Result<Topology> {
        let server = find_on_path("redis-server").ok_or(LocalError::MissingBinary)?;
        let sentinel_bin = find_on_path("redis-sentinel");
        let launcher = Launcher {
            server,
            sentinel: sentinel_bin,
            manifest: Manifest::of(run_dir),
        };
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
struct Launcher {
    server: PathBuf,
    /// `redis-sentinel` if installed; else `redis-server --sentinel` is used.
    sentinel: Option<PathBuf>,
    /// The run's manifest: each process is on record before it is launched.
    manifest: Manifest,
}

/// One failed launch.
enum LaunchError {
    PortTaken,
    Failed(String),
}

impl Launcher {
    /// Launches one node of `plan` whose peers are at `addrs`, rendering
    /// its config for whatever port it ends up on.
    async fn start(
        &self,
        plan: &Plan,
        run_dir: &Path,
        node: &PlannedNode,
        addrs: &Addresses,
    ) -> anyhow::Result<Node> {
        let files = NodeFiles::new(run_dir, &node.name, node.kind);
        let mut addrs = addrs.clone();
        let first = addrs.get(&node.name).map_or(0, |a| a.port());
        let (port, pid) = self
            .launch_with_retries(&node.name, node.kind, &files, first, |port| {
                addrs.insert(node.name.clone(), SocketAddr::from(([127, 0, 0, 1], port)));
                node_config(plan, &node.name, &files, &addrs)
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
        mut config_for: impl FnMut(u16) -> Result<String, PlanError>,
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
    async fn launch(
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

/// The part of a file after `offset` bytes.
fn read_from(path: &Path, offset: u64) -> String {
    let bytes = std::fs::read(path).unwrap_or_default();
    String::from_utf8_lossy(bytes.get(offset as usize..).unwrap_or_default()).into_owned()
}

#[async_trait::async_trait]
impl Backend for LocalBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Local
    }

    async fn up(&self, spec: &TopologySpec, run_id: &str) -> anyhow::Result<Topology> {
        let run_dir = self.runs_root()?.join(run_id);
        // Node configs hold the run's password.
        super::state::create_private_dir(&run_dir)?;
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
        let launcher = Launcher {
            server: find_on_path("redis-server").ok_or(LocalError::MissingBinary)?,
            sentinel: find_on_path("redis-sentinel"),
            manifest: Manifest::of(&topology.run_dir),
        };
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

    async fn log_tail(&self, topology: &Topology, node: &str, lines: usize) -> String {
        match topology.node(node) {
            Some(n) => tail_file(&NodeFiles::new(&topology.run_dir, node, n.kind).log, lines),
            None => String::new(),
        }
    }
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

    /// A port taken between picking and binding is detected from the log and
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
                config::render(&plan, "redis-1", &addrs.into(), &placement(&files))
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
