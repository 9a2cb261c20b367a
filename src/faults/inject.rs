//! The fault injector: resolves a [`FaultRequest`]'s target from live roles,
//! refuses what cannot be done before touching anything, performs the fault
//! through Redis commands (`DEBUG SEGFAULT`, `SHUTDOWN`, `DEBUG SLEEP`) or the
//! backend (kill, pause, restart, partition), and records it on the
//! [`EventBus`]. Timed ends (thaw after a pause, heal after a partition, the
//! end of a stall), reshards and scalings (`topology::migrate`,
//! `topology::scale`) run in tracked tasks that [`Injector::wait`] joins.

use super::target::{current_master, resolve};
use super::{FaultError, FaultKind, FaultRequest, ScheduledFault, Target};
use crate::client::Auth;
use crate::metrics::{ClusterRedirects, EventBus, EventKind};
use crate::topology::admin::errors::classify;
use crate::topology::admin::replication::{self, ReplicationRole};
use crate::topology::migrate::{self, Reshard};
use crate::topology::scale::{self, ScaleStep};
use crate::topology::{Backend, NodeKind, ProcessState, Topology};
use crate::words::duration;
use anyhow::Context;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Time a crashed, shut down or killed node gets to disappear.
const EXIT_TIMEOUT: Duration = Duration::from_secs(15);
/// Time a restarted Redis node gets to answer again.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// Stall length of `slow` when no duration is given.
pub const DEFAULT_SLOW: Duration = Duration::from_secs(5);
/// A reshard's progress is told at least this often while slots move.
const RESHARD_TELL_EVERY: Duration = Duration::from_secs(1);
/// ... and not twice within this (a tenth right after a timed line).
const RESHARD_TELL_GAP: Duration = Duration::from_millis(250);
/// Where fault events come from on the timeline.
const SOURCE: &str = "faults";

/// Injects faults into one running topology. Cheap to clone.
#[derive(Clone)]
pub struct Injector {
    backend: Arc<dyn Backend>,
    topology: Arc<Mutex<Topology>>,
    bus: EventBus,
    tasks: TaskTracker,
    /// Fired on shutdown: pending thaws and heals happen at once.
    cancel: CancellationToken,
    /// Scheduled faults that failed, in words: each fails the verdict.
    failed: Arc<std::sync::Mutex<Vec<String>>>,
    /// Cluster mode: the run's client's redirect counters now, read before
    /// and after a reshard to tell the MOVED and ASK it caused.
    redirects: Option<RedirectCounter>,
    /// Where a scale step writes each change of the topology (the state
    /// file `down` reads); None: the run keeps no state file.
    state_dir: Option<std::path::PathBuf>,
}

/// Reads a client's MOVED and ASK counters (`None`: no cluster client).
pub type RedirectCounter = Arc<dyn Fn() -> Option<ClusterRedirects> + Send + Sync>;

/// What one scheduled fault did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultOutcome {
    pub scheduled: ScheduledFault,
    /// When it was actually injected, ms since the run started.
    pub at_ms: u64,
    /// What was done, or why not.
    pub result: Result<String, String>,
}

impl Injector {
    pub fn new(backend: Arc<dyn Backend>, topology: Arc<Mutex<Topology>>, bus: EventBus) -> Self {
        Injector {
            backend,
            topology,
            bus,
            tasks: TaskTracker::new(),
            cancel: CancellationToken::new(),
            failed: Default::default(),
            redirects: None,
            state_dir: None,
        }
    }

    /// Writes every change a scale step makes to the state file in `dir`.
    pub fn saving_state(mut self, dir: std::path::PathBuf) -> Self {
        self.state_dir = Some(dir);
        self
    }

    /// Counts the redirects of the run's client during each reshard (see
    /// [`RedirectCounter`]).
    pub fn counting_redirects(mut self, counter: RedirectCounter) -> Self {
        self.redirects = Some(counter);
        self
    }

    /// The topology this injector acts on (restart may change handles).
    pub fn topology(&self) -> Arc<Mutex<Topology>> {
        self.topology.clone()
    }

