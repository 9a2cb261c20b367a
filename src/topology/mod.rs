//! Topology: the Redis master, replicas and sentinels of one run, and the
//! backends that start, stop and break them (Docker containers through
//! bollard, or local `redis-server` processes on loopback).
//!
//! A [`Topology`] is the serialisable record of a run: which nodes exist, the
//! address the host reaches each one at, and the backend's own handles
//! (container ids, pids). It is written to the state file by `grabstorm up`
//! so that later commands (`status`, `fault`, `load --attach`, `down`) find
//! the run. Roles are *not* stored: they are read live from the nodes.
//! Every object a run creates is also on record in its run dir, before it
//! is created ([`manifest`]), so that `down` finds the runs of crashed
//! owners that no state file names.
//!
//! What a running node says of itself is read through [`admin`], the Redis
//! admin layer every module above topology uses.
//!
//! What to start is decided once, backend-neutrally, by [`plan`] (names,
//! sentinel ids, the run's password) and rendered by [`config`] (every
//! redis.conf and sentinel.conf line); the backends carry the plan out.
//! The restart policy is the same on both backends: [`Backend::restart`]
//! starts the node again with its own config and nothing else. A stale
//! master comes back as a master, and Sentinel converts it
//! (`+convert-to-slave`); grabstorm never reconfigures a node behind
//! Sentinel's back. Cutting a node off is the Docker backend's own
//! mechanism too ([`partition`]: blackhole routes in the nodes' network
//! namespaces); `faults` decides when, the backend carries it out.
//!
//! In Cluster mode ([`HaMode::Cluster`]) the backends start the nodes the
//! same way, then [`cluster`] joins them into one cluster from the host,
//! the same on both backends, and names the nodes of a shard now.

pub mod addr;
pub mod admin;
pub mod announcement;
pub mod cluster;
pub mod config;
pub mod conn;
pub mod docker;
pub mod external;
pub mod guard;
pub mod image;
pub mod live;
pub mod local;
pub mod manifest;
pub mod migrate;
pub mod partition;
pub mod plan;
pub mod procfs;
pub mod ready;
pub mod scale;
pub mod select;
pub mod spec;
pub mod state;
pub mod view;

pub use addr::AddrMap;
pub use conn::Auth;
pub use spec::{HaMode, Persistence, SpecError, TopologySpec};

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Label put on every container and network the lab creates; its value is the run id.
pub const RUN_LABEL: &str = "grabstorm.run";
/// Label marking a Docker object as managed by grabstorm at all.
pub const MANAGED_LABEL: &str = "grabstorm.managed";
/// Label naming the state dir (canonical path) a Docker object's run belongs
/// to, so that `down --all` stays within one state dir.
pub const STATE_DIR_LABEL: &str = "grabstorm.state_dir";

/// Which backend runs the nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    Docker,
    Local,
    /// A topology grabstorm did not start, attached with `--sentinel` or
    /// `--cluster` ([`external`]).
    External,
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BackendKind::Docker => "docker",
            BackendKind::Local => "local",
            BackendKind::External => "external",
        })
    }
}

/// What a node is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeKind {
    Redis,
    Sentinel,
}

impl fmt::Display for NodeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NodeKind::Redis => "redis",
            NodeKind::Sentinel => "sentinel",
        })
    }
}

/// One node of the topology, as started.
///
/// Names are stable for the run: `redis-1` is the first master, `redis-2..`
/// its replicas, `sentinel-1..` the sentinels. Roles change with failovers;
/// names do not.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    pub name: String,
    pub kind: NodeKind,
    /// Where the host reaches the node: always a loopback address.
    pub host_addr: SocketAddr,
    /// The address other nodes (and Sentinel's replies) use for this node,
    /// e.g. `172.18.0.3:6379` in Docker, equal to `host_addr` locally.
    pub internal_addr: String,
    /// Backend handle: container id (Docker) or process id (local), as text.
    pub handle: String,
}

