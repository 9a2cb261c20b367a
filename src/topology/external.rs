//! Topologies grabstorm did not start: a Sentinel set or a Redis Cluster
//! found through the addresses a user gives (`--sentinel`, `--cluster`),
//! turned into the same [`Topology`] record a started run has, so that the
//! load, the watcher, the faults and the audit work on it unchanged.
//!
//! What the topology is comes from what Sentinel or Cluster report
//! ([`discover`]): the master, its replicas and the other sentinels
//! (`SENTINEL MASTER`, `REPLICAS`, `SENTINELS`), or every node of a
//! cluster (`CLUSTER NODES`). Nodes are named `redis-1..` and
//! `sentinel-1..` in the order of the addresses they report, so that the
//! names stay the same across failovers and across commands; each node
//! keeps the reported address as its internal one. A reported address is
//! reached through the user's `--addr-map`, else as itself when it is a
//! loopback address, else not at all: the host never sends a packet
//! anywhere but loopback, and says which addresses it needs mapped.
//!
//! The [`ExternalBackend`] owns no process or container: it tells whether
//! a node answers, and refuses everything else (the faults check the
//! backend's kind first and refuse such faults as usage errors).

use super::admin::cluster::{parse_nodes, ClusterNode};
use super::admin::probe;
use super::admin::sentinel::Question;
use super::{Backend, BackendKind, HaMode, Node, NodeKind, ProcessState, Topology, TopologySpec};
use crate::topology::Auth;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Time allowed for one node to answer one discovery question.
const ASK_TIMEOUT: Duration = Duration::from_secs(2);
/// Time allowed for a node to answer the liveness probe.
const ALIVE_TIMEOUT: Duration = Duration::from_millis(500);

/// How to find a topology someone else started.
#[derive(Clone, Debug)]
pub struct ExternalTarget {
    pub mode: HaMode,
    /// Sentinels (Sentinel mode) or any nodes (Cluster mode) to ask first,
    /// as the host reaches them (loopback only).
    pub seeds: Vec<SocketAddr>,
    /// The name the sentinels monitor the master under (Sentinel mode).
    pub master_name: String,
    /// The password of the nodes (and of the sentinels).
    pub password: Option<String>,
    /// Reported address -> where the host reaches it (`--addr-map`).
    pub addr_map: Vec<(String, SocketAddr)>,
}

/// Why a topology could not be attached.
#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    #[error("{addr} is not a loopback address: grabstorm only connects to 127.0.0.0/8 and ::1; reach the node through a port-forward or tunnel on this host and name that address")]
    NotLoopback { addr: SocketAddr },
    #[error("no {what} answered ({tried}); last error: {last}")]
    Unreachable {
        what: &'static str,
        tried: String,
        last: String,
    },
    #[error("the sentinels at {tried} do not monitor a master named {master_name:?}{known}")]
    UnknownMaster {
        master_name: String,
        tried: String,
        known: String,
    },
    #[error("{} reports {} the host cannot reach: {}; map each with --addr-map REPORTED=HOST:PORT, e.g. --addr-map {}=127.0.0.1:PORT (a port published or forwarded on this host)",
        .source_desc,
        if .addrs.len() == 1 { "an address" } else { "addresses" },
        .addrs.join(", "),
        .addrs[0])]
    Unmapped {
        source_desc: String,
        addrs: Vec<String>,
    },
}

impl AttachError {
    /// Whether the user's input is at fault (a usage error), rather than
    /// a topology that did not answer.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            AttachError::NotLoopback { .. }
                | AttachError::UnknownMaster { .. }
                | AttachError::Unmapped { .. }
        )
    }
}

/// Parses one `--addr-map REPORTED=HOST:PORT`: the reported side as
/// Sentinel or Cluster gives it (`ip:port`, or a name and port), the host
/// side a loopback socket address.
pub fn parse_addr_map(s: &str) -> Result<(String, SocketAddr), String> {
    let (reported, host) = s.split_once('=').ok_or_else(|| {
        format!("{s:?}: expected REPORTED=HOST:PORT, e.g. 172.28.0.11:6379=127.0.0.1:16379")
    })?;
    let reported = reported.trim();
    if reported
        .rsplit_once(':')
        .and_then(|(h, p)| (!h.is_empty()).then_some(p))
        .and_then(|p| p.parse::<u16>().ok())
        .is_none()
    {
        return Err(format!(
            "{reported:?} (left of =): expected the address as reported, HOST:PORT"
        ));
    }
    let host = parse_loopback(host.trim())?;
    Ok((reported.to_string(), host))
}