    /// Performs `req`; returns what was done, one sentence. Refusals (unknown
    /// target, node already down, partition on the local backend...) leave
    /// everything as it was.
    pub async fn inject(&self, req: &FaultRequest) -> anyhow::Result<String> {
        let kind = req.kind;
        super::check_shape(req, Some(self.backend.kind()))?;
        let topology = self.topology.lock().await.clone();
        if kind == FaultKind::Heal && req.target == Target::All {
            return self.heal_all(&topology).await;
        }
        if let Some(r) = &req.reshard {
            return self.start_reshard(r, &topology).await;
        }
        if let Some(step) = req.scale {
            return self.start_scale(step, &topology);
        }
        let nodes = resolve(&req.target, kind, &topology, self.backend.as_ref()).await?;
        for node in &nodes {
            self.check(kind, node, req, &topology).await?;
        }
        let mut done = Vec::new();
        for node in &nodes {
            let what = self
                .perform(kind, node, req, &topology)
                .await
                .with_context(|| format!("{kind} {node}"))?;
            if !what.is_empty() {
                done.push(what);
            }
        }
        if done.is_empty() && kind == FaultKind::Heal {
            return Ok(format!(
                "{} was not cut off: nothing to heal",
                nodes.join(", ")
            ));
        }
        Ok(done.join("; "))
    }

    /// Plans a reshard now (a refusal touches nothing) and moves it in a
    /// task of the injector, stopped between two slots by
    /// [`Injector::shutdown`]; the timeline gets its start, its progress
    /// (every tenth of the way, or every second) and its end with the
    /// client's MOVED and ASK meanwhile.
    async fn start_reshard(&self, r: &Reshard, topology: &Topology) -> anyhow::Result<String> {
        let plan = migrate::plan_reshard(topology, r).await?;
        let ranges = crate::client::cluster_watcher::ranges_text(&plan.slots);
        self.bus.emit(
            SOURCE,
            EventKind::ReshardStarted {
                from_shard: r.from,
                to_shard: r.to,
                from: plan.from_node.clone(),
                to: plan.to_node.clone(),
                slots: r.slots,
                ranges: ranges.clone(),
            },
        );
        let started = format!(
            "moving {} slots ({ranges}) from shard {} ({}) to shard {} ({})",
            r.slots, r.from, plan.from_node, r.to, plan.to_node
        );
        let this = self.clone();
        let topology = topology.clone();
        let r = *r;
        self.tasks.spawn(async move {
            let count = || {
                this.redirects
                    .as_ref()
                    .and_then(|f| f())
                    .unwrap_or_default()
            };
            let before = count();
            let began = Instant::now();
            let mut last = migrate::Progress::default();
            let mut told = (0, Instant::now());
            let bus = this.bus.clone();
            let result = migrate::reshard(&topology, &plan, &this.cancel, |p| {
                last = p;
                let tenth = p.slots_done * 10 / p.slots_total.max(1);
                // A new tenth (unless told a moment ago), the last slot, or
                // a second without news.
                let since = told.1.elapsed();
                let last_slot = p.slots_done == p.slots_total;
                if (tenth > told.0 && since >= RESHARD_TELL_GAP)
                    || last_slot
                    || since >= RESHARD_TELL_EVERY
                {
                    told = (tenth, Instant::now());
                    bus.emit(
                        SOURCE,
                        EventKind::ReshardProgress {
                            from_shard: r.from,
                            to_shard: r.to,
                            slots_done: p.slots_done,
                            slots_total: p.slots_total,
                            keys_moved: p.keys_moved,
                        },
                    );
                }
            })
            .await;
            let after = count();
            let (report, error) = match result {
                Ok(report) => (report, None),
                Err(e) => (
                    migrate::MoveReport {
                        from: plan.from_node.clone(),
                        to: plan.to_node.clone(),
                        slots_moved: last.slots_done,
                        keys_moved: last.keys_moved,
                        millis: began.elapsed().as_millis() as u64,
                        ..Default::default()
                    },
                    Some(format!("{e:#}")),
                ),
            };
            if let Some(e) = &error {
                this.failed
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(format!("reshard {r} failed: {e}"));
            }
            this.bus.emit(
                SOURCE,
                EventKind::ReshardEnded {
                    from_shard: r.from,
                    to_shard: r.to,
                    from: report.from,
                    to: report.to,
                    slots_moved: report.slots_moved,
                    slots_total: r.slots,
                    keys_moved: report.keys_moved,
                    millis: report.millis,
                    complete: report.complete,
                    every_node_agrees: report.every_node_agrees,
                    moved: after.moved.saturating_sub(before.moved),
                    ask: after.ask.saturating_sub(before.ask),
                    error,
                },
            );
        });
        Ok(started)
    }

