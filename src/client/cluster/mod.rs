//! The cluster-aware client: our own, not redis-rs's cluster client, which
//! can neither count the redirects it follows nor keep a stale slot map on
//! purpose (the naive client's lesson), and whose node addresses cannot be
//! mapped to the host's loopback addresses before it connects.
//!
//! A [`ClusterConn`] is cheap to clone and implements
//! [`redis::aio::ConnectionLike`], so every Lua script, pipeline and command
//! of the workloads runs on it unchanged. It routes each command by its
//! key's slot ([`route`]) through a slot map read from `CLUSTER SHARDS`
//! ([`shards`]), with `connections` multiplexed connections per master.
//! The aware client (`--client sentinel`, the default):
//!
//! - follows `MOVED` (that slot now points to the named node, and the whole
//!   map is re-read in the background) and `ASK` (`ASKING` then the command
//!   on the named node, the map unchanged);
//! - re-reads the map after connection errors, timeouts, `CLUSTERDOWN` and
//!   a slot with no master, in one background task that also reopens the
//!   connections of nodes that failed;
//! - splits a pipeline whose commands live on several nodes into one
//!   pipeline per node and puts the replies back in order (the audits read
//!   thousands of keys that way); an atomic (MULTI) pipeline across slots is
//!   refused like Redis refuses it (`CROSSSLOT`).
//!
//! The naive client (`--client naive`) keeps its first map for the whole
//! run: a `MOVED` or `ASK` reaches the caller as the error it is, and after a
//! connection error it reconnects to the same node, never asking where the
//! slots went. Both count every `MOVED`, `ASK` and map refresh
//! ([`ClusterRedirects`]).
//!
//! Addresses the cluster reports (`ip:port`, or `hostname:port` with
//! `cluster-preferred-endpoint-type hostname`) are mapped to host addresses
//! with [`NodeAddrs`]; an address that maps to nothing on loopback is never
//! connected to. Each clone remembers the node that answered its last
//! command ([`ClusterConn::acked_by`]): the journal names it.

pub mod addrs;
pub mod route;
pub mod shards;

pub use addrs::NodeAddrs;

use super::{ClientMode, Generation, LabConn, MasterPool, PoolShared};
use crate::metrics::{ClusterRedirects, LatencyBuckets, ShardOps};
use crate::topology::admin::cluster::SLOTS;
use crate::topology::admin::errors::classify;
use crate::topology::conn::{open, Auth, ConnectError};
use anyhow::Context;
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::{
    Cmd, ErrorKind, Pipeline, RedisError, RedisFuture, RedisResult, ServerErrorKind, Value,
};
use route::{common_slot, route_of, Route};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Redirects one command may follow before the client gives up on it (a
/// map that keeps moving under it).
pub const MAX_REDIRECTS: usize = 5;
/// Connect timeout for a node named by a redirect or a refresh: short, so a
/// frozen node does not hold the caller for long.
const NODE_CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
/// Time a node gets to answer `CLUSTER SHARDS`.
const SHARDS_TIMEOUT: Duration = Duration::from_millis(500);
/// Slot-map entry of a slot no master serves.
const UNASSIGNED: u16 = u16::MAX;

/// One node's connections.
struct Node {
    addr: SocketAddr,
    conns: Vec<MultiplexedConnection>,
    /// A connection of it failed: the next refresh reopens them.
    broken: AtomicBool,
}

impl Node {
    async fn open(addr: SocketAddr, auth: &Auth, n: usize, timeout: Duration) -> RedisResult<Node> {
        let opens = (0..n.max(1)).map(|_| open(addr, auth, timeout, super::RESPONSE_TIMEOUT));
        let conns = futures::future::try_join_all(opens)
            .await
            .map_err(|e| match e {
                ConnectError::Failed(e) => e,
                ConnectError::TimedOut(_) => RedisError::from(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("connecting to {addr} timed out"),
                )),
            })?;
        Ok(Node {
            addr,
            conns,
            broken: AtomicBool::new(false),
        })
    }

    fn conn(&self, pick: usize) -> MultiplexedConnection {
        self.conns[pick % self.conns.len()].clone()
    }
}

/// The slot map: each slot's master, as an index into `nodes`.
#[derive(Clone)]
struct SlotMap {
    owners: Box<[u16]>,
    /// Masters, and nodes a redirect named.
    nodes: Vec<Arc<Node>>,
}

