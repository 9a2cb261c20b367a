//! The topology plan: one backend-neutral description of what to start for
//! a spec and a run id. Node names, sentinel ids and the run's password are
//! decided here, once; every line of redis.conf and sentinel.conf is
//! rendered from the plan by [`config`](super::config). The Docker and local
//! backends only carry the plan out: they pick the addresses (fixed IPs on
//! the run network, or free loopback ports) and add the lines that say
//! where a process keeps its files.

use super::{NodeKind, TopologySpec};
use rand::TryRngCore;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::net::SocketAddr;

/// Bytes of OS randomness in a run's password (hex-encoded: twice as many characters).
const PASSWORD_BYTES: usize = 24;

/// One node to start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedNode {
    pub name: String,
    pub kind: NodeKind,
    /// The sentinel's own id (`sentinel myid`), for sentinels.
    pub sentinel_id: Option<String>,
}

/// What to start for one run.
#[derive(Clone, Debug)]
pub struct Plan {
    pub run_id: String,
    pub spec: TopologySpec,
    /// `requirepass`/`masterauth` of every node, Sentinel's `requirepass`
    /// and `auth-pass`; `None` starts an open topology.
    pub password: Option<String>,
    /// The master first, then the replicas, then the sentinels.
    pub nodes: Vec<PlannedNode>,
}

/// The address each node of a plan is reached at by the other nodes (and
/// announced as), by node name: fixed IPs on Docker, loopback ports locally.
pub type Addresses = BTreeMap<String, SocketAddr>;

/// Why a plan's config cannot be rendered.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanError {
    #[error("no address was assigned to node {0}")]
    NoAddress(String),
    #[error("no node named {0} in the plan")]
    UnknownNode(String),
}

/// Names of the nodes of `spec`, in start order: `redis-1` (the first
/// master), `redis-2..` (its replicas), `sentinel-1..`. The one place node
/// names are made.
pub fn node_names(spec: &TopologySpec) -> Vec<(String, NodeKind)> {
    let redis = (1..=spec.redis_count()).map(|i| (format!("redis-{i}"), NodeKind::Redis));
    let sentinels =
        (1..=spec.sentinel_count()).map(|i| (format!("sentinel-{i}"), NodeKind::Sentinel));
    redis.chain(sentinels).collect()
}

/// The name of the node started as master (in Cluster mode: the master of shard 1).
pub const FIRST_MASTER: &str = "redis-1";

/// The number in a node name: 4 for `redis-4`.
fn node_number(node: &str) -> Option<usize> {
    node.strip_prefix("redis-")?
        .parse()
        .ok()
        .filter(|&i| i >= 1)
}

/// Cluster mode: the shard (from 1) `node` starts in, the one decision of
/// it. `redis-1..M` are the masters of shards 1..M; the replicas come after
/// them, dealt round-robin: replica i (`redis-(M+i)`, i from 1) goes to
/// shard ((i-1) % M)+1, so with 3 masters and 2 replicas each `redis-4`
/// and `redis-7` follow `redis-1`. `None` in Sentinel mode or for a name
/// that is not a data node of the spec.
pub fn start_shard(spec: &TopologySpec, node: &str) -> Option<usize> {
    if !spec.is_cluster() {
        return None;
    }
    let i = node_number(node).filter(|&i| i <= spec.redis_count())?;
    let masters = spec.masters as usize;
    Some(if i <= masters {
        i
    } else {
        (i - masters - 1) % masters + 1
    })
}

/// Cluster mode: whether `node` starts as its shard's master (`redis-1..M`).
pub fn starts_as_master(spec: &TopologySpec, node: &str) -> bool {
    spec.is_cluster() && node_number(node).is_some_and(|i| i <= spec.masters as usize)
}

/// Cluster mode: the node that starts as master of shard `shard` (from 1).
pub fn start_master_of(shard: usize) -> String {
    format!("redis-{shard}")
}

/// A sentinel's run id: 40 hex digits, fixed by run and node so that peers
/// can be named in each other's config, on both backends.
pub fn sentinel_id(run_id: &str, node: &str) -> String {
    hex::encode(Sha256::digest(format!("{run_id}/{node}")))[..40].to_string()
}

/// A fresh password: 48 hex characters from the OS's random source.
pub fn new_password() -> anyhow::Result<String> {
    let mut bytes = [0u8; PASSWORD_BYTES];
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| anyhow::anyhow!("the OS random source failed: {e}"))?;
    Ok(hex::encode(bytes))
}

impl Plan {
    /// The plan for `spec` in run `run_id`, with a fresh password.
    pub fn new(spec: &TopologySpec, run_id: &str) -> anyhow::Result<Plan> {
        Ok(Plan::with_password(spec, run_id, Some(new_password()?)))
    }

