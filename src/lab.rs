//! The lab: one running experiment. It owns the topology (started or
//! attached), the workload engine, the fault injector and the Sentinel event
//! watcher, publishes [`Snapshot`](crate::metrics::Snapshot)s and events, and
//! takes [`Control`] commands. The dashboard, the headless `load` command and
//! the scenario runner all drive a lab; none of them holds engine logic.
//!
//! Life of a lab: [`Lab::start`] (topology ready, pool connected, journal
//! open, grabbers running, snapshots flowing), any number of
//! [`Lab::control`] calls, [`Lab::wait_end`] (duration, `--until-done`, a
//! `Stop` control or the hard cap), then [`Lab::finish`]: stop the load, let
//! the topology settle, audit the journal against the master, build the
//! [`Report`], write `report.json` and `run.json` into the run directory,
//! and remove the topology if the lab started it.

use crate::audit::journal::{self, Journal, JournalNaming, JournalOp};
use crate::cli::BackendArgs;
use crate::client::{ClientMode, MasterPool};
use crate::faults::{FaultRequest, Injector, ScheduledFault};
use crate::metrics::aggregate::Aggregator;
use crate::metrics::recorder::{LockStep, OpKind, SampleBatch, SampleSink};
use crate::metrics::{EventBus, EventKind, LoadView, Role, Snapshot, TopologyView};
use crate::report::model::Report;
use crate::topology::guard::{StartOptions, TopologyGuard};
use crate::topology::{Backend, Topology, TopologySpec};
use crate::workload::engine::{Engine, EngineSetup, Workloads};
use crate::workload::grabber::{KeySpace, Workload};
use crate::workload::lock::{LockConfig, LockWorkload};
use crate::workload::redpacket::{RedPacket, RedPacketArgs};
use crate::workload::seckill::{Seckill, SeckillArgs};
use crate::workload::WorkloadKind;
use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch, Mutex, Notify};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A command to a running lab, from a key press or a scenario step.
#[derive(Clone, Debug, PartialEq)]
pub enum Control {
    Fault(FaultRequest),
    SetGrabbers(usize),
    SetWorkload(WorkloadKind),
    /// Pause (true) or resume (false) the load without stopping it.
    PauseLoad(bool),
    /// Stop the load and finish the run.
    Stop,
}

/// Snapshot period.
pub const TICK: Duration = Duration::from_millis(250);
/// Topology poll period (off the hot path).
const TOPOLOGY_POLL: Duration = Duration::from_millis(500);
/// Events carried in each snapshot.
const SNAPSHOT_EVENTS: usize = 50;

/// Where the Redis of a lab comes from.
#[derive(Clone, Debug)]
pub enum LabTarget {
    /// Start a topology (removed at the end unless `keep`).
    Start {
        backend: BackendArgs,
        spec: TopologySpec,
        keep: bool,
        /// Write the state file, so `grabstorm status/fault` see the run.
        save_state: bool,
    },
    /// The topology a running `grabstorm up` left in the state dir.
    Attach,
    /// One Redis at a fixed loopback address: no Sentinel, no faults
    /// (engine tests, `bench`).
    Fixed(SocketAddr),
}

/// Everything a lab run needs.
#[derive(Clone, Debug)]
pub struct LabConfig {
    pub target: LabTarget,
    pub state_dir: PathBuf,
    /// Run directory (journal, report.json, run.json); default
    /// `<state dir>/runs/<run id>`.
    pub out_dir: Option<PathBuf>,
    pub workload: WorkloadKind,
    pub grabbers: usize,
    pub connections: usize,
    /// Users the grabbers act for (0: one per grabber).
    pub users: u64,
    pub seed: u64,
    /// Stop after this long (None: until done, stopped, or the hard cap).
    pub duration: Option<Duration>,
    pub until_done: bool,
    /// The run never lasts longer than this.
    pub hard_cap: Duration,
    /// Pause between two steps of one grabber.
    pub think: Duration,
    pub redpacket: RedPacketArgs,
    pub seckill: SeckillArgs,
    pub locks: LockConfig,
    pub client: ClientMode,
    pub faults: Vec<ScheduledFault>,
    /// Longest wait for the topology to settle before the audit.
    pub settle_timeout: Duration,
}