/// The record of one run's topology.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Topology {
    pub run_id: String,
    pub backend: BackendKind,
    pub spec: TopologySpec,
    pub nodes: Vec<Node>,
    /// Image used (Docker only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Docker network id (Docker only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_id: Option<String>,
    /// Per-run directory: configs, logs, pid files (local), scratch (Docker).
    pub run_dir: PathBuf,
    /// Extra addresses Sentinel may report for a node, mapped to the node's
    /// host address. Empty since nodes are named by fixed addresses only;
    /// kept for state files that recorded DNS names.
    #[serde(default)]
    pub aliases: BTreeMap<String, SocketAddr>,
    /// Each sentinel's own id (`SENTINEL MYID`, the run id Sentinel names a
    /// leader by in `+vote-for-leader`) to its node name. Sentinel keeps
    /// the id in its config file, so it survives restarts. Fixed by the
    /// [`plan`]; empty in state files written before it existed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sentinel_ids: BTreeMap<String, String>,
    /// The password of every node (Redis `requirepass`/`masterauth`,
    /// Sentinel `requirepass`/`auth-pass`), generated per run; `None` in
    /// state files written before it existed. The state file is mode 0600.
    #[serde(default)]
    pub password: Option<String>,
    /// Cluster mode: the shard (from 1) each data node belongs to, by node
    /// name, for runs whose membership changed after start (`grabstorm
    /// scale`); empty until then, and [`plan::start_shard`] decides. Read
    /// through [`start_shard`](Self::start_shard).
    #[serde(default)]
    pub shards: BTreeMap<String, usize>,
}

impl Topology {
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// Cluster mode: the shard (from 1) `node` belongs to: recorded when it
    /// joined later ([`Topology::shards`]), else the one it started in
    /// ([`plan::start_shard`]). Shard identity follows these members, not
    /// the slots (see [`admin::cluster::shard_master`]).
    pub fn start_shard(&self, node: &str) -> Option<usize> {
        self.shards
            .get(node)
            .copied()
            .or_else(|| plan::start_shard(&self.spec, node))
    }

    /// Cluster mode: the number of shards: those started, and any later
    /// one a joined node records.
    pub fn shard_count(&self) -> usize {
        let started = if self.spec.is_cluster() {
            self.spec.masters as usize
        } else {
            0
        };
        self.shards.values().copied().fold(started, usize::max)
    }

    /// Cluster mode: the shards that have nodes now, in order (after
    /// `scale remove 2`, shards 1, 3, 4).
    pub fn shard_numbers(&self) -> Vec<usize> {
        let mut shards: Vec<usize> = self
            .redis_nodes()
            .filter_map(|n| self.start_shard(&n.name))
            .collect();
        shards.sort_unstable();
        shards.dedup();
        shards
    }

    /// Takes the membership of `now` (the same run after a scaling: nodes
    /// added or removed, the shard record, `spec.masters`); nodes both know
    /// keep what this record says of them (a restart's new handle).
    pub fn follow_membership(&mut self, now: &Topology) {
        let nodes = now
            .nodes
            .iter()
            .map(|n| self.node(&n.name).cloned().unwrap_or_else(|| n.clone()))
            .collect();
        self.nodes = nodes;
        self.spec = now.spec.clone();
        self.shards = now.shards.clone();
    }

    pub fn node_mut(&mut self, name: &str) -> Option<&mut Node> {
        self.nodes.iter_mut().find(|n| n.name == name)
    }

    pub fn redis_nodes(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter().filter(|n| n.kind == NodeKind::Redis)
    }

    pub fn sentinels(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter().filter(|n| n.kind == NodeKind::Sentinel)
    }

    /// The map from any address Sentinel may report to the host address.
    pub fn addr_map(&self) -> AddrMap {
        let mut map = AddrMap::default();
        for n in &self.nodes {
            map.insert(&n.internal_addr, n.host_addr);
            map.insert(&n.host_addr.to_string(), n.host_addr);
        }
        for (alias, addr) in &self.aliases {
            map.insert(alias, *addr);
        }
        map
    }

    /// The node whose internal or host address (or alias) is `addr`: what
    /// [`addr_map`](Self::addr_map) resolves, without building the map (the
    /// timeline names nodes this way for every line it shows).
    pub fn node_by_addr(&self, addr: &str) -> Option<&Node> {
        let host = match self.aliases.get(addr) {
            Some(host) => *host,
            None => {
                let parsed: Option<SocketAddr> = addr.parse().ok();
                return self
                    .nodes
                    .iter()
                    .find(|n| n.internal_addr == addr || Some(n.host_addr) == parsed);
            }
        };
        self.nodes.iter().find(|n| n.host_addr == host)
    }

    /// The credentials every connection to a node of this run uses.
    pub fn auth(&self) -> Auth {
        Auth::password(self.password.as_deref())
    }

