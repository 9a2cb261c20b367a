//! Readiness: a started topology is ready when the master answers as
//! master, every replica reports `master_link_status:up` towards it, and
//! every sentinel names the master, sees every replica (linked to the
//! master) and every other sentinel. Polled with short timeouts; on time
//! out the error names the first node still not ready, what was awaited,
//! the last thing it said, and the tail of its log. Each sentinel's own id
//! needs no reading: the plan fixed it (`sentinel myid`).
//!
//! A Cluster topology is ready when every node says `cluster_state:ok`,
//! all 16,384 slots assigned, knows every node and sees every replica
//! follow its shard's master, and every node started as a replica reports
//! `master_link_status:up`.

use super::admin::cluster;
use super::admin::probe::connect;
use super::admin::replication;
use super::admin::sentinel::{self, Question};
use super::plan::{start_master_of, start_shard, starts_as_master};
use super::{local, Backend, BackendKind, Node, NodeKind, Topology};
use futures::future::join_all;
use std::time::{Duration, Instant};

/// Per-probe timeout while waiting.
const PROBE: Duration = Duration::from_millis(300);
/// Pause between polls.
const POLL_EVERY: Duration = Duration::from_millis(50);

/// A node that did not become ready in time.
#[derive(Debug, thiserror::Error)]
#[error("{node} was not ready after {waited:?}: waited for {awaited}; last seen: {last_seen}{log}")]
pub struct NotReady {
    pub node: String,
    pub awaited: String,
    pub last_seen: String,
    pub waited: Duration,
    /// "\n--- last lines of its log ---\n..." or empty.
    pub log: String,
}

/// The verdict on one node in one poll.
struct Check {
    ready: bool,
    awaited: String,
    seen: String,
}

impl Check {
    fn waiting(awaited: impl Into<String>, seen: impl Into<String>) -> Check {
        Check {
            ready: false,
            awaited: awaited.into(),
            seen: seen.into(),
        }
    }
    fn ready() -> Check {
        Check {
            ready: true,
            awaited: String::new(),
            seen: String::new(),
        }
    }
}

/// The node the topology started as master (`redis-1`).
fn first_master(t: &Topology) -> Option<&Node> {
    t.redis_nodes().next()
}

async fn check_master(t: &Topology, node: &Node) -> Check {
    let awaited = "the master to answer INFO replication with role:master";
    let mut conn = match connect(node.host_addr, &t.auth(), PROBE).await {
        Ok(c) => c,
        Err(e) => return Check::waiting(awaited, e),
    };
    match replication::query(&mut conn, PROBE).await {
        Ok(Some(r)) if r.is_master() => Check::ready(),
        Ok(r) => Check::waiting(
            awaited,
            format!("role:{}", r.map_or("?", |r| r.role.redis_word())),
        ),
        Err(e) => Check::waiting(awaited, e),
    }
}

async fn check_replica(t: &Topology, node: &Node, master: &Node) -> Check {
    let awaited = format!("master_link_status:up towards {}", master.name);
    let mut conn = match connect(node.host_addr, &t.auth(), PROBE).await {
        Ok(c) => c,
        Err(e) => return Check::waiting(awaited, e),
    };
    let info = match replication::query(&mut conn, PROBE).await {
        Ok(i) => i,
        Err(e) => return Check::waiting(awaited, e),
    };
    let its_master = info.as_ref().and_then(|r| r.master.as_deref());
    let seen = format!(
        "role:{} master {} master_link_status:{}",
        info.as_ref().map_or("?", |r| r.role.redis_word()),
        its_master.unwrap_or("?:?"),
        info.as_ref()
            .and_then(|r| r.link_status.as_deref())
            .unwrap_or("?")
    );
    let follows = its_master
        .and_then(|a| t.node_by_addr(a))
        .is_some_and(|n| n.name == master.name);
    if info.as_ref().is_some_and(|r| r.is_replica() && r.link_up()) && follows {
        Check::ready()
    } else {
        Check::waiting(awaited, seen)
    }
}