impl Default for LabConfig {
    fn default() -> Self {
        LabConfig {
            target: LabTarget::Attach,
            state_dir: crate::logging::state_dir(None),
            out_dir: None,
            workload: WorkloadKind::Mixed,
            grabbers: 1000,
            connections: 16,
            users: 0,
            seed: 1,
            duration: Some(Duration::from_secs(10)),
            until_done: false,
            hard_cap: Duration::from_secs(3600),
            think: Duration::ZERO,
            redpacket: RedPacketArgs::default(),
            seckill: SeckillArgs::default(),
            locks: LockConfig::default(),
            client: ClientMode::Sentinel,
            faults: Vec::new(),
            settle_timeout: Duration::from_secs(30),
        }
    }
}

/// What `grabstorm audit DIR` needs to re-run the checks: written as
/// `run.json` next to the journal.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RunRecord {
    pub run_id: String,
    pub seed: u64,
    pub backend: String,
    pub until_done: bool,
    /// Workloads that ran.
    pub workloads: Vec<WorkloadKind>,
    pub redpacket: RedPacketArgs,
    pub seckill: SeckillArgs,
    pub locks: Option<LockConfig>,
    /// Red packets and seckill items created.
    pub packets_created: u64,
    pub items_created: u64,
    /// The Redis checked (fixed address runs).
    pub fixed_addr: Option<SocketAddr>,
}

impl RunRecord {
    /// The workloads of this record, for an audit (nothing touches Redis).
    pub fn workloads(&self) -> anyhow::Result<Workloads> {
        let ledger = Default::default();
        let rp = RedPacket::new(
            self.redpacket.clone(),
            self.seed,
            self.until_done,
            Arc::clone(&ledger),
        );
        rp.rounds.set_created(self.packets_created);
        let sk = Seckill::new(self.seckill.clone(), self.until_done, ledger);
        sk.rounds.set_created(self.items_created);
        let lock = LockWorkload::new(
            self.locks.clone().unwrap_or_default(),
            &KeySpace::new(&self.run_id),
        )
        .map_err(|e| anyhow::anyhow!("lock settings of run {}: {e}", self.run_id))?;
        Ok(Workloads {
            redpacket: rp,
            seckill: sk,
            lock,
        })
    }
}

/// Why the load ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndReason {
    Duration,
    Done,
    Stopped,
    HardCap,
}

struct Naming {
    keys: KeySpace,
    nodes: Vec<(SocketAddr, String)>,
}

impl JournalNaming for Naming {
    fn key(&self, op: JournalOp, round: u64) -> String {
        self.keys.journal_key(op, round)
    }
    fn node(&self, addr: SocketAddr) -> String {
        self.nodes
            .iter()
            .find(|(a, _)| *a == addr)
            .map(|(_, n)| n.clone())
            .unwrap_or_else(|| addr.to_string())
    }
}

/// Shared with the snapshot publisher.
struct LoadState {
    used: [AtomicBool; 3],
}

impl LoadState {
    fn mark(&self, kind: WorkloadKind) {
        match kind {
            WorkloadKind::Redpacket => self.used[0].store(true, Ordering::Relaxed),
            WorkloadKind::Seckill => self.used[1].store(true, Ordering::Relaxed),
            WorkloadKind::Lock => self.used[2].store(true, Ordering::Relaxed),
            WorkloadKind::Mixed => {
                for u in &self.used {
                    u.store(true, Ordering::Relaxed);
                }
            }
        }
    }

    fn used(&self) -> [bool; 3] {
        [0, 1, 2].map(|i| self.used[i].load(Ordering::Relaxed))
    }
}

