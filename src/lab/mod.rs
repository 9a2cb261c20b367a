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

mod audit;
mod config;
mod publish;
mod settle;

pub use audit::audit_into;
pub use config::{EndReason, LabConfig, LabTarget, RunRecord};
use publish::{poll_topology, publish, LoadState, Publisher};

use crate::audit::journal::{Journal, JournalNaming, JournalOp};
use crate::client::{Auth, MasterPool};
use crate::faults::{FaultRequest, Injector};
use crate::metrics::aggregate::Aggregator;
use crate::metrics::recorder::SampleSink;
use crate::metrics::{EventBus, EventKind, Snapshot, TopologyView};
use crate::report::model::Report;
use crate::topology::guard::{StartOptions, TopologyGuard};
use crate::topology::{Backend, Topology};
use crate::workload::engine::{Engine, EngineSetup, Workloads};
use crate::workload::grabber::KeySpace;
use crate::workload::lock::LockWorkload;
use crate::workload::redpacket::RedPacket;
use crate::workload::seckill::Seckill;
use crate::workload::WorkloadKind;
use anyhow::Context;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{watch, Mutex, Notify};
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
}