async fn check_sentinel(t: &Topology, node: &Node, master: &Node) -> Check {
    let name = &t.spec.master_name;
    let mut conn = match connect(node.host_addr, &t.auth(), PROBE).await {
        Ok(c) => c,
        Err(e) => return Check::waiting("the sentinel to answer", e),
    };
    let awaited = format!("the sentinel to name {} as master of {name}", master.name);
    match sentinel::master_addr_by_name(&mut conn, name, PROBE).await {
        Ok(Some(addr)) if t.node_by_addr(&addr).is_some_and(|n| n.name == master.name) => {}
        Ok(Some(addr)) => return Check::waiting(awaited, format!("it names {addr}")),
        Ok(None) => return Check::waiting(awaited, format!("it does not monitor {name}")),
        Err(e) => return Check::waiting(awaited, e),
    }

    let want = t.spec.replicas as usize;
    let awaited = format!("the sentinel to see all {want} replicas linked to the master");
    let replicas = match sentinel::instances(&mut conn, Question::Replicas, name, PROBE).await {
        Ok(r) => r,
        Err(e) => return Check::waiting(awaited, e),
    };
    let healthy = |r: &&sentinel::Instance| {
        r.flags_are(&["slave"])
            && r.master_link_status.as_deref() == Some("ok")
            && r.addr
                .as_deref()
                .is_some_and(|a| t.node_by_addr(a).is_some())
    };
    let ok = replicas.iter().filter(healthy).count();
    if ok != want {
        let seen: Vec<String> = replicas
            .iter()
            .map(|r| {
                format!(
                    "{} [{}] link {}",
                    r.addr.as_deref().unwrap_or_default(),
                    r.flags_text(),
                    r.master_link_status.as_deref().unwrap_or("?")
                )
            })
            .collect();
        return Check::waiting(awaited, format!("{ok} ready: {}", seen.join(", ")));
    }

    let want = (t.spec.sentinels as usize).saturating_sub(1);
    let awaited = format!("the sentinel to know the {want} other sentinels");
    match sentinel::instances(&mut conn, Question::Sentinels, name, PROBE).await {
        Ok(peers) => {
            let ok = peers.iter().filter(|p| p.flags_are(&["sentinel"])).count();
            if ok == want {
                Check::ready()
            } else {
                let seen: Vec<String> = peers
                    .iter()
                    .map(|p| {
                        format!(
                            "{} [{}]",
                            p.addr.as_deref().unwrap_or_default(),
                            p.flags_text()
                        )
                    })
                    .collect();
                Check::waiting(awaited, format!("{ok} connected: {}", seen.join(", ")))
            }
        }
        Err(e) => Check::waiting(awaited, e),
    }
}