/// A running experiment.
pub struct Lab {
    config: LabConfig,
    run_id: String,
    run_dir: PathBuf,
    backend_name: String,
    bus: EventBus,
    guard: Option<TopologyGuard>,
    backend: Option<Arc<dyn Backend>>,
    topology: Option<Arc<Mutex<Topology>>>,
    pool: MasterPool,
    journal: Option<Journal>,
    engine: Arc<Engine>,
    load: Arc<LoadState>,
    injector: Option<Injector>,
    schedule: Option<JoinHandle<Vec<crate::faults::FaultOutcome>>>,
    snapshots: watch::Receiver<Arc<Snapshot>>,
    publisher: Option<JoinHandle<Aggregator>>,
    publisher_stop: CancellationToken,
    /// Background tasks: sentinel watcher, topology poller, pool.
    background: CancellationToken,
    watcher: Option<JoinHandle<()>>,
    stop: Arc<Notify>,
    stopped: AtomicBool,
    started: Instant,
    load_ended: Option<Instant>,
    faults_injected: AtomicBool,
}

impl Lab {
    /// Starts or attaches the topology, connects, and starts the load.
    pub async fn start(config: LabConfig) -> anyhow::Result<Lab> {
        config
            .redpacket
            .validate()
            .map_err(|e| anyhow::anyhow!(e))?;
        config.seckill.validate().map_err(|e| anyhow::anyhow!(e))?;
        config
            .locks
            .validate()
            .map_err(|e| anyhow::anyhow!("lock settings: {e}"))?;
        let run_id = crate::topology::state::new_run_id();
        let background = CancellationToken::new();

        // The topology first: nothing else runs until it is ready.
        let (backend, topology, backend_name, guard) = match &config.target {
            LabTarget::Start {
                backend,
                spec,
                save_state,
                ..
            } => {
                let mut opts = StartOptions::new(&config.state_dir);
                opts.save_state = *save_state;
                let (guard, why) = crate::topology::guard::start_from_args(backend, spec, &opts)
                    .await
                    .context("starting the topology")?;
                tracing::info!("{why}");
                let t = guard.topology().clone();
                let name = t.backend.to_string();
                (Some(guard.backend()), Some(t), name, Some(guard))
            }
            LabTarget::Attach => {
                let t = crate::topology::state::load(&config.state_dir).with_context(|| {
                    format!(
                        "--attach: no running topology in {} (start one with `grabstorm up`)",
                        config.state_dir.display()
                    )
                })?;
                let (b, _) = crate::topology::select::backend_of(t.backend, &config.state_dir)
                    .await
                    .with_context(|| {
                        format!("reaching the {} backend of run {}", t.backend, t.run_id)
                    })?;
                let name = t.backend.to_string();
                (Some(b), Some(t), name, None)
            }
            LabTarget::Fixed(_) => (None, None, "standalone".to_string(), None),
        };

        // The run's clock starts now: events, samples and journal share it.
        let bus = EventBus::new();
        let pool = match (&config.target, &topology) {
            (LabTarget::Fixed(addr), _) => MasterPool::fixed(*addr, config.connections)
                .await
                .with_context(|| format!("connecting to Redis at {addr}"))?,
            (_, Some(t)) => MasterPool::for_mode(
                config.client,
                t,
                config.connections,
                bus.clone(),
                background.child_token(),
            )
            .await
            .with_context(|| format!("connecting to the master of run {}", t.run_id))?,
            _ => unreachable!("a non-fixed target always has a topology"),
        };

        let run_dir = config
            .out_dir
            .clone()
            .unwrap_or_else(|| config.state_dir.join("runs").join(&run_id));
        std::fs::create_dir_all(&run_dir)
            .with_context(|| format!("creating run directory {}", run_dir.display()))?;
        let keys = KeySpace::new(&run_id);
        let nodes = match &topology {
            Some(t) => t
                .nodes
                .iter()
                .map(|n| (n.host_addr, n.name.clone()))
                .collect(),
            None => Vec::new(),
        };
        let journal = Journal::start(
            &run_dir.join("journal.jsonl"),
            Arc::new(Naming {
                keys: keys.clone(),
                nodes,
            }),
        )?;

        let lock = LockWorkload::new(config.locks.clone(), &keys)
            .map_err(|e| anyhow::anyhow!("lock settings: {e}"))?;
        {
            // Clear the lock keys a previous run with the same id could have left.
            let mut conn = pool.current().conn(0);
            lock.prepare(&mut conn)
                .await
                .context("preparing the lock keys")?;
        }
        let workloads = Arc::new(Workloads {
            redpacket: RedPacket::new(
                config.redpacket.clone(),
                config.seed,
                config.until_done,
                journal.ledger.clone(),
            ),
            seckill: Seckill::new(
                config.seckill.clone(),
                config.until_done,
                journal.ledger.clone(),
            ),
            lock,
        });

        let (sink, samples) = SampleSink::new(bus.start());
        let engine = Arc::new(Engine::start(
            EngineSetup {
                workload: config.workload,
                grabbers: config.grabbers,
                users: config.users,
                seed: config.seed,
                until_done: config.until_done,
                think: config.think,
                keys,
                pool: pool.clone(),
                bus: bus.clone(),
                journal: journal.sender.clone(),
                sink: sink.clone(),
            },
            workloads,
        ));
        let load = Arc::new(LoadState {
            used: Default::default(),
        });
        load.mark(config.workload);
        bus.emit(
            "lab",
            EventKind::LoadChanged {
                what: format!(
                    "{} grabbers started on {} (seed {})",
                    config.grabbers, config.workload, config.seed
                ),
            },
        );

        // Off the hot path: topology polling, sentinel events, faults.
        let shared_topology = topology.clone().map(|t| Arc::new(Mutex::new(t)));
        let (topo_tx, topo_rx) = watch::channel(TopologyView::default());
        let mut watcher = None;
        let mut injector = None;
        let mut schedule = None;
        if let (Some(t), Some(shared), Some(b)) = (&topology, &shared_topology, &backend) {
            watcher = Some(crate::metrics::timeline::watch_sentinels(
                t,
                bus.clone(),
                background.child_token(),
            ));
            tokio::spawn(poll_topology(
                shared.clone(),
                b.clone(),
                topo_tx,
                background.child_token(),
            ));
            let inj = Injector::new(b.clone(), shared.clone(), bus.clone());
            if !config.faults.is_empty() {
                schedule = Some(inj.schedule(config.faults.clone()));
            }
            injector = Some(inj);
        }

        let (snap_tx, snapshots) = watch::channel(Arc::new(Snapshot {
            run_id: run_id.clone(),
            seed: config.seed,
            backend: backend_name.clone(),
            ..Default::default()
        }));
        let publisher_stop = CancellationToken::new();
        let publisher = tokio::spawn(publish(Publisher {
            samples,
            sink,
            bus: bus.clone(),
            engine: engine.clone(),
            load: load.clone(),
            topology: topo_rx,
            tx: snap_tx,
            base: Snapshot {
                run_id: run_id.clone(),
                seed: config.seed,
                backend: backend_name.clone(),
                ..Default::default()
            },
            stop: publisher_stop.clone(),
        }));

        Ok(Lab {
            config,
            run_id,
            run_dir,
            backend_name,
            bus,
            guard,
            backend,
            topology: shared_topology,
            pool,
            journal: Some(journal),
            engine,
            load,
            injector,
            schedule,
            snapshots,
            publisher: Some(publisher),
            publisher_stop,
            background,
            watcher,
            stop: Arc::new(Notify::new()),
            stopped: AtomicBool::new(false),
            started: Instant::now(),
            load_ended: None,
            faults_injected: AtomicBool::new(false),
        })
    }

