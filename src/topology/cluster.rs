//! A Cluster topology's own steps, the same on both backends: joining the
//! started nodes into one cluster ([`assemble`]), and naming the nodes of
//! a shard now ([`shard_nodes`]) by the one rule of
//! [`admin::cluster::shard_master`](super::admin::cluster::shard_master).
//!
//! Assembly runs from the host over loopback only, through each node's
//! host address: every node gets a distinct config epoch
//! (`CLUSTER SET-CONFIG-EPOCH`, as `redis-cli --cluster create` does, so no
//! epoch collision has to be resolved later); `redis-1` is told to
//! `CLUSTER MEET` every peer at its internal address (the bridge address
//! on Docker, 127.0.0.1 locally) and bus port, and dials them itself; each
//! master takes its shard's range of [`even_split`]
//! (`CLUSTER ADDSLOTSRANGE`); once every node knows every other, each
//! replica is told `CLUSTER REPLICATE <its master's id>` (the shard
//! [`start_shard`] gives it). Readiness is then judged by
//! [`ready`](super::ready).

use super::admin::cluster::{self, even_split, ClusterNode, ClusterView, SlotRange, READ_TIMEOUT};
use super::admin::probe::{connect, query};
use super::plan::{name_order, start_master_of, start_shard, starts_as_master, FIRST_MASTER};
use super::{Node, Topology};
use anyhow::{anyhow, bail, Context, Result};
use futures::future::{join_all, try_join_all};
use redis::aio::MultiplexedConnection;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Time a node gets to answer one assembly command.
const STEP: Duration = Duration::from_millis(1000);
/// Time a started node gets to answer its first command.
const START_WAIT: Duration = Duration::from_secs(10);
/// Time the nodes get to learn of each other after the MEETs.
const MEET_WAIT: Duration = Duration::from_secs(15);
/// Pause between polls while the nodes learn of each other.
const POLL_EVERY: Duration = Duration::from_millis(20);

/// One started node, connected, with its cluster id and bus port.
struct Member<'t> {
    node: &'t Node,
    conn: MultiplexedConnection,
    id: String,
    bus_port: u16,
}

/// Runs `cmd` on `node`; an error names the node, the command and its reply.
async fn run<T: redis::FromRedisValue>(
    node: &Node,
    conn: &mut MultiplexedConnection,
    cmd: &redis::Cmd,
    what: &str,
) -> Result<T> {
    query(conn, cmd, STEP)
        .await
        .map_err(|e| anyhow!("{}: {what} failed: {e}", node.name))
}

/// Connects to a node and reads its id, retried until [`START_WAIT`]: a
/// container just started may not listen yet (its published port then
/// accepts and drops the connection).
async fn member<'t>(t: &'t Topology, node: &'t Node) -> Result<Member<'t>> {
    let deadline = Instant::now() + START_WAIT;
    let (mut conn, id) = loop {
        let attempt = async {
            let mut conn = connect(node.host_addr, &t.auth(), STEP)
                .await
                .map_err(|e| anyhow!("{}: cannot connect to {}: {e}", node.name, node.host_addr))?;
            let id: String = run(
                node,
                &mut conn,
                redis::cmd("CLUSTER").arg("MYID"),
                "CLUSTER MYID",
            )
            .await?;
            Ok::<_, anyhow::Error>((conn, id))
        };
        match attempt.await {
            Ok(got) => break got,
            Err(e) if Instant::now() >= deadline => return Err(e),
            Err(_) => tokio::time::sleep(POLL_EVERY).await,
        }
    };
    let port: Vec<String> = run(
        node,
        &mut conn,
        redis::cmd("CONFIG").arg("GET").arg("cluster-port"),
        "CONFIG GET cluster-port",
    )
    .await?;
    let bus_port = match port.get(1).and_then(|p| p.parse::<u16>().ok()) {
        // 0: the default, client port + 10000.
        Some(0) | None => node.host_addr.port().wrapping_add(10000),
        Some(p) => p,
    };
    Ok(Member {
        node,
        conn,
        id,
        bus_port,
    })
}

