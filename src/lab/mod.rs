//! The lab: one running experiment. It owns the topology (started or
//! attached), the workload engine, the fault injector and the Sentinel event
//! watcher, publishes [`Snapshot`](crate::metrics::Snapshot)s and events, and
//! takes [`Control`] commands. The dashboard, the headless `load` command and
//! the scenario runner all drive a lab; none of them holds engine logic.
//!
//! Life of a lab: [`Lab::start`] (topology ready, pool connected, journal
//! open, grabbers running, snapshots flowing), any number of
//! [`Lab::control`] calls, [`Lab::wait_end`] (duration, `--until-done`, a
//! `Stop` control, a stop signal or the hard cap), then [`Lab::finish`]:
//! stop the load, let the topology settle, audit the journal against the
//! master (unless a second signal skips it), build the [`Report`], write
//! `report.json`, `report.md`, `throughput.csv`, `latency.hlog` and
//! `run.json` into the run directory, publish the last snapshot (with what
//! only the end measures), join every task and remove the topology if the
//! lab started it. With `--metrics`, the lab binds its endpoint before
//! the topology starts and serves its snapshots until the topology is
//! removed.
//!
//! The lab is the one owner of its tasks: everything it spawns (topology
//! poll, sentinel watcher, snapshot publisher, fault schedule, controls in
//! flight) runs on one [`TaskTracker`] under one root
//! [`CancellationToken`]. Controls take one path: a [`LabHandle`] (cheap to
//! clone, for a dashboard's key presses or a scenario's steps) sends them
//! over a channel to the lab, which runs each as one of its tasks.
//!
//! The run's duration counts in the lab's [`RunClock`], which runs with the
//! wall clock unless lesson mode stops it (`Control::PauseClock`), jumps it
//! to the next step (`Control::NextStep`) or holds it at a step.

mod audit;
mod clock;
mod config;
mod control;
mod publish;
mod roles;
mod settle;

pub use audit::{audit_into, AuditSource};
pub use clock::{ClockReading, RunClock, StepRequests};
pub use config::{EndReason, LabConfig, LabTarget, RunRecord};
use control::{serve_controls, Controller};
pub use control::{Control, LabHandle};
use publish::{poll_topology, publish, LoadState, Publisher};

use crate::audit::journal::{Journal, JournalNaming, JournalOp};
use crate::client::{Auth, MasterPool};
use crate::faults::Injector;
use crate::metrics::aggregate::Aggregator;
use crate::metrics::recorder::SampleSink;
use crate::metrics::{EventBus, EventKind, Snapshot, TopologyView};
use crate::report::endpoint::MetricsEndpoint;
use crate::report::model::Report;
use crate::topology::guard::{StartOptions, TopologyGuard};
use crate::topology::{Backend, BackendKind, Topology};
use crate::workload::engine::{Engine, EngineSetup, Workloads};
use crate::workload::grabber::KeySpace;
use crate::workload::lock::LockWorkload;
use crate::workload::redpacket::RedPacket;
use crate::workload::seckill::Seckill;
use anyhow::Context;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::{mpsc, watch, Mutex};
use tokio::task::{AbortHandle, JoinHandle};
use tokio_util::sync::{CancellationToken, DropGuard};
use tokio_util::task::TaskTracker;

/// Snapshot period.
pub const TICK: Duration = Duration::from_millis(250);
/// Topology poll period (off the hot path).
const TOPOLOGY_POLL: Duration = Duration::from_millis(500);
/// Events carried in each snapshot.
const SNAPSHOT_EVENTS: usize = 50;
/// How long `finish` waits for the lab's tasks (a control still injecting
/// a fault is the slowest) before it goes on with the teardown.
const TASKS_JOIN_TIMEOUT: Duration = Duration::from_secs(60);

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

