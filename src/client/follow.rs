//! The pool's background work: one task per sentinel listening for
//! `+switch-master`, and one follower task that owns every reconnect. The
//! follower moves all grabbers at once by publishing a new [`Generation`]
//! (also when it reconnects to the same address, e.g. a master restarted in
//! place); failure reports only wake it (at most one repair per
//! [`MIN_REPAIR_INTERVAL`]), and a `+switch-master` that arrives during a
//! slow repair preempts it.

use super::{
    connect_within, Auth, ClientMode, Generation, LabConn, MasterPool, PoolShared, Subscription,
};
use crate::metrics::{EventBus, EventKind};
use crate::topology::admin::replication;
use crate::topology::admin::sentinel::SentinelSet;
use crate::topology::announcement::SwitchMaster;
use crate::topology::Topology;
use anyhow::Context;
use futures::StreamExt;
use redis::aio::MultiplexedConnection;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch, Notify};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Connect timeout while following: short, so that a frozen node does not
/// hold the follower for long.
const FOLLOW_CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
/// Time a health probe (ROLE) may take on an existing connection.
const PROBE_TIMEOUT: Duration = Duration::from_millis(300);
/// Re-resolves at most this often, however many grabbers report failures.
pub const MIN_REPAIR_INTERVAL: Duration = Duration::from_millis(50);
/// While the master is unreachable, try again this often.
pub const RETRY_INTERVAL: Duration = Duration::from_millis(100);
/// Pause before re-subscribing to a sentinel that went away.
const RESUBSCRIBE_DELAY: Duration = Duration::from_millis(250);

/// Starts the Sentinel-aware pool: resolve, connect, listen, follow.
pub(crate) async fn start_sentinel(
    topology: &Topology,
    connections: usize,
    bus: EventBus,
    cancel: CancellationToken,
) -> anyhow::Result<MasterPool> {
    let set = SentinelSet::from_topology(topology);
    let addr = set
        .master_addr()
        .await
        .context("asking the sentinels for the master")?;
    let conns = open_conns(addr, &set.auth, connections, super::CONNECT_TIMEOUT).await?;
    let role = role_of(conns[0].clone()).await.with_context(|| {
        format!(
            "asking {} (the master named by the sentinels) for its role",
            describe(topology, addr)
        )
    })?;
    if role != "master" {
        anyhow::bail!(
            "the sentinels name {} as master, but it says it is a {role}; is a failover running?",
            describe(topology, addr)
        );
    }
    let cancel = cancel.child_token();
    let shared = new_shared(
        addr,
        singles(conns),
        ClientMode::Sentinel,
        set.auth.clone(),
        None,
    );
    let tasks = TaskTracker::new();
    let (switch_tx, switch_rx) = mpsc::channel(64);
    for (name, sentinel) in &set.sentinels {
        tasks.spawn(listen_switch_master(
            name.clone(),
            *sentinel,
            set.clone(),
            switch_tx.clone(),
            cancel.clone(),
        ));
    }
    drop(switch_tx);
    let follower = Follower {
        shared: shared.clone(),
        connections,
        sentinels: Some(set),
        bus: Some(bus),
        names: Some(topology.clone()),
        _keep_open: None,
    };
    tasks.spawn(follower.run(switch_rx, cancel.clone()));
    Ok(MasterPool::from_parts(shared, cancel, tasks))
}

/// Starts the naive pool: a fixed address, reconnected to after failures.
pub(crate) async fn start_naive(
    addr: SocketAddr,
    auth: &Auth,
    connections: usize,
    bus: Option<EventBus>,
    names: Option<Topology>,
    cancel: CancellationToken,
) -> anyhow::Result<MasterPool> {
    let conns = open_conns(addr, auth, connections, super::CONNECT_TIMEOUT).await?;
    let cancel = cancel.child_token();
    let shared = new_shared(addr, singles(conns), ClientMode::Naive, auth.clone(), None);
    let tasks = TaskTracker::new();
    let (switch_tx, switch_rx) = mpsc::channel(1);
    let follower = Follower {
        shared: shared.clone(),
        connections,
        sentinels: None,
        bus,
        names,
        // Nobody announces switches to a naive client; the sender is kept so
        // the channel stays open and simply never yields.
        _keep_open: Some(switch_tx),
    };
    tasks.spawn(follower.run(switch_rx, cancel.clone()));
    Ok(MasterPool::from_parts(shared, cancel, tasks))
}

fn singles(conns: Vec<MultiplexedConnection>) -> Vec<LabConn> {
    conns.into_iter().map(LabConn::Single).collect()
}