/// Parses a loopback `HOST:PORT` (`localhost` is 127.0.0.1), refusing any
/// other address with what is allowed.
pub fn parse_loopback(s: &str) -> Result<SocketAddr, String> {
    let addr: SocketAddr = match s.strip_prefix("localhost:") {
        Some(port) => format!("127.0.0.1:{port}").parse(),
        None => s.parse(),
    }
    .map_err(|_| format!("{s:?}: expected HOST:PORT with a loopback IP, e.g. 127.0.0.1:26379"))?;
    if !addr.ip().is_loopback() {
        return Err(AttachError::NotLoopback { addr }.to_string());
    }
    Ok(addr)
}

/// Finds the topology `target` names and records it as a [`Topology`] of
/// the external backend.
pub async fn discover(target: &ExternalTarget) -> Result<Topology, AttachError> {
    if let Some(addr) = target
        .seeds
        .iter()
        .chain(target.addr_map.iter().map(|(_, a)| a))
        .find(|a| !a.ip().is_loopback())
    {
        return Err(AttachError::NotLoopback { addr: *addr });
    }
    let map = Reach::new(&target.addr_map);
    let auth = Auth::password(target.password.as_deref());
    match target.mode {
        HaMode::Sentinel => discover_sentinel(target, &map, &auth).await,
        HaMode::Cluster => discover_cluster(target, &map, &auth).await,
    }
}

/// Where the host reaches a reported address.
struct Reach {
    map: HashMap<String, SocketAddr>,
}

impl Reach {
    fn new(pairs: &[(String, SocketAddr)]) -> Reach {
        Reach {
            map: pairs.iter().cloned().collect(),
        }
    }

    fn host(&self, reported: &str) -> Option<SocketAddr> {
        if let Some(a) = self.map.get(reported) {
            return Some(*a);
        }
        let addr: SocketAddr = reported.parse().ok()?;
        addr.ip().is_loopback().then_some(addr)
    }
}

/// Address order for naming: numeric when both parse, else by text.
fn addr_order(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.parse::<SocketAddr>(), b.parse::<SocketAddr>()) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        _ => a.cmp(b),
    }
}