impl SlotMap {
    fn owner(&self, slot: u16) -> Option<&Arc<Node>> {
        self.nodes.get(usize::from(self.owners[usize::from(slot)]))
    }

    fn find(&self, addr: SocketAddr) -> Option<&Arc<Node>> {
        self.nodes.iter().find(|n| n.addr == addr)
    }

    /// The node at `addr`'s index, adding it when absent.
    fn index_of(&mut self, node: &Arc<Node>) -> u16 {
        match self.nodes.iter().position(|n| n.addr == node.addr) {
            Some(i) => i as u16,
            None => {
                self.nodes.push(node.clone());
                (self.nodes.len() - 1) as u16
            }
        }
    }
}

/// The shards as the first map had them, numbered by lowest slot, with
/// the commands each answered. The rows are the first map's slot ranges:
/// a failover keeps a range whole, but after a reshard a range's traffic
/// stays in its row while part of it is served by another shard's master
/// (shard identity proper, groups of nodes, is the topology's:
/// `topology::admin::cluster::shard_master`; the client knows only masters).
struct ShardTable {
    /// Slot -> shard index (0-based).
    of_slot: Box<[u8]>,
    first_slot: Vec<u16>,
    replies: Vec<AtomicU64>,
    latency: Vec<LatencyBuckets>,
}

impl ShardTable {
    fn of(map: &SlotMap) -> ShardTable {
        // Masters in the order of their lowest slot.
        let mut order: Vec<u16> = Vec::new();
        let mut first_slot = Vec::new();
        for (slot, &o) in map.owners.iter().enumerate() {
            if o != UNASSIGNED && !order.contains(&o) {
                order.push(o);
                first_slot.push(slot as u16);
            }
        }
        let of_slot = map
            .owners
            .iter()
            .map(|o| order.iter().position(|x| x == o).unwrap_or(0) as u8)
            .collect();
        ShardTable {
            of_slot,
            replies: first_slot.iter().map(|_| AtomicU64::new(0)).collect(),
            latency: first_slot
                .iter()
                .map(|_| LatencyBuckets::default())
                .collect(),
            first_slot,
        }
    }

    fn count(&self, slot: u16, took: Duration) {
        let shard = usize::from(self.of_slot[usize::from(slot)]);
        if let Some(c) = self.replies.get(shard) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(l) = self.latency.get(shard) {
            l.record(took);
        }
    }
}

/// What every clone of one cluster client shares.
pub(crate) struct ClusterShared {
    /// Aware (follow redirects, refresh) or naive (keep the first map).
    follow: bool,
    auth: Auth,
    addrs: NodeAddrs,
    /// Where to ask for the map when no node of the map answers.
    seeds: Vec<SocketAddr>,
    connections: usize,
    map: RwLock<Arc<SlotMap>>,
    /// Bumped on every change of `map`: clones reload it when it moved.
    version: AtomicU64,
    moved: AtomicU64,
    ask: AtomicU64,
    refreshes: AtomicU64,
    refresh_pending: AtomicBool,
    refresh: Notify,
    shards: OnceLock<ShardTable>,
    /// One connect at a time to a node a redirect named, not one per caller.
    connecting: tokio::sync::Mutex<()>,
}

