//! Live truth about a running topology, read from the nodes themselves:
//! roles and offsets from `INFO replication`, each sentinel's view from
//! `SENTINEL MASTER/REPLICAS`, liveness from the backend. Nothing here trusts
//! the state file for roles: after a failover it shows the new ones. In
//! Cluster mode each node is also asked `CLUSTER INFO` and `CLUSTER NODES`
//! on the same connection, and their answers summed up by
//! [`cluster::status_of`](super::cluster::status_of).
//! [`observe`] reads once; an [`Observer`] reads again and again over
//! connections it keeps (the lab's topology poll).
//!
//! What each node is asked, and how its answer is read, is the admin
//! layer's ([`super::admin`]). Every address that comes back from a node is mapped
//! through the run's [`AddrMap`](super::AddrMap) before it is named or
//! used; an unmapped address is shown as text and never connected to.

use super::admin::probe::{connect, probe, verdict_of, ConnVerdict};
use super::admin::replication::{self, Replication, ReplicationRole};
use super::admin::sentinel::{Instance, Question};
use super::view::{Health, NodeView, Role, TopologyView};
use super::{local, Auth, Backend, BackendKind, NodeKind, ProcessState, Topology};
use futures::future::join_all;
use redis::aio::MultiplexedConnection;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::Duration;

/// Time allowed for each probe (connect, or one command) during `observe`.
pub const PROBE_TIMEOUT: Duration = Duration::from_millis(300);

/// What one Redis node said, or didn't.
#[derive(Default)]
struct RedisReading {
    answered: bool,
    replication: Option<Replication>,
    /// Cluster mode: its view of the cluster.
    cluster: Option<super::admin::cluster::ClusterView>,
}

/// What one sentinel said about the monitored master and its replicas.
#[derive(Default)]
struct SentinelReading {
    answered: bool,
    master: Option<Instance>,
    replicas: Vec<Instance>,
}

/// Runs `read` on the kept connection to `addr`, or on a fresh one when
/// none is kept or the kept one turns out broken (a node restarted on the
/// same port: the old connection fails at once, the new process answers on
/// a new one, in this same observation). Returns the reading and the
/// connection to keep: none after a timeout, so that a frozen node never
/// collects requests on a kept connection, and none when it broke.
async fn read_on<R, F, Fut>(
    addr: SocketAddr,
    auth: &Auth,
    kept: Option<MultiplexedConnection>,
    read: F,
) -> (R, Option<MultiplexedConnection>)
where
    R: Default,
    F: Fn(MultiplexedConnection) -> Fut,
    Fut: std::future::Future<Output = (R, ConnVerdict)>,
{
    if let Some(conn) = kept {
        match read(conn.clone()).await {
            (reading, ConnVerdict::Fine) => return (reading, Some(conn)),
            (reading, ConnVerdict::TimedOut) => return (reading, None),
            (_, ConnVerdict::Broken) => {}
        }
    }
    let Ok(conn) = connect(addr, auth, PROBE_TIMEOUT).await else {
        return (R::default(), None);
    };
    let (reading, verdict) = read(conn.clone()).await;
    (reading, (verdict == ConnVerdict::Fine).then_some(conn))
}

async fn read_redis(
    addr: SocketAddr,
    auth: &Auth,
    kept: Option<MultiplexedConnection>,
    cluster: bool,
) -> (RedisReading, Option<MultiplexedConnection>) {
    read_on(addr, auth, kept, |mut conn| async move {
        let info = probe::<String>(&mut conn, &replication::command(), PROBE_TIMEOUT).await;
        let mut verdict = verdict_of(&info);
        let mut view = None;
        // Only on a connection still fine: a frozen node gets no more requests.
        if cluster && verdict == ConnVerdict::Fine {
            let read = super::admin::cluster::probe_view(&mut conn, PROBE_TIMEOUT).await;
            verdict = verdict.max(verdict_of(&read));
            view = read.ok();
        }
        let reading = RedisReading {
            answered: info.is_ok(),
            replication: info.ok().and_then(|text| Replication::parse(&text)),
            cluster: view,
        };
        (reading, verdict)
    })
    .await
}

async fn read_sentinel(
    addr: SocketAddr,
    auth: &Auth,
    kept: Option<MultiplexedConnection>,
    master_name: &str,
) -> (SentinelReading, Option<MultiplexedConnection>) {
    read_on(addr, auth, kept, |mut conn| async move {
        let mut conn2 = conn.clone();
        let master_cmd = Question::Master.command(master_name);
        let replicas_cmd = Question::Replicas.command(master_name);
        let (master, replicas) = tokio::join!(
            probe::<HashMap<String, String>>(&mut conn2, &master_cmd, PROBE_TIMEOUT),
            probe::<Vec<HashMap<String, String>>>(&mut conn, &replicas_cmd, PROBE_TIMEOUT),
        );
        let verdict = verdict_of(&master).max(verdict_of(&replicas));
        let reading = SentinelReading {
            answered: master.is_ok() || replicas.is_ok(),
            master: master.ok().map(|m| Instance::from_fields(&m)),
            replicas: replicas
                .unwrap_or_default()
                .iter()
                .map(Instance::from_fields)
                .collect(),
        };
        (reading, verdict)
    })
    .await
}