    /// Runs a scaling in a task of the injector (stopped between two slots
    /// by [`Injector::shutdown`]) on a copy of the topology: each change
    /// goes to the state file at once, and to the shared topology (nodes
    /// added or removed; what it knows of the others stays) as soon as it
    /// is free and at the end. The timeline gets its start, each step
    /// `topology::scale` tells, and its end.
    fn start_scale(&self, step: ScaleStep, topology: &Topology) -> anyhow::Result<String> {
        if !topology.spec.is_cluster() {
            return Err(FaultError::NeedsCluster {
                kind: FaultKind::Scale,
            }
            .into());
        }
        let action = step.to_string();
        self.bus.emit(
            SOURCE,
            EventKind::ScaleStarted {
                action: action.clone(),
            },
        );
        let this = self.clone();
        let mut working = topology.clone();
        let started = match step {
            ScaleStep::Add => "a new shard joins and takes an even share of the slots".to_string(),
            ScaleStep::Remove(k) => {
                format!("shard {k} hands its slots to the other masters, then leaves")
            }
        };
        self.tasks.spawn(async move {
            let began = Instant::now();
            // The newest record not yet in the shared topology.
            let latest: Arc<std::sync::Mutex<Option<Topology>>> = Default::default();
            let bus = this.bus.clone();
            let mut say = |line: String| {
                bus.emit(
                    SOURCE,
                    EventKind::ScaleProgress {
                        action: action.clone(),
                        line,
                    },
                );
            };
            let (state_dir, shared, pending) = (
                this.state_dir.clone(),
                this.topology.clone(),
                latest.clone(),
            );
            let mut save = move |t: &Topology| {
                *pending.lock().unwrap_or_else(|e| e.into_inner()) = Some(t.clone());
                let (shared, pending) = (shared.clone(), pending.clone());
                tokio::spawn(async move {
                    let mut s = shared.lock().await;
                    let newest = pending.lock().unwrap_or_else(|e| e.into_inner()).take();
                    if let Some(t) = newest {
                        s.follow_membership(&t);
                    }
                });
                match &state_dir {
                    Some(dir) => crate::topology::state::save(dir, t),
                    None => Ok(()),
                }
            };
            let backend = this.backend.clone();
            let result = match step {
                ScaleStep::Add => {
                    scale::add(&*backend, &mut working, &this.cancel, &mut say, &mut save).await
                }
                ScaleStep::Remove(k) => {
                    scale::remove(
                        &*backend,
                        &mut working,
                        k,
                        &this.cancel,
                        &mut say,
                        &mut save,
                    )
                    .await
                }
            };
            {
                let mut s = this.topology.lock().await;
                latest.lock().unwrap_or_else(|e| e.into_inner()).take();
                s.follow_membership(&working);
            }
            let (report, error) = match result {
                Ok(report) => (report, None),
                Err(e) => (
                    scale::ScaleReport {
                        millis: began.elapsed().as_millis() as u64,
                        ..Default::default()
                    },
                    Some(format!("{e:#}")),
                ),
            };
            if let Some(e) = &error {
                this.failed
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(format!("scale {action} failed: {e}"));
            }
            this.bus.emit(
                SOURCE,
                EventKind::ScaleEnded {
                    action: action.clone(),
                    shard: report.shard,
                    nodes: report.nodes,
                    slots_moved: report.slots_moved,
                    keys_moved: report.keys_moved,
                    millis: report.millis,
                    complete: report.complete,
                    slots_per_master: report.slots_per_master,
                    error,
                },
            );
        });
        Ok(started)
    }

