//! Test fixtures shared by the timeline's tests ([`super::explain`],
//! [`super::failover`], the cluster's rows and the cluster watcher): a
//! six-node Sentinel topology as the Docker backend records it, a six-node
//! cluster as the local backend does, and builders of the events a run
//! records. Compiled for tests only.

use super::event::{Event, EventKind};
use crate::topology::{BackendKind, Node, NodeKind, Topology, TopologySpec};

/// Three Redis nodes (`redis-N` at `172.18.0.N:6379`) and three sentinels
/// (`172.18.0.1N`), on Docker, quorum 2; sentinel-2's id is [`LEADER_ID`].
pub(crate) fn topology() -> Topology {
    let node = |name: &str, kind, port: u16| Node {
        name: name.into(),
        kind,
        host_addr: format!("127.0.0.1:{port}").parse().unwrap(),
        internal_addr: format!("172.18.0.{}:6379", port - 40000),
        handle: String::new(),
    };
    Topology {
        run_id: "t".into(),
        backend: BackendKind::Docker,
        spec: TopologySpec::default(),
        nodes: vec![
            node("redis-1", NodeKind::Redis, 40001),
            node("redis-2", NodeKind::Redis, 40002),
            node("redis-3", NodeKind::Redis, 40003),
            node("sentinel-1", NodeKind::Sentinel, 40011),
            node("sentinel-2", NodeKind::Sentinel, 40012),
            node("sentinel-3", NodeKind::Sentinel, 40013),
        ],
        image: None,
        network_id: None,
        run_dir: "/tmp".into(),
        aliases: Default::default(),
        sentinel_ids: [(LEADER_ID.to_string(), "sentinel-2".to_string())].into(),
        password: None,
        shards: Default::default(),
    }
}

/// A Redis Cluster as the local backend records it: three masters
/// (`redis-1..3`) and their replicas (`redis-4..6`), `redis-N` at
/// `127.0.0.1:700N`.
pub(crate) fn cluster_topology() -> Topology {
    Topology {
        run_id: "t".into(),
        backend: BackendKind::Local,
        spec: TopologySpec {
            mode: crate::topology::HaMode::Cluster,
            ..Default::default()
        },
        nodes: (1..=6)
            .map(|i| Node {
                name: format!("redis-{i}"),
                kind: NodeKind::Redis,
                host_addr: format!("127.0.0.1:{}", 7000 + i).parse().unwrap(),
                internal_addr: format!("127.0.0.1:{}", 7000 + i),
                handle: String::new(),
            })
            .collect(),
        image: None,
        network_id: None,
        run_dir: "/tmp".into(),
        aliases: Default::default(),
        sentinel_ids: Default::default(),
        password: None,
        shards: Default::default(),
    }
}

/// sentinel-2's own id (`SENTINEL MYID`).
pub(crate) const LEADER_ID: &str = "9c1e0d2b7a4f63e8d05b1c9a7e2f48d6b3a0c1f9";

/// An event at `at_ms` from `source`.
pub(crate) fn ev(at_ms: u64, source: &str, kind: EventKind) -> Event {
    Event {
        at_ms,
        source: source.into(),
        kind,
    }
}

/// A Sentinel announcement on `channel`.
pub(crate) fn sent(at_ms: u64, source: &str, channel: &str, payload: &str) -> Event {
    ev(
        at_ms,
        source,
        EventKind::Sentinel {
            name: channel.into(),
            payload: payload.into(),
        },
    )
}

/// A fault injected by the lab.
pub(crate) fn fault(at_ms: u64, fault: &str, node: &str) -> Event {
    ev(
        at_ms,
        "lab",
        EventKind::FaultInjected {
            fault: fault.into(),
            node: node.into(),
        },
    )
}

/// The instance payload of the first master, redis-1.
pub(crate) const M1: &str = "master mymaster 172.18.0.1 6379";
