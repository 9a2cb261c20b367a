//! Client: connections to "the master", wherever it is. The Sentinel-aware
//! target asks the sentinels (through the admin layer's [`SentinelSet`] and
//! its rule for who the master is), maps internal addresses to host addresses,
//! follows `+switch-master` and re-resolves on READONLY, connection loss and
//! timeouts; the naive target keeps writing to the address it started with.
//!
//! Grabbers never hold a lock to get a connection: each keeps a
//! `watch::Receiver<Arc<Generation>>` and swaps its connection only when the
//! generation changes (one atomic load per operation). All the re-resolving
//! and reconnecting happens in a background task ([`follow`]), woken by
//! [`MasterPool::report_failure`] or by a sentinel's `+switch-master`. A
//! grabber whose connection died waits for the next generation
//! ([`await_next_generation`]) instead of retrying on it.
//!
//! In cluster mode ([`crate::topology::TopologySpec::is_cluster`]) the
//! pool's connections are [`cluster::ClusterConn`]s instead: our own
//! cluster client, routing by slot and following MOVED/ASK itself; a
//! generation then names the cluster, not one master, and grabbers use it
//! unchanged through [`LabConn`].
//!
//! Also the one place the lab listens to the sentinels: [`watcher`] records
//! every announcement of every sentinel on the run's event bus.

pub mod cluster;
pub mod cluster_watcher;
pub mod follow;
pub mod watcher;

pub use crate::topology::admin::sentinel::{ResolveError, SentinelSet};

use crate::topology::admin::sentinel::master_or_first_node;
pub use crate::topology::conn::{open, Auth, ConnectError};

use crate::topology::admin::errors::RedisFailure;

use crate::metrics::{ClusterRedirects, EventBus, ShardOps};
use crate::topology::Topology;
use anyhow::Context;
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::{Cmd, Pipeline, RedisFuture, Value};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tokio_util::sync::{CancellationToken, DropGuard};
use tokio_util::task::TaskTracker;

/// Time allowed for any single connect.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Time a command may take before the client gives up on it (and, for the
/// pool, reports a failure that makes it re-resolve).
pub const RESPONSE_TIMEOUT: Duration = Duration::from_millis(1000);

pub use crate::kinds::ClientMode;

/// A connection of the lab's client: one multiplexed connection to the
/// master (Sentinel mode, a fixed address), or a cluster connection that
/// routes each command to its slot's master. Cheap to clone.
#[derive(Clone)]
pub enum LabConn {
    Single(MultiplexedConnection),
    Cluster(cluster::ClusterConn),
}

impl LabConn {
    /// The node that acknowledged the last command, when the connection
    /// knows better than its generation (a cluster: the slot's master).
    pub fn acked_by(&self) -> Option<SocketAddr> {
        match self {
            LabConn::Single(_) => None,
            LabConn::Cluster(c) => c.acked_by(),
        }
    }

    /// The one multiplexed connection (Sentinel mode, a fixed address).
    pub fn single(&self) -> Option<&MultiplexedConnection> {
        match self {
            LabConn::Single(c) => Some(c),
            LabConn::Cluster(_) => None,
        }
    }
}

impl From<MultiplexedConnection> for LabConn {
    fn from(c: MultiplexedConnection) -> LabConn {
        LabConn::Single(c)
    }
}

impl ConnectionLike for LabConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            LabConn::Single(c) => c.req_packed_command(cmd),
            LabConn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            LabConn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            LabConn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            LabConn::Single(c) => c.get_db(),
            LabConn::Cluster(c) => c.get_db(),
        }
    }
}

/// One set of connections to one master (Sentinel mode), or to the whole
/// cluster (cluster mode).
pub struct Generation {
    /// Increments each time the pool moves to a new master or reconnects.
    pub id: u64,
    /// Host address of the master these connections talk to (cluster mode:
    /// the master of slot 0 when the client started).
    pub master: SocketAddr,
    pub conns: Vec<LabConn>,
}

impl Generation {
    /// The connection grabber `i` should use.
    pub fn conn(&self, i: usize) -> LabConn {
        self.conns[i % self.conns.len()].clone()
    }
}