    /// The snapshots, one about every 250 ms.
    pub fn snapshots(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.snapshots.clone()
    }

    pub fn bus(&self) -> EventBus {
        self.bus.clone()
    }

    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// Where the journal and the report go.
    pub fn run_dir(&self) -> &Path {
        &self.run_dir
    }

    pub fn config(&self) -> &LabConfig {
        &self.config
    }

    /// The topology of the run (None for a fixed address).
    pub async fn topology(&self) -> Option<Topology> {
        match &self.topology {
            Some(t) => Some(t.lock().await.clone()),
            None => None,
        }
    }

    /// Acts on the running lab; returns what was done, one sentence.
    pub async fn control(&self, c: Control) -> anyhow::Result<String> {
        let what = match c {
            Control::Fault(req) => {
                let inj = self.injector.as_ref().context(
                    "faults need a topology: this run talks to a single Redis at a fixed address",
                )?;
                self.faults_injected.store(true, Ordering::Relaxed);
                return inj.inject(&req).await;
            }
            Control::SetGrabbers(n) => {
                let n = self.engine.set_grabbers(n);
                format!("grabbers set to {n}")
            }
            Control::SetWorkload(k) => {
                self.load.mark(k);
                self.engine.set_workload(k);
                format!("workload set to {k}")
            }
            Control::PauseLoad(true) => {
                self.engine.set_paused(true);
                "load paused".to_string()
            }
            Control::PauseLoad(false) => {
                self.engine.set_paused(false);
                "load resumed".to_string()
            }
            Control::Stop => {
                self.stopped.store(true, Ordering::Relaxed);
                self.stop.notify_waiters();
                self.stop.notify_one();
                "stopping".to_string()
            }
        };
        self.bus
            .emit("lab", EventKind::LoadChanged { what: what.clone() });
        Ok(what)
    }