/// Joins the started nodes of a Cluster topology into one cluster (see
/// the module doc). Returns when every replica has been told its master;
/// an error names the node and what it said.
pub async fn assemble(t: &Topology) -> Result<()> {
    let started = Instant::now();
    let spec = &t.spec;
    let mut members = try_join_all(t.redis_nodes().map(|n| member(t, n))).await?;
    for (epoch, m) in members.iter_mut().enumerate() {
        let _: () = run(
            m.node,
            &mut m.conn,
            redis::cmd("CLUSTER").arg("SET-CONFIG-EPOCH").arg(epoch + 1),
            "CLUSTER SET-CONFIG-EPOCH",
        )
        .await?;
    }
    let ids: BTreeMap<String, String> = members
        .iter()
        .map(|m| (m.node.name.clone(), m.id.clone()))
        .collect();
    let (first, peers) = members
        .split_first_mut()
        .filter(|(f, _)| f.node.name == FIRST_MASTER)
        .context("a Cluster topology starts with redis-1")?;
    for p in peers.iter() {
        let (ip, port) = p
            .node
            .internal_addr
            .rsplit_once(':')
            .with_context(|| format!("{}: no port in {}", p.node.name, p.node.internal_addr))?;
        let _: () = run(
            first.node,
            &mut first.conn,
            redis::cmd("CLUSTER")
                .arg("MEET")
                .arg(ip)
                .arg(port)
                .arg(p.bus_port),
            &format!(
                "CLUSTER MEET {} ({ip}:{port} bus {})",
                p.node.name, p.bus_port
            ),
        )
        .await?;
    }
    let ranges = even_split(spec.masters as usize);
    try_join_all(
        members
            .iter_mut()
            .filter(|m| starts_as_master(spec, &m.node.name))
            .map(|m| async {
                let shard = start_shard(spec, &m.node.name).context("a master has a shard")?;
                let r = ranges[shard - 1];
                run::<()>(
                    m.node,
                    &mut m.conn,
                    redis::cmd("CLUSTER")
                        .arg("ADDSLOTSRANGE")
                        .arg(r.start)
                        .arg(r.end),
                    &format!("CLUSTER ADDSLOTSRANGE {} {}", r.start, r.end),
                )
                .await
            }),
    )
    .await?;
    wait_all_known(t, &members).await?;
    try_join_all(
        members
            .iter_mut()
            .filter(|m| !starts_as_master(spec, &m.node.name))
            .map(|m| {
                let master = start_shard(spec, &m.node.name)
                    .map(start_master_of)
                    .and_then(|name| ids.get(&name).map(|id| (name, id.clone())));
                async move {
                    let (name, id) = master
                        .with_context(|| format!("{}: no master to replicate", m.node.name))?;
                    run::<()>(
                        m.node,
                        &mut m.conn,
                        redis::cmd("CLUSTER").arg("REPLICATE").arg(&id),
                        &format!("CLUSTER REPLICATE {id} ({name})"),
                    )
                    .await
                }
            }),
    )
    .await?;
    tracing::debug!(run = %t.run_id, elapsed = ?started.elapsed(), "cluster assembled");
    Ok(())
}

/// Joins data nodes started after the cluster was assembled (`grabstorm
/// scale add`): `via`, a node of the cluster, is told to `CLUSTER MEET`
/// each of `newcomers` at its internal address and bus port (as
/// [`assemble`] does), then, once every node of `t` knows every other,
/// each `(replica, master)` of `replicate` is told `CLUSTER REPLICATE`.
pub async fn join(
    t: &Topology,
    via: &str,
    newcomers: &[String],
    replicate: &[(String, String)],
) -> Result<()> {
    let mut members = try_join_all(t.redis_nodes().map(|n| member(t, n))).await?;
    let ids: BTreeMap<String, String> = members
        .iter()
        .map(|m| (m.node.name.clone(), m.id.clone()))
        .collect();
    let meets: Vec<(String, String, String, u16)> = members
        .iter()
        .filter(|m| newcomers.contains(&m.node.name))
        .map(|m| {
            let (ip, port) =
                m.node.internal_addr.rsplit_once(':').with_context(|| {
                    format!("{}: no port in {}", m.node.name, m.node.internal_addr)
                })?;
            Ok((
                ip.to_string(),
                port.to_string(),
                m.node.name.clone(),
                m.bus_port,
            ))
        })
        .collect::<Result<_>>()?;
    let first = members
        .iter_mut()
        .find(|m| m.node.name == via)
        .with_context(|| format!("no node {via} to meet the newcomers through"))?;
    for (ip, port, name, bus) in &meets {
        let _: () = run(
            first.node,
            &mut first.conn,
            redis::cmd("CLUSTER").arg("MEET").arg(ip).arg(port).arg(bus),
            &format!("CLUSTER MEET {name} ({ip}:{port} bus {bus})"),
        )
        .await?;
    }
    wait_all_known(t, &members).await?;
    for (replica, master) in replicate {
        let id = ids
            .get(master)
            .with_context(|| format!("{replica}: no master {master} to replicate"))?;
        let m = members
            .iter_mut()
            .find(|m| &m.node.name == replica)
            .with_context(|| format!("no node {replica} in the run"))?;
        let _: () = run(
            m.node,
            &mut m.conn,
            redis::cmd("CLUSTER").arg("REPLICATE").arg(id),
            &format!("CLUSTER REPLICATE {id} ({master})"),
        )
        .await?;
    }
    Ok(())
}

