//! Live truth about a running topology, read from the nodes themselves:
//! roles and offsets from `INFO replication`, each sentinel's view from
//! `SENTINEL MASTER/REPLICAS`, liveness from the backend. Nothing here trusts
//! the state file for roles: after a failover it shows the new ones.
//!
//! Also owns the small, timed Redis probes that `ready` and the local
//! backend share. Every address that comes back from a node is mapped
//! through the run's [`AddrMap`](super::AddrMap) before it is named or
//! used; an unmapped address is shown as text and never connected to.

use super::{local, Backend, BackendKind, NodeKind, ProcessState, Topology};
use crate::metrics::snapshot::{Health, NodeView, Role, TopologyView};
use futures::future::join_all;
use redis::aio::MultiplexedConnection;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::Duration;

/// Time allowed for each probe (connect, or one command) during `observe`.
pub const PROBE_TIMEOUT: Duration = Duration::from_millis(300);

/// Why a probe got no answer, as a short phrase for "last seen" messages.
pub(crate) type ProbeError = String;

/// Opens a connection to a loopback address, bounded by `timeout` (for the
/// connect and for each command on it).
pub(crate) async fn connect(
    addr: SocketAddr,
    timeout: Duration,
) -> Result<MultiplexedConnection, ProbeError> {
    crate::client::open(addr, timeout, timeout)
        .await
        .map_err(|e| e.to_string())
}

/// Runs one command with a deadline.
pub(crate) async fn query<T: redis::FromRedisValue>(
    conn: &mut MultiplexedConnection,
    cmd: &redis::Cmd,
    timeout: Duration,
) -> Result<T, ProbeError> {
    match tokio::time::timeout(timeout, cmd.query_async::<T>(conn)).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no reply within {timeout:?}")),
    }
}

/// `INFO replication` as a field map.
pub(crate) async fn info_replication(
    conn: &mut MultiplexedConnection,
    timeout: Duration,
) -> Result<HashMap<String, String>, ProbeError> {
    let text: String = query(conn, redis::cmd("INFO").arg("replication"), timeout).await?;
    Ok(parse_info(&text))
}

/// Parses `INFO` text (`field:value` lines) into a map.
pub(crate) fn parse_info(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.trim_end().split_once(':'))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// `SENTINEL GET-MASTER-ADDR-BY-NAME`: the `ip:port` this sentinel names, if any.
pub(crate) async fn sentinel_master_addr(
    conn: &mut MultiplexedConnection,
    master_name: &str,
    timeout: Duration,
) -> Result<Option<String>, ProbeError> {
    let reply: Option<(String, String)> = query(
        conn,
        redis::cmd("SENTINEL")
            .arg("GET-MASTER-ADDR-BY-NAME")
            .arg(master_name),
        timeout,
    )
    .await?;
    Ok(reply.map(|(ip, port)| format!("{ip}:{port}")))
}

/// `SENTINEL MASTER name` as a field map.
pub(crate) async fn sentinel_master(
    conn: &mut MultiplexedConnection,
    master_name: &str,
    timeout: Duration,
) -> Result<HashMap<String, String>, ProbeError> {
    query(
        conn,
        redis::cmd("SENTINEL").arg("MASTER").arg(master_name),
        timeout,
    )
    .await
}

/// `SENTINEL REPLICAS name` or `SENTINEL SENTINELS name`: one field map per instance.
pub(crate) async fn sentinel_instances(
    conn: &mut MultiplexedConnection,
    which: &str,
    master_name: &str,
    timeout: Duration,
) -> Result<Vec<HashMap<String, String>>, ProbeError> {
    query(
        conn,
        redis::cmd("SENTINEL").arg(which).arg(master_name),
        timeout,
    )
    .await
}

/// `ip:port` of an instance described by a Sentinel field map.
pub(crate) fn instance_addr(fields: &HashMap<String, String>) -> Option<String> {
    Some(format!("{}:{}", fields.get("ip")?, fields.get("port")?))
}

/// Sentinel's flags field split into words (`s_down`, `o_down`, `disconnected`, ...).
pub(crate) fn flags(fields: &HashMap<String, String>) -> Vec<&str> {
    fields
        .get("flags")
        .map(|f| f.split(',').collect())
        .unwrap_or_default()
}

/// What one Redis node said, or didn't.
#[derive(Default)]
struct RedisReading {
    info: Option<HashMap<String, String>>,
}

/// What one sentinel said about the monitored master and its replicas.
#[derive(Default)]
struct SentinelReading {
    answered: bool,
    master: Option<HashMap<String, String>>,
    replicas: Vec<HashMap<String, String>>,
}

async fn read_redis(addr: SocketAddr) -> RedisReading {
    let Ok(mut conn) = connect(addr, PROBE_TIMEOUT).await else {
        return RedisReading::default();
    };
    RedisReading {
        info: info_replication(&mut conn, PROBE_TIMEOUT).await.ok(),
    }
}