    /// `heal all`: every cut undone in one round.
    async fn heal_all(&self, topology: &Topology) -> anyhow::Result<String> {
        let healed = self.backend.heal_all(topology).await.context("heal all")?;
        if healed.is_empty() {
            return Ok("no node was cut off: nothing to heal".into());
        }
        for node in &healed {
            self.bus.emit(
                SOURCE,
                EventKind::FaultHealed {
                    fault: FaultKind::Partition.to_string(),
                    node: node.clone(),
                },
            );
        }
        Ok(format!(
            "{} healed: every node reaches its peers again",
            healed.join(", ")
        ))
    }

    /// Refuses a fault that cannot be done on `node` as it is now.
    async fn check(
        &self,
        kind: FaultKind,
        node: &str,
        req: &FaultRequest,
        topology: &Topology,
    ) -> Result<(), FaultError> {
        let known = || {
            let mut names: Vec<String> = topology.nodes.iter().map(|n| n.name.clone()).collect();
            names.sort_by(|a, b| super::target::name_order(a, b));
            names.join(", ")
        };
        let n = topology.node(node).ok_or_else(|| FaultError::UnknownNode {
            name: node.to_string(),
            known: known(),
        })?;
        if kind.is_cluster_failover() && !topology.spec.is_cluster() {
            // Sentinel mode: one sentinel is asked (SENTINEL FAILOVER).
            if kind != FaultKind::Failover || n.kind != NodeKind::Sentinel {
                return Err(FaultError::NeedsCluster { kind });
            }
        } else if kind.is_cluster_failover() {
            let role = replication::read(n.host_addr, &topology.auth()).await;
            if !role.as_ref().is_some_and(|r| r.is_replica()) {
                return Err(FaultError::NeedsReplica {
                    kind,
                    node: node.to_string(),
                    role: role.map_or("it does not answer".into(), |r| {
                        format!("role:{}", r.role.redis_word())
                    }),
                });
            }
        }
        if kind.needs_redis() && n.kind == NodeKind::Sentinel {
            return Err(FaultError::NeedsRedis {
                kind,
                node: node.to_string(),
            });
        }
        for peer in &req.from {
            if peer == node {
                return Err(FaultError::SelfPeer {
                    node: node.to_string(),
                    peer: peer.clone(),
                });
            }
            if topology.node(peer).is_none() {
                return Err(FaultError::UnknownNode {
                    name: peer.clone(),
                    known: known(),
                });
            }
        }
        let state = self
            .backend
            .state(topology, node)
            .await
            .map_err(|e| FaultError::Backend {
                node: node.to_string(),
                cause: format!("{e:#}"),
            })?;
        let down = || FaultError::AlreadyDown {
            node: node.to_string(),
            attached: self.backend.kind() == crate::topology::BackendKind::External,
        };
        let paused = || FaultError::Paused {
            node: node.to_string(),
        };
        match (kind, state) {
            (FaultKind::Restart, ProcessState::Exited) => Ok(()),
            (FaultKind::Restart, _) => Err(FaultError::StillRunning {
                node: node.to_string(),
            }),
            (FaultKind::Resume, ProcessState::Paused) => Ok(()),
            (FaultKind::Resume, _) => Err(FaultError::NotPaused {
                node: node.to_string(),
            }),
            (FaultKind::Heal, _) => Ok(()),
            (_, ProcessState::Exited) => Err(down()),
            (FaultKind::Kill | FaultKind::Partition, ProcessState::Paused) => Ok(()),
            (_, ProcessState::Paused) => Err(paused()),
            (_, ProcessState::Running) => Ok(()),
        }
    }

