//! What the lab sees of a topology at one moment: each node's role and
//! health as read live from the nodes ([`TopologyView`]). The observer in
//! [`live`](super::live) builds it; snapshots, `status` and the dashboard
//! show it. In Cluster mode it also holds the cluster as its nodes see
//! it ([`ClusterStatus`]: shards, slots, flags, epochs).

use super::cluster::ClusterStatus;
use super::{Node, NodeKind};
use serde::{Deserialize, Serialize};

/// Health of a node as the lab sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    Up,
    /// At least one sentinel flags it subjectively down.
    Sdown,
    /// The sentinels agreed it is down.
    Odown,
    Down,
    Paused,
    Partitioned,
}

/// Role of a node, read live.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Master,
    Replica,
    Sentinel,
    Unknown,
}

/// One node as read live: the topology panel's row, and the one shape of a
/// node in every JSON grabstorm prints (`up --json`, `status --json`,
/// `fault --json`), so a script reads every node the same way.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeView {
    pub name: String,
    pub kind: NodeKind,
    pub role: Role,
    pub health: Health,
    /// Where the host reaches it (a loopback address for nodes grabstorm started).
    pub host_addr: String,
    /// The address the other nodes (and Sentinel's and Cluster's replies)
    /// use for it; equal to `host_addr` locally.
    #[serde(default)]
    pub internal_addr: String,
    /// Cluster mode: the shard (from 1) a data node belongs to; `null` for
    /// sentinels and in Sentinel mode.
    #[serde(default)]
    pub shard: Option<usize>,
    /// Replication offset (Redis nodes).
    pub repl_offset: Option<u64>,
    /// Bytes behind the master's offset (replicas).
    pub lag_bytes: Option<u64>,
    /// For a replica: the node it replicates from (node name).
    pub master_of_replica: Option<String>,
    /// For a sentinel: the node it names as master right now.
    pub sentinel_master: Option<String>,
}

impl NodeView {
    /// A node as its record says, before (or without) a live read: role
    /// unknown, health down until the node answers for itself.
    pub fn unread(node: &Node, shard: Option<usize>) -> NodeView {
        NodeView {
            name: node.name.clone(),
            kind: node.kind,
            role: Role::Unknown,
            health: Health::Down,
            host_addr: node.host_addr.to_string(),
            internal_addr: node.internal_addr.clone(),
            shard,
            repl_offset: None,
            lag_bytes: None,
            master_of_replica: None,
            sentinel_master: None,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopologyView {
    pub nodes: Vec<NodeView>,
    /// True while sentinels disagree on the master or a failover is running.
    pub failover_in_progress: bool,
    /// Cluster mode: the shards and each node's view of the cluster, read
    /// in the same poll as the nodes; `None` in Sentinel mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterStatus>,
}