/// What the pool and its background task share.
pub(crate) struct PoolShared {
    pub(crate) tx: watch::Sender<Arc<Generation>>,
    pub(crate) mode: ClientMode,
    /// Credentials of every connection the pool opens.
    pub(crate) auth: Auth,
    /// Set by the first failure report since the background task last woke
    /// for one; cleared when it wakes. Keeps `report_failure` to one atomic
    /// swap for the thousands of grabbers that fail at once.
    pub(crate) failure_pending: AtomicBool,
    /// Set when a failure said "this node is not the master" (READONLY).
    pub(crate) saw_readonly: AtomicBool,
    pub(crate) wake: Notify,
    /// Cluster mode: the cluster client's shared state (its counters).
    pub(crate) cluster: Option<Arc<cluster::ClusterShared>>,
}

/// Stops the background tasks when the last clone of a pool is dropped.
struct PoolLife {
    _guard: DropGuard,
    cancel: CancellationToken,
    tasks: TaskTracker,
}

/// A pool of multiplexed connections to the current master.
#[derive(Clone)]
pub struct MasterPool {
    shared: Arc<PoolShared>,
    life: Arc<PoolLife>,
}

/// Opens a multiplexed connection to a loopback address with a timeout.
pub async fn connect(addr: SocketAddr, auth: &Auth) -> anyhow::Result<MultiplexedConnection> {
    connect_within(addr, auth, CONNECT_TIMEOUT).await
}