    async fn perform(
        &self,
        kind: FaultKind,
        node: &str,
        req: &FaultRequest,
        topology: &Topology,
    ) -> anyhow::Result<String> {
        let addr = topology
            .node(node)
            .map(|n| n.host_addr)
            .context("node vanished")?;
        match kind {
            FaultKind::Reshard => Err(FaultError::ReshardNeedsSlots.into()),
            FaultKind::Scale => Err(FaultError::ScaleNeedsStep.into()),
            FaultKind::Segfault => {
                let t0 = self.bus.now_ms();
                let reply = send_fatal(addr, &topology.auth(), &["DEBUG", "SEGFAULT"]).await;
                self.wait_exited(topology, node, reply).await?;
                self.record_down(t0, kind, node);
                Ok(format!("{node} crashed (DEBUG SEGFAULT)"))
            }
            FaultKind::Shutdown | FaultKind::ShutdownSave => {
                let t0 = self.bus.now_ms();
                let mode = if kind == FaultKind::Shutdown {
                    "NOSAVE"
                } else {
                    "SAVE"
                };
                let reply = send_fatal(addr, &topology.auth(), &["SHUTDOWN", mode]).await;
                self.wait_exited(topology, node, reply).await?;
                self.record_down(t0, kind, node);
                Ok(format!("{node} shut down (SHUTDOWN {mode})"))
            }
            FaultKind::Kill => {
                let t0 = self.bus.now_ms();
                self.backend.kill(topology, node).await?;
                self.wait_exited(topology, node, Ok(())).await?;
                self.record_down(t0, kind, node);
                Ok(format!("{node} killed (SIGKILL)"))
            }
            FaultKind::Pause => {
                let t0 = self.bus.now_ms();
                self.backend.pause(topology, node).await?;
                self.record(
                    t0,
                    EventKind::FaultInjected {
                        fault: kind.to_string(),
                        node: node.to_string(),
                    },
                );
                match req.duration {
                    Some(d) => {
                        self.after(d, kind, node.to_string());
                        Ok(format!("{node} paused; it thaws in {}", duration(d)))
                    }
                    None => Ok(format!("{node} paused until `resume {node}`")),
                }
            }
            FaultKind::Resume => {
                self.backend.resume(topology, node).await?;
                self.bus.emit(
                    SOURCE,
                    EventKind::FaultHealed {
                        fault: FaultKind::Pause.to_string(),
                        node: node.to_string(),
                    },
                );
                Ok(format!("{node} resumed"))
            }
            FaultKind::Partition => {
                let cut = self.backend.partition(topology, node, &req.from).await?;
                // Stamped when the cut began, not when the last route landed:
                // on a loaded machine the helpers take seconds, and Sentinel
                // may fail over before they are all done.
                let t0 = cut.saturating_duration_since(self.bus.start()).as_millis() as u64;
                self.record(
                    t0,
                    EventKind::FaultInjected {
                        fault: kind.to_string(),
                        node: node.to_string(),
                    },
                );
                let from = if req.from.is_empty() {
                    "all its peers".to_string()
                } else {
                    req.from.join(", ")
                };
                match req.duration {
                    Some(d) => {
                        self.after(d, kind, node.to_string());
                        Ok(format!(
                            "{node} cut off from {from}; heals in {}",
                            duration(d)
                        ))
                    }
                    None => Ok(format!("{node} cut off from {from} until `heal {node}`")),
                }
            }
            FaultKind::Heal => {
                if !self.backend.heal(topology, node).await? {
                    // Said once for the whole request by `inject`.
                    return Ok(String::new());
                }
                self.bus.emit(
                    SOURCE,
                    EventKind::FaultHealed {
                        fault: FaultKind::Partition.to_string(),
                        node: node.to_string(),
                    },
                );
                Ok(format!("{node} healed: it reaches its peers again"))
            }
            FaultKind::Restart => self.restart(node).await,
            FaultKind::Slow => {
                let d = req.duration.unwrap_or(DEFAULT_SLOW);
                let t0 = self.bus.now_ms();
                let conn = stall_connection(addr, &topology.auth(), d).await?;
                self.record(
                    t0,
                    EventKind::FaultInjected {
                        fault: kind.to_string(),
                        node: node.to_string(),
                    },
                );
                let name = node.to_string();
                self.healed_when(kind, node, async move {
                    let mut conn = conn;
                    let secs = format!("{:.3}", d.as_secs_f64());
                    let r = tokio::time::timeout(
                        d + Duration::from_secs(5),
                        redis::cmd("DEBUG")
                            .arg("SLEEP")
                            .arg(&secs)
                            .query_async::<()>(&mut conn),
                    )
                    .await;
                    if !matches!(r, Ok(Ok(()))) {
                        tracing::warn!(node = %name, "DEBUG SLEEP did not return cleanly: {r:?}");
                    }
                });
                Ok(format!("{node} stalls for {} (DEBUG SLEEP)", duration(d)))
            }
            FaultKind::ClientPause => {
                let d = req.duration.unwrap_or(DEFAULT_SLOW);
                let t0 = self.bus.now_ms();
                let mut conn = admin_conn(addr, topology, node).await?;
                redis::cmd("CLIENT")
                    .arg("PAUSE")
                    .arg(d.as_millis() as u64)
                    .arg("ALL")
                    .query_async::<()>(&mut conn)
                    .await
                    .with_context(|| format!("{node} refused CLIENT PAUSE"))?;
                self.record(
                    t0,
                    EventKind::FaultInjected {
                        fault: kind.to_string(),
                        node: node.to_string(),
                    },
                );
                // Redis ends the pause itself; the timeline says when.
                self.healed_when(kind, node, tokio::time::sleep(d));
                Ok(format!(
                    "{node} answers no client for {} (CLIENT PAUSE ALL); its replicas still stream",
                    duration(d)
                ))
            }
            FaultKind::Failover | FaultKind::FailoverForce | FaultKind::FailoverTakeover => {
                // Cluster mode asks the replica to take over; Sentinel mode
                // asks the sentinel to fail the master over now.
                let (cmd, words, done) = if topology.spec.is_cluster() {
                    let option = match kind {
                        FaultKind::FailoverForce => Some("FORCE"),
                        FaultKind::FailoverTakeover => Some("TAKEOVER"),
                        _ => None,
                    };
                    let mut cmd = redis::cmd("CLUSTER");
                    cmd.arg("FAILOVER");
                    if let Some(o) = option {
                        cmd.arg(o);
                    }
                    let words = format!(
                        "CLUSTER FAILOVER{}",
                        option.map_or(String::new(), |o| format!(" {o}"))
                    );
                    let done = format!("{node} asked to take over its master's slots ({words})");
                    (cmd, words, done)
                } else {
                    let name = &topology.spec.master_name;
                    let mut cmd = redis::cmd("SENTINEL");
                    cmd.arg("FAILOVER").arg(name);
                    let done = format!("{node} asked to fail {name} over now (SENTINEL FAILOVER)");
                    (cmd, "SENTINEL FAILOVER".to_string(), done)
                };
                let t0 = self.bus.now_ms();
                let mut conn = admin_conn(addr, topology, node).await?;
                cmd.query_async::<()>(&mut conn)
                    .await
                    .with_context(|| format!("{node} refused {words}"))?;
                self.record(
                    t0,
                    EventKind::FaultInjected {
                        fault: kind.to_string(),
                        node: node.to_string(),
                    },
                );
                Ok(done)
            }
        }
    }