    /// Waits until the load should end: its duration, every grabber done
    /// (`--until-done`), a [`Control::Stop`], or the hard cap.
    pub async fn wait_end(&self) -> EndReason {
        if self.stopped.load(Ordering::Relaxed) {
            return EndReason::Stopped;
        }
        let cap = tokio::time::sleep_until((self.started + self.config.hard_cap).into());
        let duration = async {
            match self.config.duration {
                Some(d) => tokio::time::sleep_until((self.started + d).into()).await,
                None => std::future::pending().await,
            }
        };
        let done = async {
            if self.config.until_done {
                self.engine.done().await
            } else {
                std::future::pending().await
            }
        };
        tokio::select! {
            _ = cap => EndReason::HardCap,
            _ = duration => EndReason::Duration,
            _ = done => EndReason::Done,
            _ = self.stop.notified() => EndReason::Stopped,
        }
    }

    /// Stops the load (idempotent): grabbers joined, scheduled faults cancelled.
    pub async fn stop_load(&mut self) {
        if self.load_ended.is_some() {
            return;
        }
        self.engine.stop(Duration::from_secs(5)).await;
        self.load_ended = Some(Instant::now());
        if let Some(s) = self.schedule.take() {
            s.abort();
        }
        if let Some(inj) = &self.injector {
            inj.shutdown().await;
        }
        self.bus.emit(
            "lab",
            EventKind::LoadChanged {
                what: "load stopped".into(),
            },
        );
    }

    /// Stops the load, lets the topology settle, audits, builds and writes
    /// the report, and removes the topology if this lab started it.
    pub async fn finish(mut self) -> anyhow::Result<Report> {
        self.stop_load().await;
        let result = self.audit_and_report().await;
        // Teardown happens whatever the audit said.
        self.publisher_stop.cancel();
        self.background.cancel();
        if let Some(w) = self.watcher.take() {
            let _ = tokio::time::timeout(Duration::from_secs(2), w).await;
        }
        self.pool.close().await;
        let keep = matches!(self.config.target, LabTarget::Start { keep: true, .. });
        if let Some(guard) = self.guard.take() {
            if keep {
                guard.keep();
            } else if let Err(e) = guard.teardown().await {
                tracing::warn!("removing the topology: {e:#}");
            }
        }
        result
    }