    /// A ready `redis-cli` command line for `node` from the host, with the
    /// run's password; with `-c` in Cluster mode, to follow MOVED and ASK.
    pub fn redis_cli(&self, node: &Node) -> String {
        let port = node.host_addr.port();
        let follow = if self.spec.is_cluster() { "-c " } else { "" };
        match &self.password {
            Some(pw) => format!("redis-cli {follow}-p {port} -a {pw}"),
            None => format!("redis-cli {follow}-p {port}"),
        }
    }

    /// The sentinel whose own id (`SENTINEL MYID`) is `id`, when known.
    pub fn sentinel_by_id(&self, id: &str) -> Option<&Node> {
        let name = self.sentinel_ids.get(id)?;
        self.node(name)
    }
}

/// Liveness of a node's process or container, as the backend sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProcessState {
    Running,
    Paused,
    Exited,
}

/// A backend starts and tears down a topology and performs the faults that
/// need more than a Redis command (kill, pause, restart, partition).
#[async_trait::async_trait]
pub trait Backend: Send + Sync {
    fn kind(&self) -> BackendKind;

    /// What runs the nodes and why (e.g. which Docker image, and whether it
    /// was found, built or pulled), once `up` has chosen it; `None` when
    /// there is nothing to say.
    fn image_note(&self) -> Option<String> {
        None
    }

    /// Starts every node of `spec` for run `run_id` (not waiting for
    /// replication or Sentinel to converge: see `ready`). On error,
    /// everything already started is removed before returning.
    async fn up(&self, spec: &TopologySpec, run_id: &str) -> anyhow::Result<Topology>;

    /// Removes everything of this run: processes or containers, network, run dir.
    async fn down(&self, topology: &Topology) -> anyhow::Result<()>;

    /// Removes a run known by its manifest only (its owner died before or
    /// without a state file naming it): everything recorded or labelled
    /// with the run, and the run dir. Returns what was removed, one line each.
    async fn remove_recorded(&self, run: &manifest::RecordedRun) -> anyhow::Result<Vec<String>>;

    /// Removes whatever of this backend is left of any run of this state
    /// dir, recorded or not; returns what was removed, one line each.
    async fn down_all(&self) -> anyhow::Result<Vec<String>>;

    async fn state(&self, topology: &Topology, node: &str) -> anyhow::Result<ProcessState>;

    /// SIGKILL the node (container kill).
    async fn kill(&self, topology: &Topology, node: &str) -> anyhow::Result<()>;
    /// Freeze the node (SIGSTOP / docker pause).
    async fn pause(&self, topology: &Topology, node: &str) -> anyhow::Result<()>;
    /// Thaw a paused node.
    async fn resume(&self, topology: &Topology, node: &str) -> anyhow::Result<()>;
    /// Start a dead node again with its own config (as Redis or Sentinel
    /// last rewrote it), and nothing else: no REPLICAOF, whatever role the
    /// node comes back with. May change the node's handle (new pid); the
    /// caller persists the returned topology.
    async fn restart(&self, topology: &mut Topology, node: &str) -> anyhow::Result<()>;
    /// Cut `node` off from `from` (all other nodes when empty); the host keeps
    /// reaching it. Returns when the cut began taking effect.
    async fn partition(
        &self,
        topology: &Topology,
        node: &str,
        from: &[String],
    ) -> anyhow::Result<std::time::Instant>;
    /// Undo every cut that involves `node`; false when there was none.
    async fn heal(&self, topology: &Topology, node: &str) -> anyhow::Result<bool>;
    /// Undo every cut in the run; returns the nodes that had been cut off.
    async fn heal_all(&self, topology: &Topology) -> anyhow::Result<Vec<String>>;

    /// Cluster mode: starts one more data node `name` on the running
    /// `topology` (its config by the one renderer, its address fixed as
    /// `up` fixes a Cluster node's, on record in the run's manifest before
    /// it is created) and adds it to `topology.nodes`; it is not joined to
    /// the cluster (that is [`scale`]'s). On error nothing of it is left.
    async fn add_node(&self, topology: &mut Topology, name: &str) -> anyhow::Result<()>;

    /// Stops node `name` for good and removes it (its process and files, or
    /// its container) and its entry in `topology.nodes`.
    async fn remove_node(&self, topology: &mut Topology, name: &str) -> anyhow::Result<()>;

    /// The last `lines` lines of the node's log, for error messages.
    async fn log_tail(&self, topology: &Topology, node: &str, lines: usize) -> String;
}
