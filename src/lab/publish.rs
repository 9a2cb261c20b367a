//! The snapshot publisher and the topology poll: the lab's background
//! tasks that turn samples, events and live roles into [`Snapshot`]s.

use crate::kinds::PerWorkload;
use crate::metrics::aggregate::Aggregator;
use crate::metrics::recorder::{SampleBatch, SampleSink};
use crate::metrics::{EventBus, LoadView, ShardOps, Snapshot, TopologyView};
use crate::topology::{Backend, Topology};
use crate::workload::engine::Engine;
use crate::workload::grabber::Workload;
use crate::workload::WorkloadKind;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, watch, Mutex};
use tokio_util::sync::CancellationToken;

use super::roles::RoleLog;
use super::{SNAPSHOT_EVENTS, TICK, TOPOLOGY_POLL};

/// Shared with the snapshot publisher.
pub(super) struct LoadState {
    /// Which workloads have run at some point of the run.
    pub(super) used: PerWorkload<AtomicBool>,
}

impl LoadState {
    pub(super) fn mark(&self, kind: WorkloadKind) {
        for k in kind.singles() {
            self.used[*k].store(true, Ordering::Relaxed);
        }
    }

    pub(super) fn used(&self) -> PerWorkload<bool> {
        self.used.map(|u| u.load(Ordering::Relaxed))
    }
}

/// Publishes the live topology every [`TOPOLOGY_POLL`] until cancelled, over
/// one [`Observer`](crate::topology::live::Observer) for the life of the lab:
/// its connections to the nodes are kept between polls, so polling adds no
/// connects to the nodes' stats while the cluster is steady.
///
/// Every poll is also recorded in `roles`, stamped with the bus's clock.
pub(super) async fn poll_topology(
    topology: Arc<Mutex<Topology>>,
    backend: Arc<dyn Backend>,
    tx: watch::Sender<TopologyView>,
    roles: RoleLog,
    clock: EventBus,
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
        roles.record(clock.now_ms(), &view);
        tx.send_replace(view);
        tokio::select! {
            _ = tokio::time::sleep(TOPOLOGY_POLL) => {}
            _ = cancel.cancelled() => return,
        }
    }
}

pub(super) struct Publisher {
    pub(super) samples: mpsc::UnboundedReceiver<SampleBatch>,
    pub(super) sink: SampleSink,
    pub(super) bus: EventBus,
    pub(super) engine: Arc<Engine>,
    pub(super) load: Arc<LoadState>,
    pub(super) topology: watch::Receiver<TopologyView>,
    pub(super) tx: watch::Sender<Arc<Snapshot>>,
    pub(super) base: Snapshot,
    pub(super) stop: CancellationToken,
    /// The client, for its cluster redirect counts.
    pub(super) pool: crate::client::MasterPool,
    pub(super) clock: super::clock::RunClock,
}

/// Each shard's answers per second since the `previous` snapshot.
fn shard_rates(mut now: Vec<ShardOps>, previous: &Snapshot, elapsed_ms: u64) -> Vec<ShardOps> {
    let dt_s = elapsed_ms.saturating_sub(previous.elapsed_ms) as f64 / 1000.0;
    for s in &mut now {
        let before = previous
            .shards
            .iter()
            .find(|p| p.shard == s.shard)
            .map_or(0, |p| p.replies);
        s.replies_per_s = if dt_s > 0.0 {
            s.replies.saturating_sub(before) as f64 / dt_s
        } else {
            0.0
        };
    }
    now
}

/// Merges samples and publishes a snapshot every [`TICK`]; returns the
/// aggregator (with every sample) when stopped, and the channel, for the
/// lab's last snapshot once the run is measured.
pub(super) async fn publish(mut p: Publisher) -> (Aggregator, watch::Sender<Arc<Snapshot>>) {
    let mut agg = Aggregator::new();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let stopping = tokio::select! {
            _ = tick.tick() => false,
            _ = p.stop.cancelled() => true,
        };
        // Read before the samples are drained: once it says stopped, every
        // sample of the load is in the channel, so this snapshot is final.
        let stopped = p.engine.stopped();
        p.sink.advance_tick();
        while let Ok(batch) = p.samples.try_recv() {
            agg.absorb(&batch);
        }
        agg.tick(&p.bus);
        let mut snap = p.base.clone();
        snap.elapsed_ms = p.bus.now_ms();
        let clock = p.clock.reading();
        snap.clock = crate::metrics::snapshot::ClockView {
            now_ms: clock.now.as_millis() as u64,
            paused: clock.paused,
            held: clock.held,
            held_step: clock.held_step,
        };
        snap.load = LoadView {
            workload: p.engine.workload(),
            grabbers: p.engine.grabbers(),
            paused: p.engine.paused(),
            done: p.engine.is_done(),
            stopped,
        };
        agg.fill_snapshot(&mut snap);
        let used = p.load.used();
        let w = p.engine.workloads();
        if used[WorkloadKind::Redpacket] {
            w.redpacket.fill_snapshot(&mut snap);
        }
        if used[WorkloadKind::Seckill] {
            w.seckill.fill_snapshot(&mut snap);
        }
        if used[WorkloadKind::Lock] {
            w.lock.fill_snapshot(&mut snap);
        }
        agg.fill_lock_timings(&mut snap);
        snap.topology = p.topology.borrow().clone();
        snap.redirects = p.pool.redirects();
        snap.shards = shard_rates(p.pool.shard_ops(), &p.tx.borrow(), snap.elapsed_ms);
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
    (agg, p.tx)
}