async fn check_cluster_node(t: &Topology, node: &Node) -> Check {
    let want = t.spec.redis_count() as u32;
    let awaited = format!(
        "cluster_state:ok, all {} slots assigned, {want} nodes known",
        cluster::SLOTS
    );
    let view = match cluster::read_view(node.host_addr, &t.auth(), PROBE).await {
        Ok(v) => v,
        Err(e) => return Check::waiting(awaited, e),
    };
    let i = &view.info;
    if !(i.state_ok && i.slots_assigned == u32::from(cluster::SLOTS) && i.known_nodes == want) {
        return Check::waiting(
            awaited,
            format!(
                "cluster_state:{} cluster_slots_assigned:{} cluster_known_nodes:{}",
                if i.state_ok { "ok" } else { "fail" },
                i.slots_assigned,
                i.known_nodes
            ),
        );
    }
    // Every node sees every replica follow its shard's master (a replica's
    // new role reaches the others by gossip, after its own link is up).
    let awaited = "every replica known as its shard's master's replica";
    let name_of_id = |id: &str| {
        view.by_id(id)
            .and_then(|n| t.node_by_addr(&n.addr))
            .map(|n| n.name.as_str())
    };
    for n in &view.nodes {
        let Some(name) = t.node_by_addr(&n.addr).map(|n| n.name.as_str()) else {
            return Check::waiting(awaited, format!("an unknown node at {}", n.addr));
        };
        if starts_as_master(&t.spec, name) {
            continue;
        }
        let want = start_shard(&t.spec, name).map(start_master_of);
        let follows = n.master_id.as_deref().and_then(name_of_id);
        if !n.flags.replica || follows.is_none() || follows.map(str::to_string) != want {
            return Check::waiting(
                awaited,
                format!(
                    "it sees {name} as {} of {}",
                    if n.flags.replica { "replica" } else { "master" },
                    follows.unwrap_or("-")
                ),
            );
        }
    }
    if starts_as_master(&t.spec, &node.name) {
        return Check::ready();
    }
    let shard = start_shard(&t.spec, &node.name).unwrap_or(0);
    let awaited = format!("master_link_status:up towards the master of shard {shard}");
    let mut conn = match connect(node.host_addr, &t.auth(), PROBE).await {
        Ok(c) => c,
        Err(e) => return Check::waiting(awaited, e),
    };
    match replication::query(&mut conn, PROBE).await {
        Ok(Some(r)) if r.is_replica() && r.link_up() => Check::ready(),
        Ok(r) => Check::waiting(
            awaited,
            format!(
                "role:{} master_link_status:{}",
                r.as_ref().map_or("?", |r| r.role.redis_word()),
                r.as_ref()
                    .and_then(|r| r.link_status.as_deref())
                    .unwrap_or("?")
            ),
        ),
        Err(e) => Check::waiting(awaited, e),
    }
}

async fn check(t: &Topology, node: &Node, master: &Node) -> Check {
    if t.spec.is_cluster() {
        return check_cluster_node(t, node).await;
    }
    match node.kind {
        NodeKind::Redis if node.name == master.name => check_master(t, node).await,
        NodeKind::Redis => check_replica(t, node, master).await,
        NodeKind::Sentinel => check_sentinel(t, node, master).await,
    }
}

/// Waits until the topology is ready (see the module doc), or `timeout`.
/// Log tails in errors come from the run dir (local runs).
pub async fn wait_ready(topology: &Topology, timeout: Duration) -> anyhow::Result<()> {
    wait_ready_on(topology, None, timeout).await
}

/// [`wait_ready`], with log tails fetched through `backend` (Docker logs).
pub async fn wait_ready_on(
    topology: &Topology,
    backend: Option<&dyn Backend>,
    timeout: Duration,
) -> anyhow::Result<()> {
    let Some(master) = first_master(topology) else {
        anyhow::bail!("the topology of run {} has no Redis node", topology.run_id);
    };
    let started = Instant::now();
    let mut pending: Vec<&Node> = topology.nodes.iter().collect();
    loop {
        let checks = join_all(pending.iter().map(|n| check(topology, n, master))).await;
        let mut still = Vec::new();
        let mut first_failure = None;
        for (node, c) in pending.iter().zip(checks) {
            if !c.ready {
                still.push(*node);
                first_failure.get_or_insert((*node, c));
            }
        }
        let Some((node, c)) = first_failure else {
            tracing::debug!(run = %topology.run_id, elapsed = ?started.elapsed(), "topology ready");
            return Ok(());
        };
        pending = still;
        if started.elapsed() >= timeout {
            let tail = match backend {
                Some(b) => b.log_tail(topology, &node.name, 15).await,
                None if topology.backend == BackendKind::Local => local::tail_file(
                    &local::NodeFiles::new(&topology.run_dir, &node.name, node.kind).log,
                    15,
                ),
                None => String::new(),
            };
            let log = if tail.trim().is_empty() {
                String::new()
            } else {
                format!("\n--- last lines of {}'s log ---\n{tail}", node.name)
            };
            return Err(NotReady {
                node: node.name.clone(),
                awaited: c.awaited,
                last_seen: c.seen,
                waited: started.elapsed(),
                log,
            }
            .into());
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}