/// The process state of every node, from the backend when one is given, else
/// (local runs) straight from `/proc`. `None` when unknown.
async fn process_states(
    topology: &Topology,
    backend: Option<&dyn Backend>,
) -> Vec<Option<ProcessState>> {
    match backend {
        Some(b) => {
            join_all(topology.nodes.iter().map(|n| async move {
                tokio::time::timeout(PROBE_TIMEOUT, b.state(topology, &n.name))
                    .await
                    .ok()
                    .and_then(|r| r.ok())
            }))
            .await
        }
        None if topology.backend == BackendKind::Local => topology
            .nodes
            .iter()
            .map(|n| Some(local::node_process_state(topology, n)))
            .collect(),
        None => vec![None; topology.nodes.len()],
    }
}

/// Reads the live state of every node. Never fails: a node that does not
/// answer within [`PROBE_TIMEOUT`] is `Down` (or `Paused` when the process
/// is frozen). Local runs read process states from `/proc`; for Docker,
/// use [`observe_with`] to include the backend's view of paused containers.
pub async fn observe(topology: &Topology) -> TopologyView {
    observe_with(topology, None).await
}

/// [`observe`], asking `backend` for each node's process state.
pub async fn observe_with(topology: &Topology, backend: Option<&dyn Backend>) -> TopologyView {
    Observer::new().observe(topology, backend).await
}

/// Observes a topology again and again over kept connections: one
/// multiplexed connection per node address, opened on first use and reused
/// by every later observation, so a poll every 500 ms costs no connects (and
/// adds nothing to the nodes' client lists and connection counts) while the
/// cluster is steady.
///
/// A connection is dropped as soon as a probe on it times out (a frozen node
/// must not collect requests) or fails (a killed node); the next observation
/// connects again. A node restarted on the same port is read over a new
/// connection in the same observation. Connections are keyed by address, so
/// a topology whose nodes moved (a restart in Docker may publish a new port)
/// is followed; addresses no longer in the topology are forgotten.
///
/// Gives the same [`TopologyView`] as [`observe_with`] for the same cluster
/// state.
#[derive(Default)]
pub struct Observer {
    conns: HashMap<SocketAddr, MultiplexedConnection>,
}

impl Observer {
    /// An observer with no connections yet.
    pub fn new() -> Observer {
        Observer::default()
    }

    /// Reads the live state of every node, like [`observe_with`], over the
    /// kept connections. Never fails. Cancel-safe: the kept connections
    /// change only once every probe is done.
    pub async fn observe(
        &mut self,
        topology: &Topology,
        backend: Option<&dyn Backend>,
    ) -> TopologyView {
        let current: HashSet<SocketAddr> = topology.nodes.iter().map(|n| n.host_addr).collect();
        self.conns.retain(|addr, _| current.contains(addr));
        let master_name = topology.spec.master_name.as_str();
        let auth = topology.auth();
        let redis_nodes: Vec<_> = topology.redis_nodes().collect();
        let cluster = topology.spec.is_cluster();
        let sentinel_nodes: Vec<_> = topology.sentinels().collect();
        let kept = |addr: SocketAddr| self.conns.get(&addr).cloned();
        let (redis_results, sentinel_results, states) = tokio::join!(
            join_all(redis_nodes.iter().map(|n| read_redis(
                n.host_addr,
                &auth,
                kept(n.host_addr),
                cluster
            ))),
            join_all(sentinel_nodes.iter().map(|n| read_sentinel(
                n.host_addr,
                &auth,
                kept(n.host_addr),
                master_name
            ))),
            process_states(topology, backend),
        );
        let addrs = redis_nodes
            .iter()
            .chain(&sentinel_nodes)
            .map(|n| n.host_addr);
        let conns = redis_results
            .iter()
            .map(|(_, c)| c)
            .chain(sentinel_results.iter().map(|(_, c)| c));
        for (addr, conn) in addrs.zip(conns) {
            match conn {
                Some(conn) => self.conns.insert(addr, conn.clone()),
                None => self.conns.remove(&addr),
            };
        }
        let redis_readings: Vec<_> = redis_results.into_iter().map(|(r, _)| r).collect();
        let sentinel_readings: Vec<_> = sentinel_results.into_iter().map(|(r, _)| r).collect();
        view_of(
            topology,
            &redis_nodes,
            &redis_readings,
            &sentinel_nodes,
            &sentinel_readings,
            states,
        )
    }
}