fn joined(addrs: &[SocketAddr]) -> String {
    addrs
        .iter()
        .map(|a| a.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// One sentinel's answers.
struct SentinelAnswer {
    seed: SocketAddr,
    myid: String,
    master: HashMap<String, String>,
    replicas: Vec<HashMap<String, String>>,
    sentinels: Vec<HashMap<String, String>>,
}

async fn ask_sentinel(
    seed: SocketAddr,
    auth: &Auth,
    master_name: &str,
) -> Result<Option<SentinelAnswer>, String> {
    let mut conn = probe::connect(seed, auth, ASK_TIMEOUT).await?;
    let myid: String =
        probe::query(&mut conn, redis::cmd("SENTINEL").arg("MYID"), ASK_TIMEOUT).await?;
    let master: Result<HashMap<String, String>, String> = probe::query(
        &mut conn,
        &Question::Master.command(master_name),
        ASK_TIMEOUT,
    )
    .await;
    let master = match master {
        Ok(m) => m,
        Err(e) if e.contains("No such master") => return Ok(None),
        Err(e) => return Err(e),
    };
    let replicas = probe::query(
        &mut conn,
        &Question::Replicas.command(master_name),
        ASK_TIMEOUT,
    )
    .await?;
    let sentinels = probe::query(
        &mut conn,
        &Question::Sentinels.command(master_name),
        ASK_TIMEOUT,
    )
    .await?;
    Ok(Some(SentinelAnswer {
        seed,
        myid,
        master,
        replicas,
        sentinels,
    }))
}

fn ip_port(fields: &HashMap<String, String>) -> Option<String> {
    Some(format!("{}:{}", fields.get("ip")?, fields.get("port")?))
}

fn field<T: std::str::FromStr>(fields: &HashMap<String, String>, name: &str) -> Option<T> {
    fields.get(name)?.parse().ok()
}

async fn discover_sentinel(
    target: &ExternalTarget,
    map: &Reach,
    auth: &Auth,
) -> Result<Topology, AttachError> {
    let asks = target
        .seeds
        .iter()
        .map(|s| ask_sentinel(*s, auth, &target.master_name));
    let mut answers = Vec::new();
    let mut unmonitored = Vec::new();
    let mut last = String::new();
    for (seed, r) in target
        .seeds
        .iter()
        .zip(futures::future::join_all(asks).await)
    {
        match r {
            Ok(Some(a)) => answers.push(a),
            Ok(None) => unmonitored.push(*seed),
            Err(e) => last = format!("{seed}: {e}"),
        }
    }
    if answers.is_empty() {
        if !unmonitored.is_empty() {
            let known = known_masters(unmonitored[0], auth).await;
            return Err(AttachError::UnknownMaster {
                master_name: target.master_name.clone(),
                tried: joined(&unmonitored),
                known,
            });
        }
        return Err(AttachError::Unreachable {
            what: "sentinel",
            tried: joined(&target.seeds),
            last,
        });
    }
    // The data nodes every answering sentinel knows of, by reported address.
    let first = &answers[0];
    let mut data: Vec<String> = Vec::new();
    for a in &answers {
        data.extend(ip_port(&a.master));
        data.extend(a.replicas.iter().filter_map(ip_port));
    }
    data.sort_by(|a, b| addr_order(a, b));
    data.dedup();
    // Sentinels by id: the seeds as the host reaches them, the others as
    // their peers report them.
    let mut sentinels: BTreeMap<String, (Option<String>, Option<SocketAddr>)> = BTreeMap::new();
    for a in &answers {
        sentinels.entry(a.myid.clone()).or_default().1 = Some(a.seed);
        for s in &a.sentinels {
            if let (Some(id), Some(addr)) = (s.get("runid"), ip_port(s)) {
                sentinels.entry(id.clone()).or_default().0 = Some(addr);
            }
        }
    }
    let unmapped: Vec<String> = data
        .iter()
        .filter(|a| map.host(a).is_none())
        .cloned()
        .collect();
    if !unmapped.is_empty() {
        return Err(AttachError::Unmapped {
            source_desc: format!("Sentinel (master {:?})", target.master_name),
            addrs: unmapped,
        });
    }
    let mut nodes: Vec<Node> = data
        .iter()
        .enumerate()
        .map(|(i, reported)| Node {
            name: format!("redis-{}", i + 1),
            kind: NodeKind::Redis,
            host_addr: map.host(reported).expect("checked above"),
            internal_addr: reported.clone(),
            handle: String::new(),
        })
        .collect();
    // A sentinel the host cannot reach is left out (it still votes; the
    // lab just cannot watch or break it), and said so in the log.
    let mut reachable: Vec<(String, String, SocketAddr)> = Vec::new();
    for (id, (reported, seed)) in sentinels {
        let host = seed.or_else(|| reported.as_deref().and_then(|r| map.host(r)));
        match host {
            Some(h) => reachable.push((id, reported.unwrap_or_else(|| h.to_string()), h)),
            None => tracing::warn!(
                "sentinel {id} at {} is not reachable from the host: left out (map it with --addr-map)",
                reported.unwrap_or_default()
            ),
        }
    }
    reachable.sort_by(|a, b| addr_order(&a.1, &b.1));
    let mut sentinel_ids = BTreeMap::new();
    for (i, (id, reported, host)) in reachable.into_iter().enumerate() {
        let name = format!("sentinel-{}", i + 1);
        sentinel_ids.insert(id, name.clone());
        nodes.push(Node {
            name,
            kind: NodeKind::Sentinel,
            host_addr: host,
            internal_addr: reported,
            handle: String::new(),
        });
    }
    let defaults = TopologySpec::default();
    let sentinel_count = nodes
        .iter()
        .filter(|n| n.kind == NodeKind::Sentinel)
        .count();
    let spec = TopologySpec {
        mode: HaMode::Sentinel,
        master_name: target.master_name.clone(),
        replicas: (data.len().saturating_sub(1)) as u16,
        sentinels: sentinel_count as u16,
        quorum: field(&first.master, "quorum").unwrap_or(defaults.quorum),
        down_after_ms: field(&first.master, "down-after-milliseconds")
            .unwrap_or(defaults.down_after_ms),
        failover_timeout_ms: field(&first.master, "failover-timeout")
            .unwrap_or(defaults.failover_timeout_ms),
        parallel_syncs: field(&first.master, "parallel-syncs").unwrap_or(defaults.parallel_syncs),
        ..defaults
    };
    Ok(external_topology(
        format!("attached-{}", target.master_name),
        spec,
        nodes,
        target,
        sentinel_ids,
        BTreeMap::new(),
    ))
}

/// The masters a sentinel monitors, for the error naming the wrong one.
async fn known_masters(sentinel: SocketAddr, auth: &Auth) -> String {
    let Ok(mut conn) = probe::connect(sentinel, auth, ASK_TIMEOUT).await else {
        return String::new();
    };
    let masters: Result<Vec<HashMap<String, String>>, _> = probe::query(
        &mut conn,
        redis::cmd("SENTINEL").arg("MASTERS"),
        ASK_TIMEOUT,
    )
    .await;
    let names: Vec<String> = masters
        .unwrap_or_default()
        .iter()
        .filter_map(|m| m.get("name").cloned())
        .collect();
    if names.is_empty() {
        String::new()
    } else {
        format!(" (it monitors {}: pass --master-name)", names.join(", "))
    }
}

async fn discover_cluster(
    target: &ExternalTarget,
    map: &Reach,
    auth: &Auth,
) -> Result<Topology, AttachError> {
    let mut last = String::new();
    let mut view: Option<Vec<ClusterNode>> = None;
    for seed in &target.seeds {
        let text: Result<String, String> = async {
            let mut conn = probe::connect(*seed, auth, ASK_TIMEOUT).await?;
            probe::query(&mut conn, redis::cmd("CLUSTER").arg("NODES"), ASK_TIMEOUT).await
        }
        .await;
        match text.map(|t| parse_nodes(&t).map_err(|e| e.to_string())) {
            Ok(Ok(nodes)) => {
                view = Some(nodes);
                break;
            }
            Ok(Err(e)) | Err(e) => last = format!("{seed}: {e}"),
        }
    }
    let Some(mut listed) = view else {
        return Err(AttachError::Unreachable {
            what: "cluster node",
            tried: joined(&target.seeds),
            last,
        });
    };
    listed.retain(|n| !n.flags.handshake && !n.flags.noaddr);
    listed.sort_by(|a, b| addr_order(&a.addr, &b.addr));
    // A node that announces a loopback hostname (cluster-announce-hostname
    // 127.0.0.1, as a cluster published on the host does) is reached there.
    let host_of = |n: &ClusterNode| {
        map.host(&n.addr).or_else(|| {
            let ip = match n.hostname.as_deref()? {
                "localhost" => std::net::IpAddr::from([127, 0, 0, 1]),
                h => h.parse().ok()?,
            };
            ip.is_loopback().then_some(SocketAddr::new(ip, n.port))
        })
    };
    let unmapped: Vec<String> = listed
        .iter()
        .filter(|n| host_of(n).is_none())
        .map(|n| n.addr.clone())
        .collect();
    if !unmapped.is_empty() {
        return Err(AttachError::Unmapped {
            source_desc: "The cluster".into(),
            addrs: unmapped,
        });
    }
    let name_of: HashMap<&str, String> = listed
        .iter()
        .enumerate()
        .map(|(i, n)| (n.id.as_str(), format!("redis-{}", i + 1)))
        .collect();
    // Shards: the masters that serve slots, in slot order, then the
    // empty masters; a replica belongs to its master's shard.
    let mut masters: Vec<&ClusterNode> = listed.iter().filter(|n| n.flags.master).collect();
    masters.sort_by_key(|m| m.slots.first().map_or(u32::MAX, |r| r.start as u32));
    let mut shards = BTreeMap::new();
    for (i, m) in masters.iter().enumerate() {
        shards.insert(name_of[m.id.as_str()].clone(), i + 1);
    }
    let mut replicas_per_master: BTreeMap<usize, u16> = BTreeMap::new();
    for n in listed.iter().filter(|n| !n.flags.master) {
        let shard = n
            .master_id
            .as_deref()
            .and_then(|id| name_of.get(id))
            .and_then(|m| shards.get(m).copied());
        if let Some(shard) = shard {
            shards.insert(name_of[n.id.as_str()].clone(), shard);
            *replicas_per_master.entry(shard).or_default() += 1;
        }
    }
    let nodes = listed
        .iter()
        .map(|n| Node {
            name: name_of[n.id.as_str()].clone(),
            kind: NodeKind::Redis,
            host_addr: host_of(n).expect("checked above"),
            internal_addr: n.addr.clone(),
            handle: String::new(),
        })
        .collect();
    let spec = TopologySpec {
        mode: HaMode::Cluster,
        masters: masters.len() as u16,
        replicas_per_master: replicas_per_master.values().copied().max().unwrap_or(0),
        replicas: 0,
        sentinels: 0,
        ..TopologySpec::default()
    };
    Ok(external_topology(
        "attached-cluster".into(),
        spec,
        nodes,
        target,
        BTreeMap::new(),
        shards,
    ))
}

fn external_topology(
    run_id: String,
    spec: TopologySpec,
    nodes: Vec<Node>,
    target: &ExternalTarget,
    sentinel_ids: BTreeMap<String, String>,
    shards: BTreeMap<String, usize>,
) -> Topology {
    Topology {
        run_id,
        backend: BackendKind::External,
        spec,
        nodes,
        image: None,
        network_id: None,
        run_dir: PathBuf::new(),
        aliases: target.addr_map.iter().cloned().collect(),
        sentinel_ids,
        password: target.password.clone(),
        shards,
    }
}

/// The backend of an attached topology: it starts, stops and removes
/// nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct ExternalBackend;

/// What an attached topology's backend refuses.
#[derive(Debug, thiserror::Error)]
#[error("{what} needs the node's process or container, and grabstorm did not start this topology (it is attached): only faults sent as Redis commands apply")]
pub struct NotOurs {
    pub what: String,
}

fn not_ours<T>(what: &str, node: &str) -> anyhow::Result<T> {
    Err(NotOurs {
        what: format!("{what} {node}"),
    }
    .into())
}

#[async_trait::async_trait]
impl Backend for ExternalBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::External
    }

    async fn up(&self, _spec: &TopologySpec, _run_id: &str) -> anyhow::Result<Topology> {
        anyhow::bail!("an attached topology is not started by grabstorm")
    }

    /// Nothing of an attached topology is grabstorm's to remove.
    async fn down(&self, _topology: &Topology) -> anyhow::Result<()> {
        Ok(())
    }

    async fn remove_recorded(
        &self,
        _run: &super::manifest::RecordedRun,
    ) -> anyhow::Result<Vec<String>> {
        Ok(Vec::new())
    }

    async fn down_all(&self) -> anyhow::Result<Vec<String>> {
        Ok(Vec::new())
    }

    /// Running when the node answers at all (an error reply included),
    /// exited when it does not: without its process, that is all the host
    /// can tell (a frozen node looks exited too).
    async fn state(&self, topology: &Topology, node: &str) -> anyhow::Result<ProcessState> {
        let n = topology
            .node(node)
            .ok_or_else(|| anyhow::anyhow!("no node {node}"))?;
        // Answered at all, an error reply included: by the probe's own rule.
        let answered = async {
            let mut conn = probe::connect(n.host_addr, &topology.auth(), ALIVE_TIMEOUT)
                .await
                .ok()?;
            let reply = probe::probe::<String>(&mut conn, &redis::cmd("PING"), ALIVE_TIMEOUT).await;
            (probe::verdict_of(&reply) == probe::ConnVerdict::Fine).then_some(())
        };
        Ok(match answered.await {
            Some(()) => ProcessState::Running,
            None => ProcessState::Exited,
        })
    }

    async fn kill(&self, _t: &Topology, node: &str) -> anyhow::Result<()> {
        not_ours("kill", node)
    }
    async fn pause(&self, _t: &Topology, node: &str) -> anyhow::Result<()> {
        not_ours("pause", node)
    }
    async fn resume(&self, _t: &Topology, node: &str) -> anyhow::Result<()> {
        not_ours("resume", node)
    }
    async fn restart(&self, _t: &mut Topology, node: &str) -> anyhow::Result<()> {
        not_ours("restart", node)
    }
    async fn partition(
        &self,
        _t: &Topology,
        node: &str,
        _from: &[String],
    ) -> anyhow::Result<std::time::Instant> {
        not_ours("partition", node)
    }
    async fn heal(&self, _t: &Topology, _node: &str) -> anyhow::Result<bool> {
        Ok(false)
    }
    /// No cut is ever made: there is nothing to heal.
    async fn heal_all(&self, _t: &Topology) -> anyhow::Result<Vec<String>> {
        Ok(Vec::new())
    }
    async fn add_node(&self, _t: &mut Topology, name: &str) -> anyhow::Result<()> {
        not_ours("adding node", name)
    }
    async fn remove_node(&self, _t: &mut Topology, name: &str) -> anyhow::Result<()> {
        not_ours("removing node", name)
    }
    async fn log_tail(&self, _t: &Topology, node: &str, _lines: usize) -> String {
        format!("({node}'s log is not reachable: grabstorm did not start it)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addr_maps_name_a_reported_address_and_a_loopback_one() {
        let (r, h) = parse_addr_map("172.28.0.11:6379=127.0.0.1:16379").unwrap();
        assert_eq!(r, "172.28.0.11:6379");
        assert_eq!(h, "127.0.0.1:16379".parse().unwrap());
        let (_, h) = parse_addr_map("redis-1:6379=localhost:7000").unwrap();
        assert_eq!(h, "127.0.0.1:7000".parse().unwrap());
        let e = parse_addr_map("172.28.0.11:6379=10.0.0.5:6379").unwrap_err();
        assert!(e.contains("not a loopback address"), "{e}");
        assert!(parse_addr_map("172.28.0.11:6379")
            .unwrap_err()
            .contains("REPORTED=HOST:PORT"));
        assert!(parse_addr_map("172.28.0.11=127.0.0.1:1")
            .unwrap_err()
            .contains("left of ="));
        assert!(parse_loopback("[::1]:26379").is_ok());
        assert!(parse_loopback("192.168.1.2:26379")
            .unwrap_err()
            .contains("only connects to 127.0.0.0/8 and ::1"));
    }

    #[test]
    fn reported_addresses_reach_the_host_by_map_or_as_loopback_only() {
        let reach = Reach::new(&[(
            "172.28.0.11:6379".into(),
            "127.0.0.1:16379".parse().unwrap(),
        )]);
        assert_eq!(
            reach.host("172.28.0.11:6379"),
            Some("127.0.0.1:16379".parse().unwrap())
        );
        assert_eq!(
            reach.host("127.0.0.1:7001"),
            Some("127.0.0.1:7001".parse().unwrap())
        );
        assert_eq!(reach.host("172.28.0.12:6379"), None);
        assert_eq!(reach.host("redis-2:6379"), None);
    }

    #[test]
    fn names_follow_address_order_numerically() {
        let mut v = vec!["127.0.0.1:10000", "127.0.0.1:9000", "10.0.0.2:1"];
        v.sort_by(|a, b| addr_order(a, b));
        assert_eq!(v, ["10.0.0.2:1", "127.0.0.1:9000", "127.0.0.1:10000"]);
    }

    #[test]
    fn unmapped_addresses_are_named_with_the_fix() {
        let e = AttachError::Unmapped {
            source_desc: "Sentinel (master \"mymaster\")".into(),
            addrs: vec!["172.28.0.12:6379".into(), "172.28.0.13:6379".into()],
        };
        let text = e.to_string();
        assert!(
            text.contains("172.28.0.12:6379, 172.28.0.13:6379"),
            "{text}"
        );
        assert!(
            text.contains("--addr-map 172.28.0.12:6379=127.0.0.1:PORT"),
            "{text}"
        );
        assert!(e.is_usage());
    }
}