    async fn audit_and_report(&mut self) -> anyhow::Result<Report> {
        let load_s = self
            .load_ended
            .unwrap_or_else(Instant::now)
            .duration_since(self.started)
            .as_secs_f64();
        let faults = self.faults_injected.load(Ordering::Relaxed)
            || !self.config.faults.is_empty()
            || self
                .bus
                .all()
                .iter()
                .any(|e| matches!(e.kind, EventKind::FaultInjected { .. }));
        let master = self.settle(faults).await?;

        self.publisher_stop.cancel();
        let agg = match self.publisher.take() {
            Some(p) => p.await.context("the snapshot publisher failed")?,
            None => Aggregator::new(),
        };
        let journal = self.journal.take().context("journal already closed")?;
        let journal_path = journal.path.clone();
        // The writer only has the queue left to write: bounded by the disk.
        let give_up = CancellationToken::new();
        let timer = give_up.clone();
        let timeout = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(60)).await;
            timer.cancel();
        });
        let lines = journal
            .close(give_up)
            .await
            .context("closing the journal")?;
        timeout.abort();
        tracing::info!(lines, journal = %journal_path.display(), "journal closed");

        let w = self.engine.workloads().clone();
        let record = RunRecord {
            run_id: self.run_id.clone(),
            seed: self.config.seed,
            backend: self.backend_name.clone(),
            until_done: self.config.until_done,
            workloads: self.used_kinds(),
            redpacket: self.config.redpacket.clone(),
            seckill: self.config.seckill.clone(),
            locks: Some(self.config.locks.clone()),
            packets_created: w.redpacket.rounds.created(),
            items_created: w.seckill.rounds.created(),
            fixed_addr: match self.config.target {
                LabTarget::Fixed(a) => Some(a),
                _ => None,
            },
        };
        write_json(&self.run_dir.join("run.json"), &record)?;

        let mut report = Report {
            run_id: self.run_id.clone(),
            seed: self.config.seed,
            backend: self.backend_name.clone(),
            workload: self.config.workload,
            client: match self.config.target {
                LabTarget::Fixed(_) => "fixed".into(),
                _ => self.config.client.to_string(),
            },
            duration_s: load_s,
            grabbers: self.engine.grabbers(),
            connections: self.config.connections,
            ops: agg.op_reports(load_s),
            errors: agg.errors(),
            throughput: agg.throughput().to_vec(),
            latency: agg.total_latency(),
            latency_buckets: agg.total_buckets(),
            ..Default::default()
        };
        let node = self.node_name(master).await;
        let records = journal::read(&journal_path)?;
        audit_into(&record, &w, master, &node, &records, &mut report).await?;
        for (kind, l) in report.locks.iter_mut() {
            l.wait = agg.op_summary(OpKind::Lock(*kind, LockStep::Wait));
            l.hold = agg.op_summary(OpKind::Lock(*kind, LockStep::Hold));
        }
        report.events = self.bus.all();
        if let Some(t) = self.topology().await {
            let lost = crate::metrics::timeline::LostAckedWrites {
                total: report.audit.lost_acked_writes,
                at_ms: report.audit.lost.iter().map(|r| r.at_ms).collect(),
            };
            report.failovers =
                crate::metrics::timeline::failovers(&report.events, &report.throughput, &t, &lost);
        }
        report.judge();
        write_json(&self.run_dir.join("report.json"), &report)?;
        Ok(report)
    }

    fn used_kinds(&self) -> Vec<WorkloadKind> {
        let used = self.load.used();
        [
            WorkloadKind::Redpacket,
            WorkloadKind::Seckill,
            WorkloadKind::Lock,
        ]
        .into_iter()
        .zip(used)
        .filter(|(_, u)| *u)
        .map(|(k, _)| k)
        .collect()
    }

    async fn node_name(&self, addr: SocketAddr) -> String {
        match self.topology().await {
            Some(t) => t
                .nodes
                .iter()
                .find(|n| n.host_addr == addr)
                .map(|n| n.name.clone())
                .unwrap_or_else(|| addr.to_string()),
            None => addr.to_string(),
        }
    }

    /// Waits (after faults) until the topology agrees on one master, and
    /// returns the master to audit against.
    async fn settle(&self, faults: bool) -> anyhow::Result<SocketAddr> {
        let (Some(shared), LabTarget::Start { .. } | LabTarget::Attach) =
            (&self.topology, &self.config.target)
        else {
            return Ok(self.pool.current().master);
        };
        let deadline = Instant::now() + self.config.settle_timeout;
        let mut stable = 0;
        let mut last = None;
        let mut observer = crate::topology::live::Observer::new();
        loop {
            let t = shared.lock().await.clone();
            let view = observer
                .observe(&t, self.backend.as_ref().map(|b| b.as_ref()))
                .await;
            let agreed = settled_master(&view);
            if agreed.is_some() && agreed == last {
                stable += 1;
            } else {
                stable = 0;
            }
            last = agreed.clone();
            if stable >= 2 || (!faults && agreed.is_some()) {
                let name = agreed.expect("settled has a master");
                self.bus.emit(
                    "lab",
                    EventKind::Note {
                        text: format!(
                            "topology settled: {name} is the master; auditing against it"
                        ),
                    },
                );
                return t
                    .node(&name)
                    .map(|n| n.host_addr)
                    .with_context(|| format!("the settled master {name} is not in the topology"));
            }
            if Instant::now() >= deadline {
                // Audit against whoever the sentinels name, or the pool's master.
                let fallback = view
                    .nodes
                    .iter()
                    .find(|n| n.role == Role::Master && n.health == crate::metrics::Health::Up)
                    .and_then(|n| t.node(&n.name))
                    .map(|n| n.host_addr)
                    .unwrap_or(self.pool.current().master);
                self.bus.emit(
                    "lab",
                    EventKind::Note {
                        text: format!(
                            "topology did not settle within {:?}; auditing against {fallback}",
                            self.config.settle_timeout
                        ),
                    },
                );
                return Ok(fallback);
            }
            tokio::time::sleep(TOPOLOGY_POLL).await;
        }
    }
}