/// Waits until every node lists every other node by its id, out of
/// handshake (what `CLUSTER REPLICATE` needs).
async fn wait_all_known(t: &Topology, members: &[Member<'_>]) -> Result<()> {
    let deadline = Instant::now() + MEET_WAIT;
    let auth = t.auth();
    loop {
        let views = join_all(
            members
                .iter()
                .map(|m| cluster::read_view(m.node.host_addr, &auth, READ_TIMEOUT)),
        )
        .await;
        let mut missing = None;
        for (m, v) in members.iter().zip(&views) {
            let known = |id: &str, v: &ClusterView| {
                v.by_id(id)
                    .is_some_and(|n| !n.flags.handshake && !n.flags.noaddr)
            };
            let lacking: Vec<&str> = match v {
                Ok(v) => members
                    .iter()
                    .filter(|o| !known(&o.id, v))
                    .map(|o| o.node.name.as_str())
                    .collect(),
                Err(e) => {
                    missing.get_or_insert(format!("{} does not answer: {e}", m.node.name));
                    continue;
                }
            };
            if !lacking.is_empty() {
                missing.get_or_insert(format!(
                    "{} does not know {} yet",
                    m.node.name,
                    lacking.join(", ")
                ));
            }
        }
        let Some(missing) = missing else {
            return Ok(());
        };
        if Instant::now() >= deadline {
            bail!("the cluster nodes did not all meet within {MEET_WAIT:?}: {missing}");
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// Every data node's view of the cluster, by node name; `None` for a node
/// that did not answer.
pub async fn views(t: &Topology) -> Vec<(String, Option<ClusterView>)> {
    views_within(t, READ_TIMEOUT).await
}

/// [`views`], each node given `timeout` to answer.
pub async fn views_within(
    t: &Topology,
    timeout: std::time::Duration,
) -> Vec<(String, Option<ClusterView>)> {
    let auth = t.auth();
    let asks = t.redis_nodes().map(|n| {
        let auth = &auth;
        async move {
            let v = cluster::read_view(n.host_addr, auth, timeout).await;
            (n.name.clone(), v.ok())
        }
    });
    join_all(asks).await
}

/// The topology node a `CLUSTER NODES` line names (by its announced address).
pub fn node_of<'t>(t: &'t Topology, n: &ClusterNode) -> Option<&'t Node> {
    t.node_by_addr(&n.addr)
}

/// Shard `shard`'s master and replicas now, by node name, by the one rule
/// ([`cluster::shard_master`]) over the views of the nodes that answer.
pub async fn shard_nodes(t: &Topology, shard: usize) -> Result<(String, Vec<String>)> {
    let views: Vec<ClusterView> = views(t).await.into_iter().filter_map(|(_, v)| v).collect();
    shard_nodes_in(t, &views, shard)
}

/// [`shard_nodes`] over views already read.
pub fn shard_nodes_in(
    t: &Topology,
    views: &[ClusterView],
    shard: usize,
) -> Result<(String, Vec<String>)> {
    let member = |n: &ClusterNode| cluster::member_shard(t, n);
    let master = cluster::shard_master(views, shard, member).with_context(|| {
        format!(
            "no answering node names a master for shard {shard} ({} of {} nodes answered)",
            views.len(),
            t.spec.redis_count()
        )
    })?;
    let name = |n: &ClusterNode| {
        node_of(t, n)
            .map(|n| n.name.clone())
            .with_context(|| format!("no node of the run is at {}", n.addr))
    };
    let replicas = cluster::shard_replicas(views, shard, member)
        .into_iter()
        .map(name)
        .collect::<Result<_>>()?;
    Ok((name(master)?, replicas))
}

/// One shard as `status` and the dashboard show it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ShardStatus {
    /// From 1: the shard whose master was `redis-K` at start (its nodes'
    /// group, whatever slots it serves after a reshard).
    pub shard: usize,
    /// The master now (node name), by the one rule.
    pub master: Option<String>,
    /// The slots its master serves now.
    pub slots: Vec<SlotRange>,
    pub replicas: Vec<String>,
    /// The master's config epoch (the epoch of the election that made it
    /// master, or of its start).
    #[serde(default)]
    pub config_epoch: Option<u64>,
}

/// What one node flags another as, in its `CLUSTER NODES`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailFlag {
    /// It alone has not heard from the node within node-timeout.
    Pfail,
    /// A majority of masters agreed the node is failing.
    Fail,
}