async fn read_sentinel(addr: SocketAddr, master_name: &str) -> SentinelReading {
    let Ok(mut conn) = connect(addr, PROBE_TIMEOUT).await else {
        return SentinelReading::default();
    };
    let mut conn2 = conn.clone();
    let (master, replicas) = tokio::join!(
        sentinel_master(&mut conn2, master_name, PROBE_TIMEOUT),
        sentinel_instances(&mut conn, "REPLICAS", master_name, PROBE_TIMEOUT),
    );
    SentinelReading {
        answered: master.is_ok() || replicas.is_ok(),
        master: master.ok(),
        replicas: replicas.unwrap_or_default(),
    }
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
    let master_name = topology.spec.master_name.as_str();
    let redis_nodes: Vec<_> = topology.redis_nodes().collect();
    let sentinel_nodes: Vec<_> = topology.sentinels().collect();
    let (redis_readings, sentinel_readings, states) = tokio::join!(
        join_all(redis_nodes.iter().map(|n| read_redis(n.host_addr))),
        join_all(
            sentinel_nodes
                .iter()
                .map(|n| read_sentinel(n.host_addr, master_name))
        ),
        process_states(topology, backend),
    );
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
    for reading in &sentinel_readings {
        let named = reading.master.as_ref().and_then(|m| {
            let addr = instance_addr(m)?;
            addr_map.resolve(&addr).map(|_| name_of(&addr))
        });
        if let (Some(m), Some(name)) = (&reading.master, &named) {
            let f = flags(m);
            if f.contains(&"failover_in_progress") {
                failover_flag = true;
            }
            if f.contains(&"s_down") {
                sdown.insert(name.clone());
            }
            if f.contains(&"o_down") {
                odown.insert(name.clone());
            }
        }
        for r in &reading.replicas {
            if let Some(addr) = instance_addr(r) {
                if flags(r).contains(&"s_down") {
                    sdown.insert(name_of(&addr));
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
        .zip(&redis_readings)
        .filter_map(|(n, r)| Some((n.name.as_str(), own_offset(r.info.as_ref()?)?)))
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
        let mut view = NodeView {
            name: node.name.clone(),
            kind: node.kind,
            role: Role::Unknown,
            health: Health::Down,
            host_addr: node.host_addr.to_string(),
            repl_offset: None,
            lag_bytes: None,
            master_of_replica: None,
            sentinel_master: None,
        };
        let answered = match node.kind {
            NodeKind::Redis => {
                let idx = redis_nodes.iter().position(|n| n.name == node.name);
                let info = idx.and_then(|i| redis_readings[i].info.as_ref());
                if let Some(info) = info {
                    view.repl_offset = own_offset(info);
                    match info.get("role").map(String::as_str) {
                        Some("master") => view.role = Role::Master,
                        Some("slave") => {
                            view.role = Role::Replica;
                            if let (Some(h), Some(p)) =
                                (info.get("master_host"), info.get("master_port"))
                            {
                                let addr = format!("{h}:{p}");
                                let master = name_of(&addr);
                                view.lag_bytes = offsets
                                    .get(master.as_str())
                                    .zip(view.repl_offset)
                                    .map(|(m, mine)| m.saturating_sub(mine));
                                view.master_of_replica = Some(master);
                            }
                        }
                        _ => {}
                    }
                }
                info.is_some()
            }
            NodeKind::Sentinel => {
                view.role = Role::Sentinel;
                let idx = sentinel_nodes.iter().position(|n| n.name == node.name);
                let reading = idx.map(|i| &sentinel_readings[i]);
                if let Some(m) = reading.and_then(|r| r.master.as_ref()) {
                    view.sentinel_master = instance_addr(m).map(|a| name_of(&a));
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
    TopologyView {
        nodes: views,
        failover_in_progress: failover_flag || disagree,
    }
}

/// A node's own replication offset from its `INFO replication`.
fn own_offset(info: &HashMap<String, String>) -> Option<u64> {
    let field = if info.get("role").map(String::as_str) == Some("slave") {
        "slave_repl_offset"
    } else {
        "master_repl_offset"
    };
    info.get(field)
        .or_else(|| info.get("master_repl_offset"))
        .and_then(|v| v.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_text_is_parsed_into_fields() {
        let text = "# Replication\r\nrole:slave\r\nmaster_host:127.0.0.1\r\nmaster_port:7001\r\nmaster_link_status:up\r\nslave_repl_offset:42\r\n";
        let info = parse_info(text);
        assert_eq!(info.get("role").unwrap(), "slave");
        assert_eq!(info.get("master_port").unwrap(), "7001");
        assert_eq!(own_offset(&info), Some(42));
    }
}