/// What a pub/sub connection listens to.
#[derive(Clone, Copy, Debug)]
pub enum Subscription<'a> {
    /// One channel, e.g. `+switch-master`.
    Channel(&'a str),
    /// Every channel matching a pattern, e.g. `*`.
    Pattern(&'a str),
}

/// How long subscribing on a sentinel may take before the caller retries.
pub const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(1);

/// A pub/sub stream on `addr`, subscribed within [`SUBSCRIBE_TIMEOUT`]. The
/// one place the lab subscribes (Sentinel events, `+switch-master`).
pub async fn subscribe(
    addr: SocketAddr,
    auth: &Auth,
    to: Subscription<'_>,
) -> anyhow::Result<redis::aio::PubSubStream> {
    let work = async {
        let client = redis::Client::open(auth.connection_info(addr)?)?;
        let mut pubsub = client.get_async_pubsub().await?;
        match to {
            Subscription::Channel(c) => pubsub.subscribe(c).await?,
            Subscription::Pattern(p) => pubsub.psubscribe(p).await?,
        }
        Ok::<_, redis::RedisError>(pubsub.into_on_message())
    };
    tokio::time::timeout(SUBSCRIBE_TIMEOUT, work)
        .await
        .map_err(|_| anyhow::anyhow!("subscribing on {addr} timed out"))?
        .with_context(|| format!("subscribing to {to:?} on {addr}"))
}

/// Opens a multiplexed connection, giving up after `timeout`; commands on it
/// time out after [`RESPONSE_TIMEOUT`].
pub async fn connect_within(
    addr: SocketAddr,
    auth: &Auth,
    timeout: Duration,
) -> anyhow::Result<MultiplexedConnection> {
    open(addr, auth, timeout, RESPONSE_TIMEOUT)
        .await
        .with_context(|| format!("connecting to {addr}"))
}

/// Longest a caller waits for the pool's next generation after its
/// connection died (see [`await_next_generation`]): while the master stays
/// unreachable, each caller retries about this often.
pub const DEAD_CONNECTION_WAIT: Duration = Duration::from_millis(500);

/// After an operation on the current generation of `rx` failed with a dead
/// connection ([`RedisFailure::connection_dead`]): waits until the pool publishes its
/// next generation (the follower does so as soon as it has reconnected, at
/// the same address or another), at most [`DEAD_CONNECTION_WAIT`], and
/// returns the generation to use now. One await per failure, none per
/// successful operation.
pub async fn await_next_generation(rx: &mut watch::Receiver<Arc<Generation>>) -> Arc<Generation> {
    if let Ok(Err(_)) = tokio::time::timeout(DEAD_CONNECTION_WAIT, rx.changed()).await {
        // The pool is closed: no generation will come; still do not spin.
        tokio::time::sleep(DEAD_CONNECTION_WAIT).await;
    }
    rx.borrow_and_update().clone()
}

impl MasterPool {
    /// A pool of `connections` connections to a fixed address, reconnecting
    /// to that same address after failures (the naive client without events).
    pub async fn fixed(addr: SocketAddr, auth: &Auth, connections: usize) -> anyhow::Result<Self> {
        let cancel = CancellationToken::new();
        follow::start_naive(addr, auth, connections, None, None, cancel).await
    }

    /// The Sentinel-aware pool: the master is asked of the sentinels of
    /// `topology`, and followed. Stops when `cancel` fires or the last clone
    /// is dropped.
    pub async fn sentinel(
        topology: &Topology,
        connections: usize,
        bus: EventBus,
        cancel: CancellationToken,
    ) -> anyhow::Result<Self> {
        follow::start_sentinel(topology, connections, bus, cancel).await
    }

    /// The naive pool: the master is asked of the sentinels once (or, with
    /// no sentinel, taken as `redis-1`), then never again.
    pub async fn naive(
        topology: &Topology,
        connections: usize,
        bus: EventBus,
        cancel: CancellationToken,
    ) -> anyhow::Result<Self> {
        let addr = master_or_first_node(topology)
            .await
            .context("finding the master for the naive client")?;
        let names = topology.clone();
        follow::start_naive(
            addr,
            &topology.auth(),
            connections,
            Some(bus),
            Some(names),
            cancel,
        )
        .await
    }

    /// The cluster client on the cluster whose nodes are `seeds`, the
    /// addresses it reports mapped by `addrs`; `mode` naive keeps its first
    /// slot map (see [`cluster`]).
    pub async fn cluster(
        seeds: Vec<SocketAddr>,
        addrs: cluster::NodeAddrs,
        auth: &Auth,
        connections: usize,
        mode: ClientMode,
        cancel: CancellationToken,
    ) -> anyhow::Result<Self> {
        cluster::start(seeds, addrs, auth.clone(), connections, mode, cancel).await
    }

    /// The pool for `mode` on `topology`: in cluster mode the cluster
    /// client (aware, or naive), else the Sentinel-aware or naive pool.
    pub async fn for_mode(
        mode: ClientMode,
        topology: &Topology,
        connections: usize,
        bus: EventBus,
        cancel: CancellationToken,
    ) -> anyhow::Result<Self> {
        if topology.spec.is_cluster() {
            let seeds = topology.redis_nodes().map(|n| n.host_addr).collect();
            let addrs = cluster::NodeAddrs::of_topology(topology);
            return Self::cluster(seeds, addrs, &topology.auth(), connections, mode, cancel).await;
        }
        match mode {
            // No sentinel to follow (`--sentinels 0`): the master is the
            // node the topology started with, and nothing fails it over.
            ClientMode::Sentinel if topology.sentinels().next().is_none() => {
                Self::naive(topology, connections, bus, cancel).await
            }
            ClientMode::Sentinel => Self::sentinel(topology, connections, bus, cancel).await,
            ClientMode::Naive => Self::naive(topology, connections, bus, cancel).await,
        }
    }

    pub(crate) fn from_parts(
        shared: Arc<PoolShared>,
        cancel: CancellationToken,
        tasks: TaskTracker,
    ) -> Self {
        MasterPool {
            shared,
            life: Arc::new(PoolLife {
                _guard: cancel.clone().drop_guard(),
                cancel,
                tasks,
            }),
        }
    }

    /// How this pool finds the master.
    pub fn mode(&self) -> ClientMode {
        self.shared.mode
    }

    /// Cluster mode: the MOVED, ASK and map refreshes the client counted;
    /// `None` in Sentinel mode.
    pub fn redirects(&self) -> Option<ClusterRedirects> {
        self.shared.cluster.as_ref().map(|c| c.redirects())
    }

    /// Cluster mode: each shard's answered commands so far (rates left at
    /// 0 for the caller to derive); empty in Sentinel mode.
    pub fn shard_ops(&self) -> Vec<ShardOps> {
        self.shared
            .cluster
            .as_ref()
            .map(|c| c.shard_ops())
            .unwrap_or_default()
    }

    /// A receiver for the current generation; grabbers call
    /// `has_changed()` before each operation and `borrow_and_update()` when true.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Generation>> {
        self.shared.tx.subscribe()
    }

    /// The current generation.
    pub fn current(&self) -> Arc<Generation> {
        self.shared.tx.borrow().clone()
    }

    /// Tells the pool an operation failed; the pool decides whether to
    /// re-resolve the master or reconnect. Cheap: never blocks the caller.
    /// After a dead connection the caller should not retry at once but
    /// [`await_next_generation`].
    pub fn report_failure(&self, failure: &RedisFailure) {
        if !failure.re_resolve() {
            return;
        }
        if failure.not_master() {
            self.shared.saw_readonly.store(true, Ordering::Relaxed);
        }
        if !self.shared.failure_pending.swap(true, Ordering::AcqRel) {
            self.shared.wake.notify_one();
        }
    }

    /// Stops the background tasks and waits for them.
    pub async fn close(&self) {
        self.life.cancel.cancel();
        self.life.tasks.close();
        self.life.tasks.wait().await;
    }
}