impl std::fmt::Display for FailFlag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FailFlag::Pfail => "pfail",
            FailFlag::Fail => "fail",
        })
    }
}

/// One node's own word on the cluster.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NodeClusterStatus {
    pub name: String,
    /// False when the node did not answer (the other fields are then empty).
    pub answered: bool,
    /// `cluster_state:ok`.
    pub state_ok: bool,
    pub current_epoch: u64,
    pub slots_assigned: u32,
    /// The nodes it flags, by name.
    pub flags: BTreeMap<String, FailFlag>,
}

/// The cluster as `status` and the dashboard show it: the shards and every
/// node's view.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ClusterStatus {
    pub shards: Vec<ShardStatus>,
    pub nodes: Vec<NodeClusterStatus>,
}

/// Reads every node's view and sums it up for `status`.
pub async fn status(t: &Topology) -> ClusterStatus {
    status_of(t, &views(t).await)
}

/// [`status`] from views already read ([`views`], or the lab's topology
/// poll over its kept connections), by node name.
pub fn status_of(t: &Topology, read: &[(String, Option<ClusterView>)]) -> ClusterStatus {
    let answered: Vec<ClusterView> = read.iter().filter_map(|(_, v)| v.clone()).collect();
    let member = |n: &ClusterNode| cluster::member_shard(t, n);
    let name = |n: &ClusterNode| node_of(t, n).map_or_else(|| n.addr.clone(), |n| n.name.clone());
    let shards = t
        .shard_numbers()
        .into_iter()
        .map(|k| {
            let master = cluster::shard_master(&answered, k, member);
            ShardStatus {
                shard: k,
                master: master.map(name),
                slots: master.map_or_else(Vec::new, |m| m.slots.clone()),
                replicas: {
                    let mut r: Vec<String> = cluster::shard_replicas(&answered, k, member)
                        .into_iter()
                        .map(name)
                        .collect();
                    r.sort_by(|a, b| name_order(a, b));
                    r
                },
                config_epoch: master.map(|m| m.config_epoch),
            }
        })
        .collect();
    let nodes = read
        .iter()
        .map(|(node, v)| match v {
            Some(v) => NodeClusterStatus {
                name: node.clone(),
                answered: true,
                state_ok: v.info.state_ok,
                current_epoch: v.info.current_epoch,
                slots_assigned: v.info.slots_assigned,
                flags: v
                    .nodes
                    .iter()
                    .filter(|n| n.failing())
                    .map(|n| {
                        let flag = if n.flags.fail {
                            FailFlag::Fail
                        } else {
                            FailFlag::Pfail
                        };
                        (name(n), flag)
                    })
                    .collect(),
            },
            None => NodeClusterStatus {
                name: node.clone(),
                answered: false,
                state_ok: false,
                current_epoch: 0,
                slots_assigned: 0,
                flags: BTreeMap::new(),
            },
        })
        .collect();
    ClusterStatus { shards, nodes }
}