/// The master everybody agrees on: every sentinel that answers names it,
/// it is up and a master, and no other live Redis node claims to be master.
fn settled_master(view: &TopologyView) -> Option<String> {
    let masters: Vec<&str> = view
        .nodes
        .iter()
        .filter(|n| n.role == Role::Master && n.health == crate::metrics::Health::Up)
        .map(|n| n.name.as_str())
        .collect();
    if masters.len() != 1 || view.failover_in_progress {
        return None;
    }
    let m = masters[0];
    let sentinels_agree = view
        .nodes
        .iter()
        .filter(|n| n.role == Role::Sentinel && n.health == crate::metrics::Health::Up)
        .all(|n| n.sentinel_master.as_deref() == Some(m));
    sentinels_agree.then(|| m.to_string())
}

/// Audits `records` against the Redis at `master` for every workload of
/// `record`, filling `report` (workload sections, audit summary).
pub async fn audit_into(
    record: &RunRecord,
    w: &Workloads,
    master: SocketAddr,
    node: &str,
    records: &[journal::JournalRecord],
    report: &mut Report,
) -> anyhow::Result<()> {
    let mut conn = crate::client::connect(master)
        .await
        .with_context(|| format!("connecting to {node} ({master}) for the audit"))?;
    report.run_id = record.run_id.clone();
    let mut lost = Vec::new();
    for kind in &record.workloads {
        match kind {
            WorkloadKind::Redpacket => {
                w.redpacket
                    .audit(&mut conn, records, report, &mut lost)
                    .await
                    .with_context(|| format!("auditing red packets on {node}"))?;
            }
            WorkloadKind::Seckill => {
                w.seckill
                    .audit(&mut conn, records, report, &mut lost)
                    .await
                    .with_context(|| format!("auditing seckill on {node}"))?;
            }
            WorkloadKind::Lock => {
                w.lock
                    .audit(&mut conn, records, report, &mut lost)
                    .await
                    .with_context(|| format!("auditing locks on {node}"))?;
            }
            WorkloadKind::Mixed => {}
        }
    }
    lost.sort_by_key(|r| r.at_ms);
    report.audit.journal_lines = records.len() as u64;
    report.audit.checked_node = node.to_string();
    report.audit.lost_acked_writes = lost.len() as u64;
    lost.truncate(1000);
    report.audit.lost = lost;
    report.judge();
    Ok(())
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value).expect("serialises");
    std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))
}