pub(crate) fn new_shared(
    addr: SocketAddr,
    conns: Vec<LabConn>,
    mode: ClientMode,
    auth: Auth,
    cluster: Option<Arc<super::cluster::ClusterShared>>,
) -> Arc<PoolShared> {
    let (tx, _) = watch::channel(Arc::new(Generation {
        id: 0,
        master: addr,
        conns,
    }));
    Arc::new(PoolShared {
        tx,
        mode,
        auth,
        failure_pending: AtomicBool::new(false),
        saw_readonly: AtomicBool::new(false),
        wake: Notify::new(),
        cluster,
    })
}

/// `n` (at least 1) connections to `addr`, opened concurrently.
async fn open_conns(
    addr: SocketAddr,
    auth: &Auth,
    n: usize,
    timeout: Duration,
) -> anyhow::Result<Vec<MultiplexedConnection>> {
    let opens = (0..n.max(1)).map(|_| connect_within(addr, auth, timeout));
    futures::future::try_join_all(opens).await
}

/// The node's `ROLE` (`master`, `slave`, `sentinel`), within [`PROBE_TIMEOUT`]:
/// how the client confirms the master the sentinels name.
async fn role_of(mut conn: MultiplexedConnection) -> anyhow::Result<String> {
    replication::role(&mut conn, PROBE_TIMEOUT).await
}

/// The node name for a host address, or the address itself.
fn describe(names: &Topology, addr: SocketAddr) -> String {
    names
        .node_by_addr(&addr.to_string())
        .map(|n| n.name.clone())
        .unwrap_or_else(|| addr.to_string())
}

/// Subscribes to `+switch-master` on one sentinel and forwards the new
/// master's host address; re-subscribes when the sentinel comes back.
async fn listen_switch_master(
    name: String,
    sentinel: SocketAddr,
    set: SentinelSet,
    announce: mpsc::Sender<SocketAddr>,
    cancel: CancellationToken,
) {
    loop {
        let subscribed = tokio::select! {
            _ = cancel.cancelled() => return,
            r = super::subscribe(sentinel, &set.auth, Subscription::Channel("+switch-master")) => r,
        };
        match subscribed {
            Ok(mut stream) => loop {
                let msg = tokio::select! {
                    _ = cancel.cancelled() => return,
                    m = stream.next() => m,
                };
                let Some(msg) = msg else {
                    tracing::debug!(sentinel = %name, "+switch-master subscription ended");
                    break;
                };
                let payload: String = msg.get_payload().unwrap_or_default();
                let Some(switch) = SwitchMaster::parse(&payload) else {
                    tracing::warn!(sentinel = %name, payload, "unparsable +switch-master");
                    continue;
                };
                if switch.master_name != set.master_name {
                    continue;
                }
                match set.addrs.resolve(&switch.new) {
                    Some(host) => {
                        // A full queue means a move is already pending.
                        let _ = announce.try_send(host);
                    }
                    None => tracing::warn!(
                        sentinel = %name,
                        addr = %switch.new,
                        "+switch-master names an address this lab does not know; ignored"
                    ),
                }
            },
            Err(e) => {
                tracing::debug!(sentinel = %name, error = %e, "subscribing to +switch-master")
            }
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(RESUBSCRIBE_DELAY) => {}
        }
    }
}

/// What woke the follower.
enum Wake {
    Switch(SocketAddr),
    Failure,
    Retry,
}

struct Follower {
    shared: Arc<PoolShared>,
    connections: usize,
    /// `None` for the naive client: it never asks where the master is.
    sentinels: Option<SentinelSet>,
    bus: Option<EventBus>,
    names: Option<Topology>,
    _keep_open: Option<mpsc::Sender<SocketAddr>>,
}