    /// The plan for `spec` in run `run_id` with the given password.
    pub fn with_password(spec: &TopologySpec, run_id: &str, password: Option<String>) -> Plan {
        let nodes = node_names(spec)
            .into_iter()
            .map(|(name, kind)| PlannedNode {
                sentinel_id: (kind == NodeKind::Sentinel).then(|| sentinel_id(run_id, &name)),
                name,
                kind,
            })
            .collect();
        Plan {
            run_id: run_id.to_string(),
            spec: spec.clone(),
            password,
            nodes,
        }
    }

    /// The plan of a running Cluster run `t` for one more data node `name`
    /// (`grabstorm scale add`): the run's id, spec and password, and that
    /// node, so that its config is rendered as `up` rendered the others'.
    pub fn for_added_node(t: &super::Topology, name: &str) -> Plan {
        Plan {
            run_id: t.run_id.clone(),
            spec: t.spec.clone(),
            password: t.password.clone(),
            nodes: vec![PlannedNode {
                name: name.to_string(),
                kind: NodeKind::Redis,
                sentinel_id: None,
            }],
        }
    }

    pub fn node(&self, name: &str) -> Result<&PlannedNode, PlanError> {
        self.nodes
            .iter()
            .find(|n| n.name == name)
            .ok_or_else(|| PlanError::UnknownNode(name.to_string()))
    }

    pub fn redis_nodes(&self) -> impl Iterator<Item = &PlannedNode> {
        self.nodes.iter().filter(|n| n.kind == NodeKind::Redis)
    }

    pub fn sentinels(&self) -> impl Iterator<Item = &PlannedNode> {
        self.nodes.iter().filter(|n| n.kind == NodeKind::Sentinel)
    }

    /// Sentinel id to node name, as [`Topology::sentinel_ids`](super::Topology) keeps it.
    pub fn sentinel_ids(&self) -> BTreeMap<String, String> {
        self.sentinels()
            .filter_map(|n| Some((n.sentinel_id.clone()?, n.name.clone())))
            .collect()
    }
}

/// Node names sorted as people count them: `redis-2` before `redis-10`.
pub fn name_order(a: &str, b: &str) -> std::cmp::Ordering {
    let split = |s: &str| -> (String, u64) {
        match s.rsplit_once('-') {
            Some((p, n)) => (p.to_string(), n.parse().unwrap_or(u64::MAX)),
            None => (s.to_string(), u64::MAX),
        }
    };
    split(a).cmp(&split(b)).then_with(|| a.cmp(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_ids_come_from_the_spec_and_run() {
        let spec = TopologySpec {
            replicas: 1,
            sentinels: 2,
            ..Default::default()
        };
        let plan = Plan::with_password(&spec, "r1", None);
        let names: Vec<&str> = plan.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["redis-1", "redis-2", "sentinel-1", "sentinel-2"]);
        assert_eq!(plan.nodes[0].name, FIRST_MASTER);
        let id = plan
            .node("sentinel-2")
            .unwrap()
            .sentinel_id
            .clone()
            .unwrap();
        assert_eq!(id, sentinel_id("r1", "sentinel-2"));
        assert_eq!(id.len(), 40);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(id, sentinel_id("r2", "sentinel-2"));
        assert_eq!(plan.sentinel_ids()[&id], "sentinel-2");
    }

    #[test]
    fn cluster_nodes_start_in_round_robin_shards_behind_masters_1_to_m() {
        let spec = TopologySpec {
            mode: crate::topology::HaMode::Cluster,
            masters: 3,
            replicas_per_master: 2,
            ..Default::default()
        };
        let plan = Plan::with_password(&spec, "r1", None);
        assert_eq!(plan.nodes.len(), 9);
        assert_eq!(plan.sentinels().count(), 0);
        let shards: Vec<(usize, bool)> = plan
            .nodes
            .iter()
            .map(|n| {
                (
                    start_shard(&spec, &n.name).unwrap(),
                    starts_as_master(&spec, &n.name),
                )
            })
            .collect();
        assert_eq!(
            shards,
            [
                (1, true),
                (2, true),
                (3, true),
                (1, false),
                (2, false),
                (3, false),
                (1, false),
                (2, false),
                (3, false)
            ]
        );
        assert_eq!(start_shard(&spec, "redis-10"), None);
        assert_eq!(start_shard(&spec, "sentinel-1"), None);
        assert_eq!(start_shard(&TopologySpec::default(), "redis-1"), None);
        assert_eq!(start_master_of(2), "redis-2");
    }

    #[test]
    fn passwords_are_long_hex_and_fresh() {
        let a = new_password().unwrap();
        assert_eq!(a.len(), 2 * PASSWORD_BYTES);
        assert!(a.len() >= 32 && a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, new_password().unwrap());
    }
}