/// Publishes the live topology every [`TOPOLOGY_POLL`] until cancelled, over
/// one [`Observer`](crate::topology::live::Observer) for the life of the lab:
/// its connections to the nodes are kept between polls, so polling adds no
/// connects to the nodes' stats while the cluster is steady.
async fn poll_topology(
    topology: Arc<Mutex<Topology>>,
    backend: Arc<dyn Backend>,
    tx: watch::Sender<TopologyView>,
    cancel: CancellationToken,
) {
    let mut observer = crate::topology::live::Observer::new();
    loop {
        // A fresh clone each poll: a restart may have changed the nodes.
        let t = topology.lock().await.clone();
        let view = tokio::select! {
            v = observer.observe(&t, Some(backend.as_ref())) => v,
            _ = cancel.cancelled() => return,
        };
        tx.send_replace(view);
        tokio::select! {
            _ = tokio::time::sleep(TOPOLOGY_POLL) => {}
            _ = cancel.cancelled() => return,
        }
    }
}

struct Publisher {
    samples: mpsc::UnboundedReceiver<SampleBatch>,
    sink: SampleSink,
    bus: EventBus,
    engine: Arc<Engine>,
    load: Arc<LoadState>,
    topology: watch::Receiver<TopologyView>,
    tx: watch::Sender<Arc<Snapshot>>,
    base: Snapshot,
    stop: CancellationToken,
}

/// Merges samples and publishes a snapshot every [`TICK`]; returns the
/// aggregator (with every sample) when stopped.
async fn publish(mut p: Publisher) -> Aggregator {
    let mut agg = Aggregator::new();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let stopping = tokio::select! {
            _ = tick.tick() => false,
            _ = p.stop.cancelled() => true,
        };
        p.sink.advance_tick();
        while let Ok(batch) = p.samples.try_recv() {
            agg.absorb(&batch);
        }
        agg.tick(&p.bus);
        let mut snap = p.base.clone();
        snap.elapsed_ms = p.bus.now_ms();
        snap.load = LoadView {
            workload: p.engine.workload(),
            grabbers: p.engine.grabbers(),
            paused: p.engine.paused(),
            done: p.engine.is_done(),
        };
        agg.fill_snapshot(&mut snap);
        let used = p.load.used();
        let w = p.engine.workloads();
        if used[0] {
            w.redpacket.fill_snapshot(&mut snap);
        }
        if used[1] {
            w.seckill.fill_snapshot(&mut snap);
        }
        if used[2] {
            w.lock.fill_snapshot(&mut snap);
        }
        agg.fill_lock_timings(&mut snap);
        snap.topology = p.topology.borrow().clone();
        snap.events = p.bus.recent(SNAPSHOT_EVENTS);
        p.tx.send_replace(Arc::new(snap));
        if stopping {
            break;
        }
    }
    // Samples of grabbers that ended after the last tick.
    while let Ok(batch) = p.samples.try_recv() {
        agg.absorb(&batch);
    }
    agg.tick(&p.bus);
    agg
}
