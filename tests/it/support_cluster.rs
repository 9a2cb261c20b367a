//! A local Redis Cluster for the cluster client's tests: six
//! `redis-server --cluster-enabled yes` processes on free 127.0.0.1 ports
//! (client and bus port both chosen), each in its own dir under one temp
//! dir, assembled by `redis-cli --cluster create --cluster-replicas 1`,
//! killed on drop.
//!
//! TO BE REPLACED by the topology backend (`grabstorm up --mode cluster`)
//! once it lands: this exists only so the client can be tested before it.

#![allow(dead_code)]

use crate::support::free_port;
use grabstorm::topology::admin::cluster::{parse_nodes, ClusterNode};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Six nodes: three masters with one replica each.
pub struct LocalCluster {
    pub nodes: Vec<SocketAddr>,
    children: Vec<Child>,
    _dir: tempfile::TempDir,
}

fn sync_conn(addr: SocketAddr) -> redis::Connection {
    let client = redis::Client::open(format!("redis://{addr}/")).unwrap();
    client
        .get_connection_with_timeout(Duration::from_secs(2))
        .unwrap()
}

impl LocalCluster {
    /// Starts six nodes and waits until every node says `cluster_state:ok`,
    /// knows all six, and every replica's link is up.
    pub fn start() -> LocalCluster {
        let dir = tempfile::tempdir().unwrap();
        let mut nodes = Vec::new();
        let mut children = Vec::new();
        for i in 0..6 {
            let port = free_port();
            let bus = free_port();
            let node_dir = dir.path().join(format!("node-{i}"));
            std::fs::create_dir_all(&node_dir).unwrap();
            let child = Command::new("redis-server")
                .args([
                    "--port",
                    &port.to_string(),
                    "--cluster-port",
                    &bus.to_string(),
                    "--bind",
                    "127.0.0.1",
                    "--cluster-enabled",
                    "yes",
                    "--cluster-node-timeout",
                    "2000",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--enable-debug-command",
                    "yes",
                    "--dir",
                    node_dir.to_str().unwrap(),
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server must be installed");
            children.push(child);
            nodes.push(format!("127.0.0.1:{port}").parse().unwrap());
        }
        let cluster = LocalCluster {
            nodes,
            children,
            _dir: dir,
        };
        for addr in &cluster.nodes {
            wait_for(Duration::from_secs(10), &format!("{addr} answers"), || {
                redis::Client::open(format!("redis://{addr}/"))
                    .ok()
                    .and_then(|c| c.get_connection().ok())
                    .is_some()
            });
        }
        let out = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(cluster.nodes.iter().map(|a| a.to_string()))
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .output()
            .expect("redis-cli");
        assert!(
            out.status.success(),
            "redis-cli --cluster create: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        cluster.wait_ready(Duration::from_secs(20));
        cluster
    }

    /// Waits until every node sees `cluster_state:ok`, six nodes, and
    /// three masters each with a linked replica.
    pub fn wait_ready(&self, within: Duration) {
        wait_for(within, "the cluster is ready", || {
            self.nodes.iter().all(|a| {
                let mut c = sync_conn(*a);
                let info: String = redis::cmd("CLUSTER")
                    .arg("INFO")
                    .query(&mut c)
                    .unwrap_or_default();
                let nodes = self.view(*a);
                let linked = {
                    let repl: String = redis::cmd("INFO")
                        .arg("replication")
                        .query(&mut c)
                        .unwrap_or_default();
                    repl.contains("role:master") || repl.contains("master_link_status:up")
                };
                info.contains("cluster_state:ok")
                    && nodes.len() == 6
                    && nodes.iter().all(|n| !n.flags.handshake && !n.failing())
                    && nodes.iter().filter(|n| n.flags.master).count() == 3
                    && linked
            })
        });
    }

    /// `CLUSTER NODES` of the node at `addr`, typed.
    pub fn view(&self, addr: SocketAddr) -> Vec<ClusterNode> {
        let text: String = redis::cmd("CLUSTER")
            .arg("NODES")
            .query(&mut sync_conn(addr))
            .unwrap_or_default();
        parse_nodes(&text).unwrap_or_default()
    }

    /// The node serving `slot` now, as the node at `ask` sees it.
    pub fn owner(&self, slot: u16) -> ClusterNode {
        let view = self.view(self.nodes[0]);
        view.into_iter()
            .find(|n| n.flags.master && n.slots.iter().any(|r| r.contains(slot)))
            .expect("a master for every slot")
    }

    /// The replica of the master with `id`.
    pub fn replica_of(&self, id: &str) -> ClusterNode {
        self.view(self.nodes[0])
            .into_iter()
            .find(|n| n.master_id.as_deref() == Some(id))
            .expect("a replica")
    }

    /// A plain connection to one node.
    pub fn conn(&self, addr: SocketAddr) -> redis::Connection {
        sync_conn(addr)
    }

    /// The host address of a node line (locally the announced one).
    pub fn addr_of(n: &ClusterNode) -> SocketAddr {
        n.addr.parse().unwrap()
    }
}

impl LocalCluster {
    /// Writes a state file naming these nodes `redis-1..6` as a local
    /// cluster-mode topology, so `grabstorm load --attach` runs on it.
    pub fn write_state(&self, state_dir: &std::path::Path) {
        let nodes: Vec<serde_json::Value> = self
            .nodes
            .iter()
            .zip(&self.children)
            .enumerate()
            .map(|(i, (addr, child))| {
                serde_json::json!({
                    "name": format!("redis-{}", i + 1),
                    "kind": "redis",
                    "host_addr": addr.to_string(),
                    "internal_addr": addr.to_string(),
                    "handle": child.id().to_string(),
                })
            })
            .collect();
        let state = serde_json::json!({
            "run_id": "localcluster",
            "backend": "local",
            "spec": {"mode": "cluster", "masters": 3, "replicas_per_master": 1},
            "nodes": nodes,
            "run_dir": state_dir.join("run"),
        });
        std::fs::create_dir_all(state_dir).unwrap();
        std::fs::write(
            state_dir.join(grabstorm::topology::state::STATE_FILE),
            serde_json::to_vec(&state).unwrap(),
        )
        .unwrap();
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Polls `ok` every 50 ms until it holds; panics after `within`.
pub fn wait_for(within: Duration, what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    loop {
        if ok() {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