/// A running experiment.
pub struct Lab {
    config: LabConfig,
    run_id: String,
    run_dir: PathBuf,
    /// Keeps the run directory from being pruned while the lab lives.
    _live: crate::report::runs::LiveRun,
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
    /// The fault schedule (a task of `tasks`), aborted when the load stops.
    schedule: Option<AbortHandle>,
    controls: LabHandle,
    snapshots: watch::Receiver<Arc<Snapshot>>,
    publisher: Option<JoinHandle<(Aggregator, watch::Sender<Arc<Snapshot>>)>>,
    /// Stops the publisher before the audit (a child of `cancel`).
    publisher_stop: CancellationToken,
    /// The root of every task's cancellation, cancelled by `finish`.
    cancel: CancellationToken,
    /// Every task the lab spawns; `finish` joins them all.
    tasks: TaskTracker,
    /// The load should end: a `Stop` control, or the first stop signal
    /// (a child of the shutdown's token).
    stop: CancellationToken,
    started: Instant,
    /// The run's clock when the load started: the duration counts from
    /// here, in clock time (the clock itself starts with the bus, before
    /// the connections and the journal are ready).
    started_on_clock: Duration,
    load_ended: Option<Instant>,
    /// Every topology poll's roles and offsets, for the audit's facts.
    roles: roles::RoleLog,
    faults_injected: Arc<AtomicBool>,
    /// The scenario clock: the run's duration and a scenario's steps count in it.
    clock: RunClock,
    steps: StepRequests,
    /// When the run's clock started, on the wall clock (the report's
    /// `meta.started_at`, latency.hlog's base time).
    started_at: SystemTime,
    /// What a node said of its version when the run started.
    redis_version: Option<String>,
    /// The `--metrics` endpoint: stopped (dropping the guard cancels it)
    /// and joined at the very end of `finish`, so a scrape during the audit
    /// and the teardown reads the run's final values.
    metrics: Option<(DropGuard, JoinHandle<()>)>,
    /// Where the `--metrics` endpoint listens.
    metrics_addr: Option<SocketAddr>,
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
        // Bound first: a taken port is refused before anything starts.
        let endpoint = match config.metrics {
            Some(addr) => Some(MetricsEndpoint::bind(addr).await.with_context(|| {
                format!("--metrics {addr}: cannot listen there (is another run using the port?)")
            })?),
            None => None,
        };
        let run_id = crate::topology::state::new_run_id();
        let cancel = CancellationToken::new();
        let tasks = TaskTracker::new();

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
                opts.shutdown = config.shutdown.clone();
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
            LabTarget::External(target) => {
                let t = crate::topology::external::discover(target)
                    .await
                    .context("attaching to the topology")?;
                let b: Arc<dyn Backend> = Arc::new(crate::topology::external::ExternalBackend);
                (Some(b), Some(t), BackendKind::External.to_string(), None)
            }
            LabTarget::Fixed(_) => (None, None, "standalone".to_string(), None),
        };

        // The run's clock starts now: events, samples and journal share it.
        let bus = EventBus::new();
        let clock = RunClock::starting_at(bus.start());
        let steps = StepRequests::default();
        let started_at = SystemTime::now();
        let pool = match (&config.target, &topology) {
            (LabTarget::Fixed(addr), _) => {
                MasterPool::fixed(*addr, &Auth::none(), config.connections)
                    .await
                    .with_context(|| format!("connecting to Redis at {addr}"))?
            }
            (_, Some(t)) => MasterPool::for_mode(
                config.client,
                t,
                config.connections,
                bus.clone(),
                cancel.child_token(),
            )
            .await
            .with_context(|| format!("connecting to the master of run {}", t.run_id))?,
            _ => unreachable!("a non-fixed target always has a topology"),
        };
        let redis_version = match (&config.target, &topology) {
            (LabTarget::Fixed(addr), _) => {
                crate::topology::admin::server::redis_version(*addr, &Auth::none()).await
            }
            (_, Some(t)) => {
                let mut version = None;
                for n in t.redis_nodes() {
                    version =
                        crate::topology::admin::server::redis_version(n.host_addr, &t.auth()).await;
                    if version.is_some() {
                        break;
                    }
                }
                version
            }
            _ => None,
        };

        let run_dir = config
            .out_dir
            .clone()
            .unwrap_or_else(|| config.state_dir.join("runs").join(&run_id));
        std::fs::create_dir_all(&run_dir)
            .with_context(|| format!("creating run directory {}", run_dir.display()))?;
        let live = crate::report::runs::begin(&config.state_dir, &run_dir)
            .with_context(|| format!("opening run directory {}", run_dir.display()))?;
        // Hash tags: on by default on a cluster (each script's keys in one
        // slot), off elsewhere (Sentinel mode's key names stay as they were).
        let on_cluster = topology.as_ref().is_some_and(|t| t.spec.is_cluster());
        let keys = KeySpace::of(
            config.key_prefix.as_deref().unwrap_or_default(),
            &run_id,
            config.hash_tags.unwrap_or(on_cluster),
        );
        let nodes = match &topology {
            Some(t) => t
                .nodes
                .iter()
                .map(|n| (n.host_addr, n.name.clone()))
                .collect(),
            None => Vec::new(),
        };
        let journal = Journal::start(
            &crate::audit::journal::in_dir(&run_dir),
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
        let roles = roles::RoleLog::default();
        let mut injector = None;
        let mut schedule = None;
        if let (Some(t), Some(shared), Some(b)) = (&topology, &shared_topology, &backend) {
            // The watcher spawns itself; the lab joins it like its own tasks.
            tasks.spawn(if t.spec.is_cluster() {
                crate::client::cluster_watcher::watch_cluster(t, bus.clone(), cancel.child_token())
            } else {
                crate::client::watcher::watch_sentinels(t, bus.clone(), cancel.child_token())
            });
            tasks.spawn(poll_topology(
                shared.clone(),
                b.clone(),
                topo_tx,
                roles.clone(),
                bus.clone(),
                cancel.child_token(),
            ));
            let counted = pool.clone();
            let mut inj = Injector::new(b.clone(), shared.clone(), bus.clone())
                .counting_redirects(Arc::new(move || counted.redirects()));
            // The state file names this run: a scale step keeps it up to date.
            let keeps_state = match &config.target {
                LabTarget::Start { save_state, .. } => *save_state,
                LabTarget::Attach => true,
                LabTarget::External(_) | LabTarget::Fixed(_) => false,
            };
            if keeps_state {
                inj = inj.saving_state(config.state_dir.clone());
            }
            if !config.faults.is_empty() {
                let handle = inj.schedule(config.faults.clone());
                schedule = Some(handle.abort_handle());
                tasks.spawn(handle);
            }
            injector = Some(inj);
        }

        let (snap_tx, snapshots) = watch::channel(Arc::new(Snapshot {
            run_id: run_id.clone(),
            seed: config.seed,
            backend: backend_name.clone(),
            ..Default::default()
        }));
        let publisher_stop = cancel.child_token();
        let publisher = tasks.spawn(publish(Publisher {
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
            pool: pool.clone(),
            clock: clock.clone(),
        }));

        let metrics_addr = match &endpoint {
            Some(e) => Some(e.local_addr().context("the --metrics listener")?),
            None => None,
        };
        let metrics = match (endpoint, metrics_addr) {
            (Some(endpoint), Some(at)) => {
                bus.emit(
                    "lab",
                    EventKind::Note {
                        text: format!("metrics served at http://{at}/metrics"),
                    },
                );
                let stop = CancellationToken::new();
                let task = tokio::spawn(endpoint.serve(snapshots.clone(), stop.clone()));
                Some((stop.drop_guard(), task))
            }
            _ => None,
        };

        let stop = config.shutdown.token().child_token();
        let faults_injected = Arc::new(AtomicBool::new(false));
        let (control_tx, control_rx) = mpsc::channel(64);
        tasks.spawn(serve_controls(
            Arc::new(Controller {
                engine: engine.clone(),
                load: load.clone(),
                injector: injector.clone(),
                bus: bus.clone(),
                stop: stop.clone(),
                faults_injected: faults_injected.clone(),
                clock: clock.clone(),
                steps: steps.clone(),
            }),
            control_rx,
            tasks.clone(),
            cancel.child_token(),
        ));

        Ok(Lab {
            config,
            run_id,
            run_dir,
            _live: live,
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
            controls: LabHandle { tx: control_tx },
            snapshots,
            publisher: Some(publisher),
            publisher_stop,
            cancel,
            tasks,
            stop,
            started: Instant::now(),
            started_on_clock: clock.now(),
            load_ended: None,
            roles,
            faults_injected,
            clock,
            steps,
            started_at,
            redis_version,
            metrics,
            metrics_addr,
        })
    }

    /// The scenario clock (wall time unless a teacher stopped or jumped it).
    pub fn clock(&self) -> RunClock {
        self.clock.clone()
    }

    /// Where `n` ([`Control::NextStep`]) arrives, for the scenario that
    /// plays on this lab; from this call on the lab accepts the requests.
    pub fn step_requests(&self) -> StepRequests {
        self.steps.listen();
        self.steps.clone()
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

    /// Where `--metrics` serves the run's OpenMetrics text (None: not asked).
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    pub fn config(&self) -> &LabConfig {
        &self.config
    }

    /// An attached lab takes the nodes another process added or removed
    /// meanwhile (`grabstorm scale` writes them to the state file), so that
    /// the settling and the audit read every node there is now. Nodes it
    /// knows keep what it recorded of them (a restart's new handle).
    pub(crate) async fn follow_attached_membership(&self) {
        let (Some(shared), LabTarget::Attach) = (&self.topology, &self.config.target) else {
            return;
        };
        let Ok(now) = crate::topology::state::load(&self.config.state_dir) else {
            return;
        };
        let mut t = shared.lock().await;
        if now.run_id != t.run_id {
            return;
        }
        t.follow_membership(&now);
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
        self.controls.control(c).await
    }

    /// Where others (a dashboard, a scenario's steps) send controls.
    pub fn handle(&self) -> LabHandle {
        self.controls.clone()
    }

    /// Resolves once the load was asked to stop ([`Control::Stop`] or a
    /// stop signal).
    pub async fn stop_requested(&self) {
        self.stop.cancelled().await
    }

    /// Waits until the load should end: its duration, every grabber done
    /// (`--until-done`), a [`Control::Stop`] or a stop signal, or the hard cap.
    pub async fn wait_end(&self) -> EndReason {
        if self.stop.is_cancelled() {
            return EndReason::Stopped;
        }
        let cap = tokio::time::sleep_until((self.started + self.config.hard_cap).into());
        // In clock time: a lesson paused by its teacher lasts that much longer.
        let duration = async {
            match self.config.duration {
                Some(d) => self.clock.sleep_until(self.started_on_clock + d).await,
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
            _ = self.stop.cancelled() => EndReason::Stopped,
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

    /// Runs one step of the audit unless a second stop signal asks to skip
    /// it (then `None`, at once, whether it came before or during the step).
    pub(super) async fn unless_audit_skipped<T>(&self, step: impl Future<Output = T>) -> Option<T> {
        tokio::select! {
            biased;
            _ = self.config.shutdown.skip_audit_requested() => None,
            r = step => Some(r),
        }
    }

    /// Stops the load, lets the topology settle, audits (unless a second
    /// signal skips it), builds and writes the report, joins every task of
    /// the lab, and removes the topology if this lab started it.
    pub async fn finish(mut self) -> anyhow::Result<Report> {
        self.stop_load().await;
        let result = self.audit_and_report().await;
        // Teardown happens whatever the audit said.
        self.cancel.cancel();
        self.tasks.close();
        if tokio::time::timeout(TASKS_JOIN_TIMEOUT, self.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                "{} task(s) of the lab still ran {TASKS_JOIN_TIMEOUT:?} after it finished",
                self.tasks.len()
            );
        }
        self.pool.close().await;
        let keep = matches!(self.config.target, LabTarget::Start { keep: true, .. });
        if let Some(mut guard) = self.guard.take() {
            // Restarts and scale steps changed the record: the teardown
            // removes what there is now.
            if let Some(shared) = &self.topology {
                guard.follow(&*shared.lock().await);
            }
            if keep {
                guard.keep();
            } else if let Err(e) = guard.teardown().await {
                tracing::warn!("removing the topology: {e:#}");
            }
        }
        if let Some((stop, task)) = self.metrics.take() {
            drop(stop);
            let _ = task.await;
        }
        result
    }
}