    /// Says in the timeline that `kind` on `node` ended once `ended`
    /// resolves: for the faults Redis ends by itself (DEBUG SLEEP returns,
    /// CLIENT PAUSE runs out).
    fn healed_when(
        &self,
        kind: FaultKind,
        node: &str,
        ended: impl std::future::Future<Output = ()> + Send + 'static,
    ) {
        let bus = self.bus.clone();
        let node = node.to_string();
        self.tasks.spawn(async move {
            ended.await;
            bus.emit(
                SOURCE,
                EventKind::FaultHealed {
                    fault: kind.to_string(),
                    node,
                },
            );
        });
    }

    /// Starts a dead node again with its own config and nothing else: a
    /// stale master comes back as a master, and what happens next is
    /// Sentinel's doing (`+convert-to-slave`, dropping what it accepted
    /// meanwhile), as a class must see it. grabstorm never sends REPLICAOF.
    async fn restart(&self, node: &str) -> anyhow::Result<String> {
        let t0 = self.bus.now_ms();
        let topology = {
            let mut t = self.topology.lock().await;
            self.backend.restart(&mut t, node).await?;
            t.clone()
        };
        self.record(
            t0,
            EventKind::FaultInjected {
                fault: FaultKind::Restart.to_string(),
                node: node.to_string(),
            },
        );
        self.bus.emit(
            SOURCE,
            EventKind::NodeStarted {
                node: node.to_string(),
            },
        );
        let n = topology.node(node).context("node vanished")?.clone();
        if n.kind == NodeKind::Sentinel {
            return Ok(format!("{node} started again"));
        }
        let deadline = Instant::now() + START_TIMEOUT;
        let role = loop {
            if let Some(r) = replication::read(n.host_addr, &topology.auth()).await {
                break r.role;
            }
            if Instant::now() > deadline {
                let log = self.backend.log_tail(&topology, node, 15).await;
                anyhow::bail!("{node} did not answer within {START_TIMEOUT:?} after the restart; its log ends with:\n{log}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let said = match current_master(&topology).await {
            // A Cluster node learns from its peers' newer epoch that its
            // slots moved on, and turns replica of their new master itself.
            _ if topology.spec.is_cluster() => String::new(),
            Ok(m) if m != node && role == ReplicationRole::Master => {
                format!(", while the sentinels name {m}: Sentinel will convert it")
            }
            _ => String::new(),
        };
        let role = match role {
            ReplicationRole::Replica => "a replica",
            ReplicationRole::Master => "master",
        };
        Ok(format!("{node} started again as {role}{said}"))
    }

    /// Waits until the backend sees `node` gone; `reply` is what the fatal
    /// command answered, quoted when the node did not go.
    async fn wait_exited(
        &self,
        topology: &Topology,
        node: &str,
        reply: Result<(), String>,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + EXIT_TIMEOUT;
        loop {
            if self.backend.state(topology, node).await? == ProcessState::Exited {
                return Ok(());
            }
            if let Err(answer) = &reply {
                anyhow::bail!("{node} did not go down: {answer}");
            }
            if Instant::now() > deadline {
                anyhow::bail!("{node} is still running {EXIT_TIMEOUT:?} later");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn record(&self, at_ms: u64, kind: EventKind) {
        self.bus.push(crate::metrics::Event {
            at_ms,
            source: SOURCE.into(),
            kind,
        });
    }

    fn record_down(&self, t0: u64, kind: FaultKind, node: &str) {
        self.record(
            t0,
            EventKind::FaultInjected {
                fault: kind.to_string(),
                node: node.to_string(),
            },
        );
        self.bus.emit(
            SOURCE,
            EventKind::NodeStopped {
                node: node.to_string(),
            },
        );
    }

    /// Ends a pause or partition after `d` (at once on shutdown).
    fn after(&self, d: Duration, kind: FaultKind, node: String) {
        let this = self.clone();
        self.tasks.spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep(d) => {}
                _ = this.cancel.cancelled() => {}
            }
            let topology = this.topology.lock().await.clone();
            let r = match kind {
                FaultKind::Pause => match this.backend.state(&topology, &node).await {
                    Ok(ProcessState::Paused) => this.backend.resume(&topology, &node).await,
                    // Resumed by hand, or killed meanwhile: nothing to thaw.
                    _ => return,
                },
                // Healed by hand meanwhile: nothing left to undo, nothing to say.
                _ => match this.backend.heal(&topology, &node).await {
                    Ok(false) => return,
                    r => r.map(|_| ()),
                },
            };
            match r {
                Ok(()) => {
                    this.bus.emit(
                        SOURCE,
                        EventKind::FaultHealed {
                            fault: kind.to_string(),
                            node,
                        },
                    );
                }
                Err(e) => {
                    tracing::warn!(node, "ending {kind}: {e:#}");
                    this.bus.emit(
                        SOURCE,
                        EventKind::Note {
                            text: format!("could not end {kind} of {node}: {e:#}"),
                        },
                    );
                }
            }
        });
    }

    /// Plays `faults` in the order of their times, each `at` after now;
    /// failures are noted on the timeline and returned, they do not stop the rest.
    pub fn schedule(&self, mut faults: Vec<ScheduledFault>) -> JoinHandle<Vec<FaultOutcome>> {
        faults.sort_by_key(|f| f.at);
        let this = self.clone();
        let start = Instant::now();
        tokio::spawn(async move {
            let mut outcomes = Vec::new();
            for scheduled in faults {
                tokio::select! {
                    _ = tokio::time::sleep_until(start + scheduled.at) => {}
                    _ = this.cancel.cancelled() => break,
                }
                let at_ms = this.bus.now_ms();
                let result = this
                    .inject(&scheduled.fault)
                    .await
                    .map_err(|e| format!("{e:#}"));
                let f = &scheduled.fault;
                // A reshard by its slots and shards, a scaling by its step, not its target.
                let named = match (&f.reshard, &f.scale) {
                    (None, None) => format!("{} {}", f.kind, f.target),
                    _ => f.sentence(),
                };
                let text = match &result {
                    Ok(what) => format!("fault {named}: {what}"),
                    Err(why) => {
                        let failed = format!("{} {named} failed: {why}", duration(scheduled.at));
                        this.failed
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push(failed);
                        format!("fault {named} failed: {why}")
                    }
                };
                this.bus.emit("lab", EventKind::Note { text });
                outcomes.push(FaultOutcome {
                    scheduled,
                    at_ms,
                    result,
                });
            }
            outcomes
        })
    }

    /// The scheduled faults that failed so far, in words.
    pub fn failures(&self) -> Vec<String> {
        self.failed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Waits for pending thaws, heals and stalls to finish.
    pub async fn wait(&self) {
        self.tasks.close();
        self.tasks.wait().await;
        self.tasks.reopen();
    }

    /// Ends pending pauses and partitions now, and waits for them.
    pub async fn shutdown(&self) {
        self.cancel.cancel();
        self.wait().await;
    }
}

/// Sends a command that kills the node; `Ok` when the connection dropped
/// (the node went), `Err(answer)` when the node answered instead.
/// A connection to `node` for one admin command (2 s to connect and to answer).
async fn admin_conn(
    addr: SocketAddr,
    topology: &Topology,
    node: &str,
) -> anyhow::Result<redis::aio::MultiplexedConnection> {
    crate::topology::conn::open(
        addr,
        &topology.auth(),
        Duration::from_secs(2),
        Duration::from_secs(2),
    )
    .await
    .with_context(|| format!("connecting to {node}"))
}

async fn send_fatal(addr: SocketAddr, auth: &Auth, args: &[&str]) -> Result<(), String> {
    let mut conn = match crate::client::connect(addr, auth).await {
        Ok(c) => c,
        Err(e) => return Err(format!("{e:#}")),
    };
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    match cmd.query_async::<redis::Value>(&mut conn).await {
        Ok(v) => Err(format!("it answered {v:?}")),
        Err(e) if classify(&e).connection_failed() => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}

/// A connection for `DEBUG SLEEP`: its reply comes only after the stall.
async fn stall_connection(
    addr: SocketAddr,
    auth: &Auth,
    d: Duration,
) -> anyhow::Result<redis::aio::MultiplexedConnection> {
    crate::client::open(
        addr,
        auth,
        crate::client::CONNECT_TIMEOUT,
        d + Duration::from_secs(5),
    )
    .await
    .with_context(|| format!("connecting to {addr}"))
}