impl Follower {
    async fn run(mut self, mut switches: mpsc::Receiver<SocketAddr>, cancel: CancellationToken) {
        let mut dirty = false;
        let mut last_repair = Instant::now() - MIN_REPAIR_INTERVAL;
        let mut queued: Option<SocketAddr> = None;
        loop {
            let wake = match queued.take() {
                Some(addr) => Wake::Switch(addr),
                None => tokio::select! {
                    biased;
                    _ = cancel.cancelled() => return,
                    Some(addr) = switches.recv() => Wake::Switch(addr),
                    _ = self.shared.wake.notified() => {
                        // Re-arm at once, not only when a repair starts: a
                        // `+switch-master` may preempt this wake before the
                        // repair runs, and a flag left set would swallow
                        // every later failure report (the pool would never
                        // repair again, e.g. after the master restarts in place).
                        self.shared.failure_pending.store(false, Ordering::Release);
                        Wake::Failure
                    }
                    _ = tokio::time::sleep_until(last_repair + RETRY_INTERVAL), if dirty => Wake::Retry,
                },
            };
            let result = match wake {
                Wake::Switch(addr) => {
                    if addr == self.shared.tx.borrow().master {
                        continue;
                    }
                    tokio::select! {
                        biased;
                        _ = cancel.cancelled() => return,
                        r = self.move_to(addr, "+switch-master") => r,
                    }
                }
                Wake::Failure | Wake::Retry => {
                    let earliest = last_repair + MIN_REPAIR_INTERVAL;
                    tokio::select! {
                        biased;
                        _ = cancel.cancelled() => return,
                        Some(addr) = switches.recv() => {
                            queued = Some(addr);
                            continue;
                        }
                        r = async {
                            tokio::time::sleep_until(earliest).await;
                            last_repair = Instant::now();
                            self.repair().await
                        } => r,
                    }
                }
            };
            match result {
                Ok(()) => dirty = false,
                Err(e) => {
                    if !dirty {
                        tracing::info!(error = %format!("{e:#}"), "client: master unreachable, retrying");
                    }
                    dirty = true;
                }
            }
        }
    }

    fn describe(&self, addr: SocketAddr) -> String {
        match &self.names {
            Some(t) => describe(t, addr),
            None => addr.to_string(),
        }
    }

    /// Moves every grabber to `addr`.
    async fn move_to(&mut self, addr: SocketAddr, why: &str) -> anyhow::Result<()> {
        let conns = open_conns(
            addr,
            &self.shared.auth,
            self.connections,
            FOLLOW_CONNECT_TIMEOUT,
        )
        .await?;
        let role = role_of(conns[0].clone()).await?;
        if role != "master" {
            anyhow::bail!("{} is a {role}, not yet a master", self.describe(addr));
        }
        let from = self.shared.tx.borrow().master;
        self.publish(addr, singles(conns));
        let (from, to) = (self.describe(from), self.describe(addr));
        tracing::info!(%from, %to, why, "client rerouted");
        if let Some(bus) = &self.bus {
            bus.emit("client", EventKind::ClientRerouted { from, to });
        }
        Ok(())
    }

    fn publish(&self, addr: SocketAddr, conns: Vec<LabConn>) {
        let id = self.shared.tx.borrow().id + 1;
        self.shared.tx.send_replace(Arc::new(Generation {
            id,
            master: addr,
            conns,
        }));
    }

    /// After failures: find the master again (Sentinel mode), then replace
    /// whichever connections no longer answer.
    async fn repair(&mut self) -> anyhow::Result<()> {
        self.shared.failure_pending.store(false, Ordering::Release);
        let saw_readonly = self.shared.saw_readonly.swap(false, Ordering::AcqRel);
        let current = self.shared.tx.borrow().clone();
        let target = match &self.sentinels {
            Some(set) => match set.master_addr().await {
                Ok(addr) => addr,
                Err(e) => {
                    tracing::debug!(error = %e, "client: sentinels did not answer; keeping the current master");
                    current.master
                }
            },
            None => current.master,
        };
        if target != current.master {
            return self.move_to(target, "re-resolved after failures").await;
        }
        let probes = current.conns.iter().map(|c| async move {
            match c.single() {
                Some(c) => role_of(c.clone()).await,
                None => anyhow::bail!("not a connection to one master"),
            }
        });
        let roles = futures::future::join_all(probes).await;
        if self.sentinels.is_some() {
            if let Some(Ok(role)) = roles
                .iter()
                .find(|r| matches!(r, Ok(role) if role != "master"))
            {
                // The sentinels have not caught up yet: ask again shortly.
                anyhow::bail!("{} is now a {role}", self.describe(target));
            }
        }
        let broken: Vec<usize> = (0..roles.len()).filter(|&i| roles[i].is_err()).collect();
        if broken.is_empty() {
            if saw_readonly && self.sentinels.is_some() {
                tracing::debug!("client: READONLY seen but the master says it is one");
            }
            return Ok(());
        }
        let fresh = open_conns(
            target,
            &self.shared.auth,
            broken.len(),
            FOLLOW_CONNECT_TIMEOUT,
        )
        .await
        .with_context(|| format!("reconnecting to {}", self.describe(target)))?;
        let mut conns = current.conns.clone();
        for (i, conn) in broken.into_iter().zip(fresh) {
            conns[i] = LabConn::Single(conn);
        }
        self.publish(target, conns);
        Ok(())
    }
}