impl ClusterShared {
    pub(crate) fn redirects(&self) -> ClusterRedirects {
        ClusterRedirects {
            moved: self.moved.load(Ordering::Relaxed),
            ask: self.ask.load(Ordering::Relaxed),
            refreshes: self.refreshes.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn shard_ops(&self) -> Vec<ShardOps> {
        let Some(t) = self.shards.get() else {
            return Vec::new();
        };
        let map = self.current();
        t.first_slot
            .iter()
            .zip(&t.replies)
            .enumerate()
            .map(|(i, (&first_slot, replies))| ShardOps {
                shard: i as u16 + 1,
                first_slot,
                master: map.owner(first_slot).map(|n| n.addr),
                master_node: None,
                replies: replies.load(Ordering::Relaxed),
                replies_per_s: 0.0,
                p50_ms: t.latency[i].quantile_ms(0.5),
                p99_ms: t.latency[i].quantile_ms(0.99),
            })
            .collect()
    }

    /// Counts a reply for `slot` unless it is an error.
    fn answered(&self, slot: Option<u16>, reply: &Value, started: Instant) {
        if let (Some(slot), Some(t)) = (slot, self.shards.get()) {
            if !matches!(reply, Value::ServerError(_)) {
                t.count(slot, started.elapsed());
            }
        }
    }

    fn current(&self) -> Arc<SlotMap> {
        self.map.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn edit_map(&self, edit: impl FnOnce(&mut SlotMap)) {
        let mut guard = self.map.write().unwrap_or_else(|e| e.into_inner());
        let mut next = SlotMap::clone(&guard);
        edit(&mut next);
        *guard = Arc::new(next);
        self.version.fetch_add(1, Ordering::Release);
    }

    fn request_refresh(&self) {
        if !self.refresh_pending.swap(true, Ordering::AcqRel) {
            self.refresh.notify_one();
        }
    }

    /// A call on `node` failed: connection trouble marks it for reopening.
    fn failed(&self, node: &Node, e: &RedisError) {
        if classify(e).connection_failed() {
            node.broken.store(true, Ordering::Relaxed);
            self.request_refresh();
        }
    }

    /// The node at `addr`, connecting to it when the map does not hold it.
    async fn node_at(&self, addr: SocketAddr) -> RedisResult<Arc<Node>> {
        if let Some(n) = self.current().find(addr) {
            return Ok(n.clone());
        }
        let _one = self.connecting.lock().await;
        if let Some(n) = self.current().find(addr) {
            return Ok(n.clone());
        }
        let node =
            Arc::new(Node::open(addr, &self.auth, self.connections, NODE_CONNECT_TIMEOUT).await?);
        self.edit_map(|m| {
            m.index_of(&node);
        });
        Ok(node)
    }

    /// `slot` is now served by `node` (a MOVED said so).
    fn set_slot(&self, slot: u16, node: &Arc<Node>) {
        if self
            .current()
            .owner(slot)
            .is_some_and(|n| n.addr == node.addr)
        {
            return;
        }
        self.edit_map(|m| {
            let i = m.index_of(node);
            m.owners[usize::from(slot)] = i;
        });
    }

    /// Reads `CLUSTER SHARDS` and `CLUSTER NODES` from every node of the
    /// map at once (on their open connections) and makes one map of them by
    /// config epoch ([`shards::newest_owners`]): one node may not have heard
    /// of a failover yet, and a map read from it alone would undo a MOVED
    /// just followed. With no node of the map answering, the seeds, one
    /// after the other.
    async fn read_shards(&self) -> anyhow::Result<Vec<shards::Shard>> {
        let mut errors = Vec::new();
        let map = self.current();
        let reads = futures::future::join_all(map.nodes.iter().map(|node| async move {
            let mut conn = node.conn(0);
            let view = shards_of(&mut conn).await;
            let epochs = epochs_of(&mut conn).await.unwrap_or_default();
            (node.addr, view, epochs)
        }))
        .await;
        let mut views = Vec::new();
        let mut epochs: HashMap<String, u64> = HashMap::new();
        for (addr, read, seen) in reads {
            match read {
                Ok(s) => views.push(s),
                Err(e) => errors.push(format!("{addr}: {e:#}")),
            }
            for (id, e) in seen {
                let best = epochs.entry(id).or_insert(0);
                *best = (*best).max(e);
            }
        }
        if let Some(view) = shards::newest_owners(&views, &epochs) {
            return Ok(view);
        }
        for seed in &self.seeds {
            let read = async {
                let mut conn = open(*seed, &self.auth, SHARDS_TIMEOUT, SHARDS_TIMEOUT).await?;
                shards_of(&mut conn).await
            };
            match read.await {
                Ok(s) => return Ok(s),
                Err(e) => errors.push(format!("{seed}: {e:#}")),
            }
        }
        anyhow::bail!("no node answered CLUSTER SHARDS ({})", errors.join("; "))
    }

    /// A fresh map from `CLUSTER SHARDS`, keeping the connections of nodes
    /// that did not fail. Returns whether any connection was (re)opened.
    async fn refresh(&self) -> anyhow::Result<bool> {
        let began = self.version.load(Ordering::Acquire);
        let shards = self.read_shards().await?;
        let old = self.current();
        let mut next = SlotMap {
            owners: vec![UNASSIGNED; usize::from(SLOTS)].into_boxed_slice(),
            nodes: Vec::new(),
        };
        let mut opened = false;
        for shard in shards.iter().filter(|s| !s.slots.is_empty()) {
            let Some(master) = shard.master() else {
                continue;
            };
            let hosts = [
                master.endpoint.as_str(),
                master.ip.as_str(),
                master.hostname.as_deref().unwrap_or(""),
            ];
            let Some(addr) = self.addrs.resolve(&hosts, master.port) else {
                tracing::warn!(
                    node = %master.endpoint, port = master.port,
                    "the cluster names a master this lab cannot reach on loopback; its slots stay unmapped"
                );
                continue;
            };
            let node = match old.find(addr) {
                Some(n) if !n.broken.load(Ordering::Relaxed) => n.clone(),
                _ => {
                    match Node::open(addr, &self.auth, self.connections, NODE_CONNECT_TIMEOUT).await
                    {
                        Ok(n) => {
                            opened = true;
                            Arc::new(n)
                        }
                        Err(e) => {
                            tracing::debug!(%addr, error = %e, "cluster client: a master does not answer");
                            // The cluster still names it: keep sending its
                            // slots there, so callers see what the node does
                            // (refused, reset, timed out) until a failover
                            // moves them, not an error the client made up.
                            match old.find(addr) {
                                Some(n) => n.clone(),
                                None => continue,
                            }
                        }
                    }
                }
            };
            let i = next.index_of(&node);
            for r in &shard.slots {
                for s in r.start..=r.end {
                    next.owners[usize::from(s)] = i;
                }
            }
        }
        {
            let mut guard = self.map.write().unwrap_or_else(|e| e.into_inner());
            if self.version.load(Ordering::Acquire) != began {
                // A MOVED changed the map while the views were read: they
                // may be older than it. Keep it, and read them again.
                drop(guard);
                self.request_refresh();
                return Ok(opened);
            }
            *guard = Arc::new(next);
            self.version.fetch_add(1, Ordering::Release);
        }
        self.refreshes.fetch_add(1, Ordering::Relaxed);
        Ok(opened)
    }

    /// The naive client's repair: reopen the connections of the nodes of
    /// its first map that failed, at the same addresses.
    async fn reconnect_broken(&self) -> anyhow::Result<bool> {
        let broken: Vec<Arc<Node>> = self
            .current()
            .nodes
            .iter()
            .filter(|n| n.broken.load(Ordering::Relaxed))
            .cloned()
            .collect();
        let mut result = Ok(!broken.is_empty());
        for old in broken {
            match Node::open(old.addr, &self.auth, self.connections, NODE_CONNECT_TIMEOUT).await {
                Ok(n) => {
                    let n = Arc::new(n);
                    self.edit_map(|m| {
                        if let Some(slot) = m.nodes.iter_mut().find(|x| x.addr == n.addr) {
                            *slot = n.clone();
                        }
                    });
                }
                Err(e) => result = Err(anyhow::anyhow!("reconnecting to {}: {e}", old.addr)),
            }
        }
        result
    }
}

/// Each node's config epoch as the node answering `CLUSTER NODES` knows it.
async fn epochs_of(conn: &mut MultiplexedConnection) -> anyhow::Result<Vec<(String, u64)>> {
    let text: String = tokio::time::timeout(
        SHARDS_TIMEOUT,
        redis::cmd("CLUSTER").arg("NODES").query_async(conn),
    )
    .await
    .map_err(|_| anyhow::anyhow!("CLUSTER NODES timed out"))??;
    Ok(crate::topology::admin::cluster::parse_nodes(&text)?
        .into_iter()
        .map(|n| (n.id, n.config_epoch))
        .collect())
}

async fn shards_of(conn: &mut MultiplexedConnection) -> anyhow::Result<Vec<shards::Shard>> {
    let reply: Value = tokio::time::timeout(
        SHARDS_TIMEOUT,
        redis::cmd("CLUSTER").arg("SHARDS").query_async(conn),
    )
    .await
    .map_err(|_| anyhow::anyhow!("CLUSTER SHARDS timed out"))??;
    Ok(shards::parse_shards(&reply)?)
}

/// A redirect a reply asked for.
struct Redirect {
    ask: bool,
    slot: u16,
    to: SocketAddr,
}

/// A connection to the whole cluster; see the module doc.
#[derive(Clone)]
pub struct ClusterConn {
    shared: Arc<ClusterShared>,
    map: Arc<SlotMap>,
    version: u64,
    /// Which of each node's connections this clone uses.
    pick: usize,
    last: Option<SocketAddr>,
}

fn slot_of(route: Route) -> Option<u16> {
    match route {
        Route::Slot(s) => Some(s),
        Route::Any => None,
    }
}

fn cross_slot() -> RedisError {
    RedisError::from((
        ErrorKind::Server(ServerErrorKind::CrossSlot),
        "Keys in request don't hash to the same slot",
    ))
}

fn slot_unserved(slot: u16) -> RedisError {
    RedisError::from((
        ErrorKind::Server(ServerErrorKind::ClusterDown),
        "Hash slot not served",
        format!("slot {slot} has no master in the client's map"),
    ))
}

impl ClusterConn {
    /// The node that answered this clone's last command.
    pub fn acked_by(&self) -> Option<SocketAddr> {
        self.last
    }

    /// MOVED, ASK and refreshes so far, all clones together.
    pub fn redirects(&self) -> ClusterRedirects {
        self.shared.redirects()
    }

    /// The host address of the master the client would send `slot` to now.
    pub fn owner_of(&self, slot: u16) -> Option<SocketAddr> {
        self.shared.current().owner(slot).map(|n| n.addr)
    }

    fn map(&mut self) -> &SlotMap {
        let v = self.shared.version.load(Ordering::Acquire);
        if v != self.version {
            self.map = self.shared.current();
            self.version = v;
        }
        &self.map
    }

    fn target(&mut self, route: Route) -> RedisResult<Arc<Node>> {
        let last = self.last;
        let map = self.map();
        let node = match route {
            Route::Slot(s) => map.owner(s).cloned(),
            Route::Any => last
                .and_then(|a| map.find(a))
                .or_else(|| map.owner(0))
                .or_else(|| map.nodes.first())
                .cloned(),
        };
        node.ok_or_else(|| {
            if self.shared.follow {
                self.shared.request_refresh();
            }
            slot_unserved(match route {
                Route::Slot(s) => s,
                Route::Any => 0,
            })
        })
    }

    /// Counts a redirect in `reply` and, for the aware client, says where
    /// to go. Other cluster errors that say the map is wrong ask for a refresh.
    fn redirect_in(&self, reply: &Value) -> Option<Redirect> {
        let Value::ServerError(e) = reply else {
            return None;
        };
        let ask = match e.kind() {
            Some(ServerErrorKind::Moved) => false,
            Some(ServerErrorKind::Ask) => true,
            Some(ServerErrorKind::ClusterDown) | Some(ServerErrorKind::TryAgain) => {
                if self.shared.follow {
                    self.shared.request_refresh();
                }
                return None;
            }
            _ => return None,
        };
        let counter = if ask {
            &self.shared.ask
        } else {
            &self.shared.moved
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if !self.shared.follow {
            return None;
        }
        let mut words = e.details()?.split_ascii_whitespace();
        let slot: u16 = words.next()?.parse().ok()?;
        let named = words.next()?;
        match self.shared.addrs.resolve_text(named) {
            Some(to) => Some(Redirect { ask, slot, to }),
            None => {
                tracing::warn!(
                    addr = named,
                    "a redirect names a node this lab cannot reach on loopback; not followed"
                );
                None
            }
        }
    }

    /// Runs `cmd` on `node` (after `ASKING` when `asking`), following redirects.
    async fn run_on(
        &mut self,
        cmd: &Cmd,
        mut node: Arc<Node>,
        mut asking: bool,
    ) -> RedisResult<Value> {
        for _ in 0..=MAX_REDIRECTS {
            let mut conn = node.conn(self.pick);
            let sent = if asking {
                let mut p = redis::pipe();
                p.cmd("ASKING").add_command(cmd.clone());
                conn.req_packed_commands(&p, 0, 2)
                    .await
                    .map(|mut v| v.pop().unwrap_or(Value::Nil))
            } else {
                conn.req_packed_command(cmd).await
            };
            let reply = match sent {
                Ok(v) => v,
                Err(e) => {
                    self.shared.failed(&node, &e);
                    return Err(e);
                }
            };
            self.last = Some(node.addr);
            let Some(r) = self.redirect_in(&reply) else {
                return Ok(reply);
            };
            node = self.shared.node_at(r.to).await?;
            if !r.ask {
                self.shared.set_slot(r.slot, &node);
                self.shared.request_refresh();
            }
            asking = r.ask;
        }
        Err(RedisError::from((
            ErrorKind::Server(ServerErrorKind::TryAgain),
            "too many redirects",
            format!("more than {MAX_REDIRECTS} MOVED/ASK for one command"),
        )))
    }

    async fn run_cmd(&mut self, cmd: &Cmd) -> RedisResult<Value> {
        let started = Instant::now();
        let route = route_of(cmd);
        let node = self.target(route)?;
        let reply = self.run_on(cmd, node, false).await?;
        self.shared.answered(slot_of(route), &reply, started);
        Ok(reply)
    }

    async fn run_pipe(
        &mut self,
        pipe: &Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisResult<Vec<Value>> {
        let started = Instant::now();
        if pipe.is_transaction() {
            // MULTI/EXEC runs on one node: every key in one slot, or refused.
            let slot = common_slot(pipe.cmd_iter()).map_err(|_| cross_slot())?;
            let node = self.target(slot.map_or(Route::Any, Route::Slot))?;
            let sent = node
                .conn(self.pick)
                .req_packed_commands(pipe, offset, count)
                .await;
            match &sent {
                Err(e) => self.shared.failed(&node, e),
                Ok(replies) => {
                    for r in replies {
                        self.shared.answered(slot, r, started);
                    }
                }
            }
            self.last = Some(node.addr);
            return sent;
        }
        let cmds: Vec<&Cmd> = pipe.cmd_iter().collect();
        let routes: Vec<Route> = cmds.iter().map(|c| route_of(c)).collect();
        let targets = routes
            .iter()
            .map(|r| self.target(*r))
            .collect::<RedisResult<Vec<_>>>()?;
        let Some(first) = targets.first().cloned() else {
            return Ok(Vec::new());
        };
        let mut replies = if targets.iter().all(|t| t.addr == first.addr) {
            let sent = first
                .conn(self.pick)
                .req_packed_commands(pipe, 0, cmds.len())
                .await;
            if let Err(e) = &sent {
                self.shared.failed(&first, e);
            }
            sent?
        } else {
            self.split(&cmds, &targets).await?
        };
        self.last = Some(first.addr);
        for (i, cmd) in cmds.iter().enumerate() {
            if let Some(r) = self.redirect_in(&replies[i]) {
                let node = self.shared.node_at(r.to).await?;
                if !r.ask {
                    self.shared.set_slot(r.slot, &node);
                    self.shared.request_refresh();
                }
                replies[i] = self.run_on(cmd, node, r.ask).await?;
            }
            self.shared
                .answered(slot_of(routes[i]), &replies[i], started);
        }
        Ok(replies.into_iter().skip(offset).take(count).collect())
    }

    /// One pipeline per node, sent at once; replies in the order of `cmds`.
    async fn split(&mut self, cmds: &[&Cmd], targets: &[Arc<Node>]) -> RedisResult<Vec<Value>> {
        let mut groups: Vec<(Arc<Node>, Vec<usize>)> = Vec::new();
        for (i, t) in targets.iter().enumerate() {
            match groups.iter_mut().find(|(n, _)| n.addr == t.addr) {
                Some((_, idx)) => idx.push(i),
                None => groups.push((t.clone(), vec![i])),
            }
        }
        let pick = self.pick;
        let sends = groups.iter().map(|(node, idx)| {
            let mut sub = redis::pipe();
            for &i in idx {
                sub.add_command(cmds[i].clone());
            }
            let mut conn = node.conn(pick);
            async move {
                let r = conn.req_packed_commands(&sub, 0, idx.len()).await;
                (node, idx, r)
            }
        });
        let results = futures::future::join_all(sends).await;
        let mut replies = vec![Value::Nil; cmds.len()];
        for (node, idx, r) in results {
            match r {
                Ok(values) => {
                    for (&i, v) in idx.iter().zip(values) {
                        replies[i] = v;
                    }
                }
                Err(e) => {
                    self.shared.failed(node, &e);
                    return Err(e);
                }
            }
        }
        Ok(replies)
    }
}

impl ConnectionLike for ClusterConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(self.run_cmd(cmd))
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(self.run_pipe(pipeline, offset, count))
    }

    fn get_db(&self) -> i64 {
        0
    }
}

/// Starts a cluster client on the cluster `seeds` belong to: reads the map,
/// opens `connections` connections per master, and (aware mode) keeps the
/// map fresh in a background task. Stops when `cancel` fires or the last
/// clone of the pool is dropped.
pub(crate) async fn start(
    seeds: Vec<SocketAddr>,
    addrs: NodeAddrs,
    auth: Auth,
    connections: usize,
    mode: ClientMode,
    cancel: CancellationToken,
) -> anyhow::Result<MasterPool> {
    let empty = SlotMap {
        owners: vec![UNASSIGNED; usize::from(SLOTS)].into_boxed_slice(),
        nodes: Vec::new(),
    };
    let shared = Arc::new(ClusterShared {
        follow: mode != ClientMode::Naive,
        auth: auth.clone(),
        addrs,
        seeds,
        connections: connections.max(1),
        map: RwLock::new(Arc::new(empty)),
        version: AtomicU64::new(0),
        moved: AtomicU64::new(0),
        ask: AtomicU64::new(0),
        refreshes: AtomicU64::new(0),
        refresh_pending: AtomicBool::new(false),
        refresh: Notify::new(),
        shards: OnceLock::new(),
        connecting: tokio::sync::Mutex::new(()),
    });
    // The first map is read the same way by both clients, and not counted
    // as a refresh.
    shared
        .refresh()
        .await
        .context("reading the cluster's slot map")?;
    shared.refreshes.store(0, Ordering::Relaxed);
    let map = shared.current();
    let _ = shared.shards.set(ShardTable::of(&map));
    if map.owners.contains(&UNASSIGNED) {
        tracing::warn!("cluster client: some slots have no reachable master at start");
    }
    let first = map
        .owner(0)
        .or_else(|| map.nodes.first())
        .map(|n| n.addr)
        .context("the cluster names no reachable master")?;
    let conns: Vec<LabConn> = (0..connections.max(1))
        .map(|pick| {
            LabConn::Cluster(ClusterConn {
                shared: shared.clone(),
                map: map.clone(),
                version: shared.version.load(Ordering::Acquire),
                pick,
                last: None,
            })
        })
        .collect();
    let cancel = cancel.child_token();
    let pool = super::follow::new_shared(first, conns, mode, auth, Some(shared.clone()));
    let tasks = TaskTracker::new();
    tasks.spawn(keep_fresh(shared, pool.clone(), cancel.clone()));
    Ok(MasterPool::from_parts(pool, cancel, tasks))
}

/// The background task: on a refresh request (a redirect, a connection
/// error, a grabber's failure report), re-read the map (aware) or reopen
/// failed connections (naive), at most once per
/// [`super::follow::MIN_REPAIR_INTERVAL`], retrying while it fails. Each
/// time it opened connections it publishes a new generation, which wakes
/// the grabbers that wait after a dead connection.
async fn keep_fresh(shared: Arc<ClusterShared>, pool: Arc<PoolShared>, cancel: CancellationToken) {
    use super::follow::{MIN_REPAIR_INTERVAL, RETRY_INTERVAL};
    let mut dirty = false;
    let mut last = Instant::now() - MIN_REPAIR_INTERVAL;
    loop {
        tokio::select! {
            biased;
            _ = cancel.cancelled() => return,
            _ = shared.refresh.notified() => {}
            _ = pool.wake.notified() => pool.failure_pending.store(false, Ordering::Release),
            _ = tokio::time::sleep_until(last + RETRY_INTERVAL), if dirty => {}
        }
        tokio::select! {
            biased;
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep_until(last + MIN_REPAIR_INTERVAL) => {}
        }
        last = Instant::now();
        shared.refresh_pending.store(false, Ordering::Release);
        let result = tokio::select! {
            biased;
            _ = cancel.cancelled() => return,
            r = async {
                if shared.follow {
                    shared.refresh().await
                } else {
                    shared.reconnect_broken().await
                }
            } => r,
        };
        match result {
            Ok(opened) => {
                dirty = false;
                if opened {
                    let current = pool.tx.borrow().clone();
                    pool.tx.send_replace(Arc::new(Generation {
                        id: current.id + 1,
                        master: current.master,
                        conns: current.conns.clone(),
                    }));
                }
            }
            Err(e) => {
                if !dirty {
                    tracing::info!(error = %format!("{e:#}"), "cluster client: refresh failed, retrying");
                }
                dirty = true;
            }
        }
    }
}
