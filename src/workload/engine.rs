//! The engine: spawns the grabber tasks, keeps them to the requested count,
//! switches their workload, pauses and resumes them, and stops them.
//!
//! Grabbers are tokio tasks sharing one [`MasterPool`] of multiplexed
//! connections. Each has a child [`CancellationToken`] of the run's token
//! (so one grabber can be removed when the count shrinks) and is tracked by
//! a [`TaskTracker`], so [`Engine::stop`] joins every one of them. Control
//! state (paused, workload) is read with one relaxed atomic load per step.

use super::grabber::{GrabberCtx, GrabberSetup, KeySpace, Step, Workload};
use super::redpacket::{RedPacket, RedPacketGrabber};
use super::rounds::grabber_rng;
use super::seckill::{Seckill, SeckillGrabber};
use super::WorkloadKind;
use crate::audit::journal::JournalSender;
use crate::client::MasterPool;
use crate::metrics::recorder::SampleSink;
use crate::metrics::{EventBus, EventKind};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The most grabbers one engine runs (flags, scenarios and the dashboard
/// refuse more before they get here).
pub const MAX_GRABBERS: usize = crate::limits::GRABBERS.max as usize;

/// Redis calls in flight at once over all grabbers of an engine: enough to
/// keep every connection's pipeline busy, few enough that a call never
/// waits in a pipeline long enough to hit the client's response timeout.
pub const MAX_INFLIGHT: usize = 2048;

/// The workloads of one run, all built up front so the kind can switch live.
pub struct Workloads {
    pub redpacket: RedPacket,
    pub seckill: Seckill,
    pub lock: super::lock::LockWorkload,
}

impl Workloads {
    /// The workload grabber `id` runs under `kind` (`mixed` splits by id).
    pub fn assigned(kind: WorkloadKind, id: usize) -> WorkloadKind {
        match kind {
            WorkloadKind::Mixed => match id % 3 {
                0 => WorkloadKind::Redpacket,
                1 => WorkloadKind::Seckill,
                _ => WorkloadKind::Lock,
            },
            k => k,
        }
    }
}

fn kind_code(k: WorkloadKind) -> u8 {
    WorkloadKind::ALL.iter().position(|x| *x == k).unwrap_or(0) as u8
}

/// What the engine needs besides the workloads.
pub struct EngineSetup {
    pub workload: WorkloadKind,
    pub grabbers: usize,
    /// Users the grabbers act for: 0 means one user per grabber.
    pub users: u64,
    pub seed: u64,
    pub until_done: bool,
    /// Pause between two steps of one grabber.
    pub think: Duration,
    pub keys: KeySpace,
    pub pool: MasterPool,
    pub bus: EventBus,
    pub journal: JournalSender,
    pub sink: SampleSink,
}

struct Shared {
    workloads: Arc<Workloads>,
    kind: AtomicU8,
    paused: AtomicBool,
    paused_rx: watch::Receiver<bool>,
    users: u64,
    seed: u64,
    until_done: bool,
    think: Duration,
    keys: KeySpace,
    pool: MasterPool,
    bus: EventBus,
    journal: JournalSender,
    sink: SampleSink,
    /// Grabbers not yet finished; at 0 the run is done.
    running: AtomicUsize,
    done_tx: watch::Sender<bool>,
    inflight: Arc<tokio::sync::Semaphore>,
}

/// A running set of grabbers.
pub struct Engine {
    shared: Arc<Shared>,
    cancel: CancellationToken,
    tracker: TaskTracker,
    /// One token per live grabber id.
    grabbers: Mutex<Vec<CancellationToken>>,
    paused_tx: watch::Sender<bool>,
    done_rx: watch::Receiver<bool>,
}

impl Engine {
    /// Spawns `setup.grabbers` grabbers.
    pub fn start(setup: EngineSetup, workloads: Arc<Workloads>) -> Engine {
        let (paused_tx, paused_rx) = watch::channel(false);
        let (done_tx, done_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            workloads,
            kind: AtomicU8::new(kind_code(setup.workload)),
            paused: AtomicBool::new(false),
            paused_rx,
            users: setup.users,
            seed: setup.seed,
            until_done: setup.until_done,
            think: setup.think,
            keys: setup.keys,
            pool: setup.pool,
            bus: setup.bus,
            journal: setup.journal,
            sink: setup.sink,
            running: AtomicUsize::new(0),
            done_tx,
            inflight: Arc::new(tokio::sync::Semaphore::new(MAX_INFLIGHT)),
        });
        let engine = Engine {
            shared,
            cancel: CancellationToken::new(),
            tracker: TaskTracker::new(),
            grabbers: Mutex::new(Vec::new()),
            paused_tx,
            done_rx,
        };
        engine.set_grabbers(setup.grabbers);
        engine
    }

    /// Grows or shrinks the grabbers to `n` (capped at [`MAX_GRABBERS`]); returns the new count.
    pub fn set_grabbers(&self, n: usize) -> usize {
        let n = n.min(MAX_GRABBERS);
        let mut g = self.grabbers.lock().unwrap_or_else(|e| e.into_inner());
        while g.len() > n {
            if let Some(t) = g.pop() {
                t.cancel();
            }
        }
        // Count them all as running before any starts: a fast first
        // grabber must not find the count at zero and end the run.
        if g.len() < n {
            self.shared.running.fetch_add(n - g.len(), Ordering::AcqRel);
        }
        while g.len() < n {
            let id = g.len();
            let token = self.cancel.child_token();
            g.push(token.clone());
            let shared = self.shared.clone();
            self.tracker.spawn(grabber_task(shared, id, token));
        }
        n
    }

    pub fn grabbers(&self) -> usize {
        self.grabbers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    pub fn set_workload(&self, kind: WorkloadKind) {
        self.shared.kind.store(kind_code(kind), Ordering::Relaxed);
    }

    pub fn workload(&self) -> WorkloadKind {
        WorkloadKind::ALL[self.shared.kind.load(Ordering::Relaxed) as usize]
    }

    pub fn set_paused(&self, paused: bool) {
        self.shared.paused.store(paused, Ordering::Relaxed);
        let _ = self.paused_tx.send(paused);
    }

    pub fn paused(&self) -> bool {
        self.shared.paused.load(Ordering::Relaxed)
    }

    pub fn workloads(&self) -> &Arc<Workloads> {
        &self.shared.workloads
    }

    /// The run's key names.
    pub fn keys(&self) -> &KeySpace {
        &self.shared.keys
    }

    /// True once every grabber finished (`--until-done`).
    pub fn is_done(&self) -> bool {
        *self.done_rx.borrow()
    }

    /// Whether [`Engine::stop`] ran and every grabber has ended (each
    /// handed its last samples over as it ended).
    pub fn stopped(&self) -> bool {
        self.tracker.is_closed() && self.tracker.is_empty()
    }

    /// Resolves when every grabber has finished its work.
    pub async fn done(&self) {
        let mut rx = self.done_rx.clone();
        let _ = rx.wait_for(|d| *d).await;
    }

    /// Stops every grabber and waits for all of them (at most `grace`;
    /// a grabber stuck past it is left to its operation timeout).
    pub async fn stop(&self, grace: Duration) {
        self.cancel.cancel();
        self.tracker.close();
        if tokio::time::timeout(grace, self.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                left = self.tracker.len(),
                "grabbers still running after the stop grace period"
            );
        }
    }
}