/// The view of the topology from what its nodes said and its process states.
fn view_of(
    topology: &Topology,
    redis_nodes: &[&super::Node],
    redis_readings: &[RedisReading],
    sentinel_nodes: &[&super::Node],
    sentinel_readings: &[SentinelReading],
    states: Vec<Option<ProcessState>>,
) -> TopologyView {
    let state_of: HashMap<&str, Option<ProcessState>> = topology
        .nodes
        .iter()
        .zip(states)
        .map(|(n, s)| (n.name.as_str(), s))
        .collect();
    let addr_map = topology.addr_map();
    let name_of = |addr: &str| -> String {
        match topology.node_by_addr(addr) {
            Some(n) => n.name.clone(),
            // Shown as text, never connected to.
            None => format!("{addr} (unknown)"),
        }
    };

    // Sentinel flags per node name: the strongest verdict any sentinel has.
    let mut sdown: HashSet<String> = HashSet::new();
    let mut odown: HashSet<String> = HashSet::new();
    let mut failover_flag = false;
    let mut named_masters: Vec<Option<String>> = Vec::new();
    for reading in sentinel_readings {
        let named = reading.master.as_ref().and_then(|m| {
            let addr = m.addr.as_deref()?;
            addr_map.resolve(addr).map(|_| name_of(addr))
        });
        if let (Some(m), Some(name)) = (&reading.master, &named) {
            if m.has_flag("failover_in_progress") {
                failover_flag = true;
            }
            if m.has_flag("s_down") {
                sdown.insert(name.clone());
            }
            if m.has_flag("o_down") {
                odown.insert(name.clone());
            }
        }
        for r in &reading.replicas {
            if let Some(addr) = &r.addr {
                if r.has_flag("s_down") {
                    sdown.insert(name_of(addr));
                }
            }
        }
        if reading.answered {
            named_masters.push(named);
        }
    }
    let disagree = named_masters.windows(2).any(|w| w[0] != w[1]);

    let offsets: HashMap<&str, u64> = redis_nodes
        .iter()
        .zip(redis_readings)
        .filter_map(|(n, r)| Some((n.name.as_str(), r.replication.as_ref()?.offset?)))
        .collect();

    let mut views = Vec::with_capacity(topology.nodes.len());
    for node in &topology.nodes {
        let state = state_of.get(node.name.as_str()).copied().flatten();
        let flagged = |name: &str| {
            if odown.contains(name) {
                Some(Health::Odown)
            } else if sdown.contains(name) {
                Some(Health::Sdown)
            } else {
                None
            }
        };
        // `None` for sentinels and in Sentinel mode.
        let mut view = NodeView::unread(node, topology.start_shard(&node.name));
        let answered = match node.kind {
            NodeKind::Redis => {
                let idx = redis_nodes.iter().position(|n| n.name == node.name);
                let reading = idx.map(|i| &redis_readings[i]);
                if let Some(r) = reading.and_then(|r| r.replication.as_ref()) {
                    view.repl_offset = r.offset;
                    match r.role {
                        ReplicationRole::Master => view.role = Role::Master,
                        ReplicationRole::Replica => {
                            view.role = Role::Replica;
                            if let Some(addr) = &r.master {
                                let master = name_of(addr);
                                view.lag_bytes = offsets
                                    .get(master.as_str())
                                    .zip(view.repl_offset)
                                    .map(|(m, mine)| m.saturating_sub(mine));
                                view.master_of_replica = Some(master);
                            }
                        }
                    }
                }
                reading.is_some_and(|r| r.answered)
            }
            NodeKind::Sentinel => {
                view.role = Role::Sentinel;
                let idx = sentinel_nodes.iter().position(|n| n.name == node.name);
                let reading = idx.map(|i| &sentinel_readings[i]);
                if let Some(m) = reading.and_then(|r| r.master.as_ref()) {
                    view.sentinel_master = m.addr.as_deref().map(name_of);
                }
                reading.is_some_and(|r| r.answered)
            }
        };
        view.health = match (state, answered) {
            (Some(ProcessState::Paused), _) => Health::Paused,
            (Some(ProcessState::Exited), _) => Health::Down,
            (_, true) => flagged(&node.name).unwrap_or(Health::Up),
            // Running but silent (stalled, or cut off): Sentinel's verdict if it has one.
            (_, false) => flagged(&node.name).unwrap_or(Health::Down),
        };
        views.push(view);
    }
    let cluster = topology.spec.is_cluster().then(|| {
        let read: Vec<_> = redis_nodes
            .iter()
            .zip(redis_readings)
            .map(|(n, r)| (n.name.clone(), r.cluster.clone()))
            .collect();
        super::cluster::status_of(topology, &read)
    });
    TopologyView {
        nodes: views,
        failover_in_progress: failover_flag || disagree,
        cluster,
    }
}