async fn grabber_task(shared: Arc<Shared>, id: usize, cancel: CancellationToken) {
    let user = if shared.users > 0 {
        id as u64 % shared.users
    } else {
        id as u64
    };
    let mut ctx = GrabberCtx::new(GrabberSetup {
        id,
        user,
        rng: grabber_rng(shared.seed, id as u64),
        seed: shared.seed,
        keys: shared.keys.clone(),
        cancel,
        bus: shared.bus.clone(),
        until_done: shared.until_done,
        pool: shared.pool.clone(),
        recorder: shared.sink.recorder(),
        journal: shared.journal.clone(),
    })
    .with_inflight_limit(shared.inflight.clone());
    let w = shared.workloads.clone();
    let mut rp: Option<RedPacketGrabber> = None;
    let mut sk: Option<SeckillGrabber> = None;
    let mut lk: Option<<super::lock::LockWorkload as Workload>::Grabber> = None;
    let mut paused_rx = shared.paused_rx.clone();
    // Whether some workload of this grabber ran out of work.
    let mut finished = false;
    loop {
        if ctx.cancel.is_cancelled() {
            break;
        }
        if shared.paused.load(Ordering::Relaxed) {
            ctx.flush_metrics();
            tokio::select! {
                _ = paused_rx.wait_for(|p| !*p) => {}
                _ = ctx.cancel.cancelled() => break,
            }
            continue;
        }
        if !ctx.reserve_call().await {
            break;
        }
        let kind = Workloads::assigned(
            WorkloadKind::ALL[shared.kind.load(Ordering::Relaxed) as usize],
            id,
        );
        let step = match kind {
            WorkloadKind::Redpacket | WorkloadKind::Mixed => {
                let me = rp.get_or_insert_with(|| w.redpacket.new_grabber(&ctx));
                // Boxed: a task is as large as its largest future, and at
                // 100,000 grabbers every byte counts 100,000 times. The box
                // (one allocation per step, beside the several the Redis
                // client makes per call) exists only while the step runs,
                // i.e. for the grabbers holding a call slot; the queued
                // rest wait above in `reserve_call`, holding nothing.
                Box::pin(w.redpacket.step(&mut ctx, me)).await
            }
            WorkloadKind::Seckill => {
                let me = sk.get_or_insert_with(|| w.seckill.new_grabber(&ctx));
                Box::pin(w.seckill.step(&mut ctx, me)).await
            }
            WorkloadKind::Lock => {
                let me = lk.get_or_insert_with(|| w.lock.new_grabber(&ctx));
                Box::pin(w.lock.step(&mut ctx, me)).await
            }
        };
        if step == Step::Done {
            finished = true;
            if shared.until_done {
                break;
            }
            // Nothing left in this workload: idle until it changes or the run ends.
            if !ctx.sleep(Duration::from_millis(100)).await {
                break;
            }
        } else if !shared.think.is_zero() && !ctx.sleep(shared.think).await {
            break;
        }
    }
    ctx.flush_metrics();
    drop(ctx);
    if shared.running.fetch_sub(1, Ordering::AcqRel) == 1 {
        let _ = shared.done_tx.send(true);
        if shared.until_done && finished {
            shared.bus.emit(
                "lab",
                EventKind::LoadChanged {
                    what: "every grabber is done".into(),
                },
            );
        }
    }
}
